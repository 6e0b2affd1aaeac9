#include "live/pipeline.hpp"

#include <mutex>

namespace dataflow::live {

analysis::Report analyze_with_probes(const sdmx::Catalog& catalog,
                                     const analysis::Categorizer& categorizer,
                                     const analysis::AnalysisOptions& options,
                                     std::size_t probe_count, const ProbeFn& probe) {
    if (probe_count == 0) {
        return analysis::analyze(catalog, categorizer, options);
    }
    // Rank without only_ready: nothing is known to be ready before the probes.
    auto ranking = options;
    ranking.only_ready = false;
    auto ranked = analysis::analyze(catalog, categorizer, ranking);
    auto results = probe(analysis::top_ids(ranked, probe_count));
    return analysis::analyze(catalog, categorizer, options, results);
}

std::shared_ptr<const analysis::Categorizer>
categorizer_for(const config::Config& config,
                std::shared_ptr<const analysis::RuleSet> rules_override) {
    static std::mutex mutex;
    static std::string cached_key;
    static std::shared_ptr<const analysis::Categorizer> cached;
    auto rules = rules_override ? std::move(rules_override) : config.rules();
    const auto& settings = config.settings().analysis;
    auto match = settings.match == config::MatchMode::word ? analysis::MatchMode::word
                                                           : analysis::MatchMode::substring;
    const auto& languages = settings.languages;
    std::string key = rules->fingerprint() + "|" + std::string(config::to_string(settings.match));
    for (const auto& language : languages) {
        key += "|" + language;
    }
    std::lock_guard lock(mutex);
    if (!cached || key != cached_key) {
        cached = std::make_shared<const analysis::Categorizer>(std::move(rules), match, languages);
        cached_key = std::move(key);
    }
    return cached;
}

} // namespace dataflow::live

#pragma once
/// The analysis pipeline after parsing: categorise every dataflow, filter, rank, cut to the
/// limit (shared across categories round-robin) and collect the report model the renderers print.

#include "analysis/categorizer.hpp"
#include "analysis/readiness.hpp"
#include "sdmx/catalog.hpp"
#include "sdmx/categories.hpp"

#include <cstddef>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace dataflow::analysis {

enum class SortKey { score, id, name, updated };

/// Where a dataflow's category comes from (`--classify`).
enum class ClassifySource {
    keywords, ///< the keyword rules (the reference behaviour)
    agency,   ///< the topic the rule set maps the agency's category to, else the keyword rules
};

struct AnalysisOptions {
    std::vector<std::string> categories; ///< empty = every category
    int min_score = 0;                   ///< keeps relevance_score >= min_score
    std::size_t limit = 100;             ///< total dataflows returned; 0 = no limit
    SortKey sort = SortKey::score;
    bool only_ready = false; ///< keep only dataflows whose probe found usable data
    /// Only dataflows whose id or display name contains this (case-insensitive); empty: all.
    std::string query;
    /// Only these dataflow ids; empty: all.
    std::vector<std::string> ids;
    ClassifySource classify = ClassifySource::keywords;
    /// The agency's categories of the catalogue's dataflows (sdmx::resolve_categorisations of
    /// the same catalogue), or nullptr: none given, and the report is exactly as without them.
    /// Must outlive the report.
    const sdmx::ResolvedCategories* agency_categories = nullptr;
    /// Threads analyze() may use: with 2, a catalogue of k_parallel_flows or more is
    /// categorised in two halves at once. The report is the same.
    unsigned threads = 1;
};

inline constexpr std::size_t k_parallel_flows = 1000;

struct AnalyzedFlow {
    const sdmx::Dataflow* flow = nullptr;
    std::string display_name;
    /// `category` is the one the dataflow is reported under: the keyword category, or with
    /// ClassifySource::agency the mapped agency topic when there is one. Score, keywords and
    /// confidence are always the keyword rules'.
    Categorization categorization;
    std::size_t document_index = 0;
    /// Its agency categories (into AnalysisOptions::agency_categories), nullptr when none were
    /// given.
    const std::vector<sdmx::AgencyCategory>* agency_categories = nullptr;
    /// The names of the top-level categories of those, in the analysis languages, distinct.
    std::vector<std::string> agency_top_names;
    bool category_from_agency = false; ///< categorization.category is the mapped agency topic
};

/// How far the keyword categories agree with the topics mapped from the agency's categories,
/// over every dataflow with a mapped agency topic (before filters and limit).
struct ClassificationAgreement {
    std::size_t compared = 0;
    std::size_t agreeing = 0;
    /// matrix[keyword category][agency topic], both indexes into Report::category_counts.
    std::vector<std::vector<std::size_t>> matrix;
    double rate() const {
        return compared == 0 ? 0.0 : static_cast<double>(agreeing) / static_cast<double>(compared);
    }
};

struct CategoryGroup {
    std::string category;
    std::size_t matching = 0; ///< dataflows of this category that passed the filters
    std::vector<AnalyzedFlow> flows;
};

struct TestResult {
    AnalyzedFlow flow;
    ProbeResult probe;
    Readiness readiness;
};

struct Report {
    std::string source_name;
    std::string source_format;
    std::size_t total_analyzed = 0;
    /// Every category of the rule set (fallback last) with its count over all parsed dataflows.
    std::vector<std::pair<std::string, std::size_t>> category_counts;
    /// The selected categories in rule order, each ranked and cut to its share of the limit.
    std::vector<CategoryGroup> groups;
    std::vector<TestResult> test_results;
    std::size_t tableau_ready_count = 0;
    std::size_t returned = 0;
    std::size_t categories_found = 0;
    std::size_t limit = 0;
    std::string analysis_timestamp; ///< UTC RFC 3339, set by the caller
    double analysis_duration_seconds = 0.0;
    bool cache_hit = false;                  ///< the catalogue came from the cache
    bool cache_stale = false;                ///< ... past its fresh TTL (upstream failed)
    std::optional<double> cache_age_seconds; ///< its age when served from the cache
    std::vector<std::string> warnings;
    /// The catalogue's category schemes when agency categories were given (the renderers then
    /// add agency_categories, category_source and the agreement), else nullptr.
    const std::vector<sdmx::CategoryScheme>* category_schemes = nullptr;
    std::size_t agency_categorised = 0; ///< dataflows with at least one agency category
    /// Present when agency categories were given and at least one dataflow has a mapped topic.
    std::optional<ClassificationAgreement> agreement;

    bool has_agency_categories() const { return category_schemes != nullptr; }
};

/// Probe results by dataflow id (from the upstream probe or a cache).
using ProbeResults = std::map<std::string, ProbeResult, std::less<>>;

/// Runs categorisation, filters and ranking. The report points into `catalog` (and into
/// options.agency_categories), which must outlive it. Unknown categories in options are a
/// UsageError listing the valid ones.
Report analyze(const sdmx::Catalog& catalog, const Categorizer& categorizer,
               const AnalysisOptions& options, const ProbeResults& probes = {});

/// "keywords" | "agency" (empty: keywords); nullopt for anything else.
std::optional<ClassifySource> parse_classify(std::string_view name);
std::string_view to_string(ClassifySource source);

/// "score" | "id" | "name" | "updated" (empty: score); nullopt for anything else.
std::optional<SortKey> parse_sort_key(std::string_view name);

/// Ids of the N best-scoring dataflows of a report, in that order (ties: category order, then
/// rank within the category) — the dataflows to probe first.
std::vector<std::string> top_ids(const Report& report, std::size_t n);

/// Throws UsageError naming the valid categories when one of `categories` is not in `rules`.
void check_categories(const RuleSet& rules, const std::vector<std::string>& categories);

/// Shares `limit` among groups of the given sizes by rank, round-robin (best of each group in
/// turn): no group is emptied unless limit < number of non-empty groups. limit 0 = no limit.
std::vector<std::size_t> share_limit(const std::vector<std::size_t>& sizes, std::size_t limit);

} // namespace dataflow::analysis

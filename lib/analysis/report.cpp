#include "analysis/report.hpp"

#include "analysis/agency.hpp"
#include "util/error.hpp"
#include "util/parallel.hpp"
#include "util/utf8.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <set>

namespace dataflow::analysis {

std::vector<std::size_t> share_limit(const std::vector<std::size_t>& sizes, std::size_t limit) {
    std::size_t total = 0;
    for (auto s : sizes) {
        total += s;
    }
    if (limit == 0 || total <= limit) {
        return sizes;
    }
    std::vector<std::size_t> take(sizes.size(), 0);
    std::size_t remaining = limit;
    while (remaining > 0) {
        for (std::size_t i = 0; i < sizes.size() && remaining > 0; ++i) {
            if (take[i] < sizes[i]) {
                ++take[i];
                --remaining;
            }
        }
    }
    return take;
}

namespace {

/// A dataflow that passed the filters, before its AnalyzedFlow is made: only the few the limit
/// keeps are made (a display name, agency names), after the sort.
struct Candidate {
    std::size_t index = 0; ///< in the catalogue
    Categorization categorization;
    bool from_agency = false;
};

void sort_candidates(std::vector<Candidate>& flows, SortKey key, const sdmx::Catalog& catalog,
                     const Categorizer& categorizer) {
    auto flow = [&catalog](const Candidate& c) -> const sdmx::Dataflow& {
        return catalog.dataflows[c.index];
    };
    switch (key) {
    case SortKey::score:
        std::stable_sort(flows.begin(), flows.end(), [](const auto& a, const auto& b) {
            return a.categorization.score > b.categorization.score;
        });
        break;
    case SortKey::id:
        std::stable_sort(flows.begin(), flows.end(),
                         [&flow](const auto& a, const auto& b) { return flow(a).id < flow(b).id; });
        break;
    case SortKey::name: {
        std::vector<std::pair<std::string, Candidate>> keyed;
        keyed.reserve(flows.size());
        for (auto& f : flows) {
            keyed.emplace_back(
                util::to_lower(std::string(sdmx::display_name(flow(f), categorizer.languages()))),
                std::move(f));
        }
        std::stable_sort(keyed.begin(), keyed.end(),
                         [](const auto& a, const auto& b) { return a.first < b.first; });
        for (std::size_t i = 0; i < flows.size(); ++i) {
            flows[i] = std::move(keyed[i].second);
        }
        break;
    }
    case SortKey::updated:
        // Newest first; dataflows without LAST_UPDATE last, in document order.
        std::stable_sort(flows.begin(), flows.end(), [&flow](const auto& a, const auto& b) {
            const auto& x = flow(a).last_update_ms;
            const auto& y = flow(b).last_update_ms;
            if (x && y) {
                return *x > *y;
            }
            return x.has_value() && !y.has_value();
        });
        break;
    }
}

} // namespace

void check_categories(const RuleSet& rules, const std::vector<std::string>& categories) {
    for (const auto& c : categories) {
        if (rules.category_index(c) != std::string_view::npos) {
            continue;
        }
        std::string valid;
        for (const auto& v : rules.categories()) {
            valid += (valid.empty() ? "" : ", ") + v;
        }
        throw UsageError(fmt::format("unknown category '{}'; valid categories: {}", c, valid));
    }
}

Report analyze(const sdmx::Catalog& catalog, const Categorizer& categorizer,
               const AnalysisOptions& options, const ProbeResults& probes) {
    const auto& rules = categorizer.rules();
    const auto& cats = rules.categories();
    check_categories(rules, options.categories);
    std::vector<char> selected(cats.size(), options.categories.empty() ? 1 : 0);
    for (const auto& c : options.categories) {
        selected[rules.category_index(c)] = 1;
    }

    Report report;
    report.total_analyzed = catalog.dataflows.size();
    report.limit = options.limit;
    report.warnings = catalog.warnings;
    std::vector<std::size_t> counts(cats.size(), 0);
    std::vector<std::vector<Candidate>> per(cats.size());
    std::string query = util::to_lower(options.query);
    std::set<std::string_view> ids(options.ids.begin(), options.ids.end());
    AgencyClassification agency(catalog, rules, options, categorizer.languages());
    // With two threads, each categorises half of a large catalogue first (Categorizer is
    // immutable); the loop below then reads their results in document order.
    const std::size_t n = catalog.dataflows.size();
    std::vector<Categorization> early;
    if (options.threads >= 2 && n >= k_parallel_flows) {
        early.resize(n);
        auto range = [&](std::size_t from, std::size_t to) {
            for (std::size_t i = from; i < to; ++i) {
                early[i] = categorizer.categorize(catalog.dataflows[i]);
            }
        };
        util::run_in_parallel([&](bool) { range(0, n / 2); }, [&] { range(n / 2, n); });
    }
    for (std::size_t i = 0; i < n; ++i) {
        const auto& flow = catalog.dataflows[i];
        auto cat = early.empty() ? categorizer.categorize(flow) : std::move(early[i]);
        bool from_agency = agency.classify(i, cat);
        ++counts[cat.category];
        if (!selected[cat.category] || cat.score < options.min_score) {
            continue;
        }
        if (!ids.empty() && ids.count(flow.id) == 0) {
            continue;
        }
        if (!query.empty() && util::to_lower(flow.id).find(query) == std::string::npos &&
            util::to_lower(sdmx::display_name(flow, categorizer.languages())).find(query) ==
                std::string::npos) {
            continue;
        }
        if (options.only_ready) {
            auto p = probes.find(flow.id);
            if (p == probes.end() || !p->second.is_successful()) {
                continue;
            }
        }
        auto idx = cat.category;
        per[idx].push_back(Candidate{i, std::move(cat), from_agency});
    }
    agency.finish(report);
    if (options.classify == ClassifySource::agency && !agency.active()) {
        report.warnings.emplace_back("--classify agency without agency categories (category "
                                     "schemes and categorisations): every dataflow keeps its "
                                     "keyword category");
    }
    for (std::size_t c = 0; c < cats.size(); ++c) {
        report.category_counts.emplace_back(cats[c], counts[c]);
    }

    std::vector<std::size_t> sizes;
    std::vector<std::size_t> which;
    for (std::size_t c = 0; c < cats.size(); ++c) {
        if (selected[c]) {
            sort_candidates(per[c], options.sort, catalog, categorizer);
            sizes.push_back(per[c].size());
            which.push_back(c);
        }
    }
    auto take = share_limit(sizes, options.limit);
    for (std::size_t k = 0; k < which.size(); ++k) {
        auto& flows = per[which[k]];
        CategoryGroup group{cats[which[k]], flows.size(), {}};
        group.flows.reserve(take[k]);
        for (std::size_t j = 0; j < take[k]; ++j) {
            Candidate& c = flows[j];
            AnalyzedFlow& analyzed = group.flows.emplace_back();
            analyzed.flow = &catalog.dataflows[c.index];
            analyzed.display_name =
                std::string(sdmx::display_name(*analyzed.flow, categorizer.languages()));
            analyzed.categorization = std::move(c.categorization);
            analyzed.document_index = c.index;
            analyzed.category_from_agency = c.from_agency;
            agency.describe(analyzed);
        }
        report.returned += group.flows.size();
        report.categories_found += group.flows.empty() ? 0 : 1;
        report.groups.push_back(std::move(group));
    }

    for (const auto& group : report.groups) {
        for (const auto& f : group.flows) {
            auto p = probes.find(f.flow->id);
            if (p == probes.end()) {
                continue;
            }
            TestResult t{f, p->second,
                         assess_readiness(group.category, f.categorization.score, p->second)};
            report.tableau_ready_count += t.readiness.tableau_ready ? 1 : 0;
            report.test_results.push_back(std::move(t));
        }
    }
    return report;
}

std::optional<ClassifySource> parse_classify(std::string_view name) {
    if (name.empty() || name == "keywords") {
        return ClassifySource::keywords;
    }
    if (name == "agency") {
        return ClassifySource::agency;
    }
    return std::nullopt;
}

std::string_view to_string(ClassifySource source) {
    return source == ClassifySource::agency ? "agency" : "keywords";
}

std::optional<SortKey> parse_sort_key(std::string_view name) {
    if (name.empty() || name == "score") {
        return SortKey::score;
    }
    if (name == "id") {
        return SortKey::id;
    }
    if (name == "name") {
        return SortKey::name;
    }
    if (name == "updated") {
        return SortKey::updated;
    }
    return std::nullopt;
}

std::vector<std::string> top_ids(const Report& report, std::size_t n) {
    // Groups are in category order and flows in rank order: a stable sort by score keeps
    // those as the tie-breaks.
    std::vector<std::pair<int, const std::string*>> all;
    for (const auto& g : report.groups) {
        for (const auto& f : g.flows) {
            all.emplace_back(f.categorization.score, &f.flow->id);
        }
    }
    std::stable_sort(all.begin(), all.end(),
                     [](const auto& a, const auto& b) { return a.first > b.first; });
    std::vector<std::string> out;
    for (std::size_t i = 0; i < all.size() && i < n; ++i) {
        out.push_back(*all[i].second);
    }
    return out;
}

} // namespace dataflow::analysis

#pragma once
/// The agency's own classification in the analysis: each dataflow's agency categories (resolved
/// by sdmx::resolve_categorisations), the topic the rule set maps them to, `--classify agency`,
/// and how far the keyword categories agree with those topics.

#include "analysis/report.hpp"
#include "analysis/rules.hpp"
#include "sdmx/catalog.hpp"
#include "sdmx/categories.hpp"

#include <cstddef>
#include <span>
#include <string>
#include <vector>

namespace dataflow::util {
class JsonWriter;
}

namespace dataflow::analysis {

/// A category's name in the first of `languages` that has one, else its first non-empty name,
/// else its id.
std::string category_display_name(const sdmx::Category& category,
                                  std::span<const std::string> languages);

/// The topic (index into rules.categories()) of a dataflow's agency categories: that of the
/// first categorisation whose path the rules map (the deepest mapped category on it); npos
/// when none maps.
std::size_t agency_topic_of(const RuleSet& rules, std::span<const sdmx::CategoryScheme> schemes,
                            std::span<const sdmx::AgencyCategory> categories);

/// What analyze() does with the agency categories, one dataflow at a time: inactive (every call
/// a no-op) when options.agency_categories is nullptr.
class AgencyClassification {
public:
    AgencyClassification(const sdmx::Catalog& catalog, const RuleSet& rules,
                         const AnalysisOptions& options, std::span<const std::string> languages);

    bool active() const { return m_resolved != nullptr; }
    /// Dataflow `index` (into catalog.dataflows) with its keyword categorisation: counted for
    /// the agreement, and with ClassifySource::agency moved to its mapped topic. True when it
    /// was moved.
    bool classify(std::size_t index, Categorization& categorization);
    /// Fills the agency fields of a dataflow that passed the filters.
    void describe(AnalyzedFlow& flow) const;
    /// Schemes, counts, agreement and the resolver's warnings into the report.
    void finish(Report& report) const;

private:
    const std::vector<sdmx::AgencyCategory>& of(std::size_t index) const;

    const sdmx::Catalog& m_catalog;
    const RuleSet& m_rules;
    const sdmx::ResolvedCategories* m_resolved;
    ClassifySource m_classify;
    std::span<const std::string> m_languages;
    std::size_t m_categorised = 0;
    ClassificationAgreement m_agreement;
};

/// `"agency_categories": [{"scheme", "path", "names", "path_names"}, ...]` of one dataflow
/// (the value only; `categories` nullptr writes []).
void write_agency_categories(util::JsonWriter& w, const std::vector<sdmx::CategoryScheme>& schemes,
                             const std::vector<sdmx::AgencyCategory>* categories);

/// The value of `classification_agreement`: {"compared", "agreeing", "rate", "matrix":
/// {keyword category: {agency topic: n}}} (rows and cells with a count only, in rule order).
void write_agreement(util::JsonWriter& w, const Report& report,
                     const ClassificationAgreement& agreement);

/// The summary's lines for the agreement: a heading with the rate, then a table with a row per
/// keyword category and a column per agency topic ("" when the report has no agreement).
std::string render_agreement(const Report& report);

} // namespace dataflow::analysis

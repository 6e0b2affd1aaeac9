#include "analysis/agency.hpp"

#include "analysis/render.hpp"
#include "util/json_writer.hpp"
#include "util/utf8.hpp"

#include <fmt/format.h>

#include <algorithm>

namespace dataflow::analysis {

std::string category_display_name(const sdmx::Category& category,
                                  std::span<const std::string> languages) {
    for (const auto& lang : languages) {
        for (const auto& n : category.names) {
            if (n.lang == lang && !n.text.empty()) {
                return n.text;
            }
        }
    }
    for (const auto& n : category.names) {
        if (!n.text.empty()) {
            return n.text;
        }
    }
    return category.id;
}

std::size_t agency_topic_of(const RuleSet& rules, std::span<const sdmx::CategoryScheme> schemes,
                            std::span<const sdmx::AgencyCategory> categories) {
    for (const auto& c : categories) {
        if (c.scheme >= schemes.size()) {
            continue;
        }
        const auto& scheme = schemes[c.scheme];
        auto topic = rules.agency_topic(scheme.agency_id, scheme.id, c.path);
        if (topic != std::string_view::npos) {
            return topic;
        }
    }
    return std::string_view::npos;
}

AgencyClassification::AgencyClassification(const sdmx::Catalog& catalog, const RuleSet& rules,
                                           const AnalysisOptions& options,
                                           std::span<const std::string> languages)
    : m_catalog(catalog), m_rules(rules), m_resolved(options.agency_categories),
      m_classify(options.classify), m_languages(languages) {
    auto n = rules.categories().size();
    m_agreement.matrix.assign(n, std::vector<std::size_t>(n, 0));
}

const std::vector<sdmx::AgencyCategory>& AgencyClassification::of(std::size_t index) const {
    static const std::vector<sdmx::AgencyCategory> none;
    return index < m_resolved->by_flow.size() ? m_resolved->by_flow[index] : none;
}

bool AgencyClassification::classify(std::size_t index, Categorization& categorization) {
    if (!active()) {
        return false;
    }
    const auto& categories = of(index);
    if (categories.empty()) {
        return false;
    }
    ++m_categorised;
    auto topic = agency_topic_of(m_rules, m_catalog.category_schemes, categories);
    if (topic == std::string_view::npos) {
        return false;
    }
    ++m_agreement.compared;
    m_agreement.agreeing += categorization.category == topic ? 1 : 0;
    ++m_agreement.matrix[categorization.category][topic];
    if (m_classify != ClassifySource::agency) {
        return false;
    }
    categorization.category = topic;
    return true;
}

void AgencyClassification::describe(AnalyzedFlow& flow) const {
    if (!active()) {
        return;
    }
    flow.agency_categories = &of(flow.document_index);
    for (const auto& c : *flow.agency_categories) {
        if (c.nodes.empty() || c.nodes.front() == nullptr) {
            continue;
        }
        auto name = category_display_name(*c.nodes.front(), m_languages);
        if (std::find(flow.agency_top_names.begin(), flow.agency_top_names.end(), name) ==
            flow.agency_top_names.end()) {
            flow.agency_top_names.push_back(std::move(name));
        }
    }
}

void AgencyClassification::finish(Report& report) const {
    if (!active()) {
        return;
    }
    report.category_schemes = &m_catalog.category_schemes;
    report.agency_categorised = m_categorised;
    if (m_agreement.compared > 0) {
        report.agreement = m_agreement;
    }
    report.warnings.insert(report.warnings.end(), m_resolved->warnings.begin(),
                           m_resolved->warnings.end());
}

void write_agency_categories(util::JsonWriter& w, const std::vector<sdmx::CategoryScheme>& schemes,
                             const std::vector<sdmx::AgencyCategory>* categories) {
    w.begin_array();
    if (categories != nullptr) {
        for (const auto& c : *categories) {
            w.begin_object();
            w.field("scheme", c.scheme < schemes.size() ? schemes[c.scheme].label() : "");
            w.key("path").begin_array();
            for (const auto& id : c.path) {
                w.value(id);
            }
            w.end_array();
            static const std::vector<sdmx::LocalizedText> no_names;
            const sdmx::Category* last = c.nodes.empty() ? nullptr : c.nodes.back();
            w.key("names");
            write_localized_texts(w, last != nullptr ? last->names : no_names);
            w.key("path_names").begin_array();
            for (const auto* node : c.nodes) {
                write_localized_texts(w, node != nullptr ? node->names : no_names);
            }
            w.end_array();
            w.end_object();
        }
    }
    w.end_array();
}

void write_agreement(util::JsonWriter& w, const Report& report,
                     const ClassificationAgreement& agreement) {
    w.begin_object();
    w.field("compared", agreement.compared);
    w.field("agreeing", agreement.agreeing);
    w.field("rate", agreement.rate());
    w.key("matrix").begin_object();
    for (std::size_t k = 0; k < agreement.matrix.size(); ++k) {
        const auto& row = agreement.matrix[k];
        if (std::all_of(row.begin(), row.end(), [](auto n) { return n == 0; })) {
            continue;
        }
        w.key(report.category_counts[k].first).begin_object();
        for (std::size_t a = 0; a < row.size(); ++a) {
            if (row[a] > 0) {
                w.field(report.category_counts[a].first, row[a]);
            }
        }
        w.end_object();
    }
    w.end_object();
    w.end_object();
}

std::string render_agreement(const Report& report) {
    if (!report.agreement) {
        return {};
    }
    const auto& a = *report.agreement;
    std::vector<std::size_t> rows;
    std::vector<std::size_t> cols;
    for (std::size_t i = 0; i < a.matrix.size(); ++i) {
        bool row = false;
        bool col = false;
        for (std::size_t j = 0; j < a.matrix.size(); ++j) {
            row = row || a.matrix[i][j] > 0;
            col = col || a.matrix[j][i] > 0;
        }
        if (row) {
            rows.push_back(i);
        }
        if (col) {
            cols.push_back(i);
        }
    }
    auto name = [&](std::size_t i) -> std::string_view { return report.category_counts[i].first; };
    const std::string corner = "keywords \\ agency";
    std::size_t w_first = corner.size();
    for (auto r : rows) {
        w_first = std::max(w_first, util::display_width(name(r)));
    }
    auto pad = [](std::string_view s, std::size_t width, bool left) {
        auto w = util::display_width(s);
        std::string fill(w < width ? width - w : 0, ' ');
        return left ? fill + std::string(s) : std::string(s) + fill;
    };
    std::string out = fmt::format("Classification agreement (keyword category vs agency topic): "
                                  "{} of {} agree ({:.1f}%)\n",
                                  a.agreeing, a.compared, 100.0 * a.rate());
    // Columns at least 5 wide: counts up to 99999 stay aligned under short topic names.
    auto width_of = [&](std::size_t c) {
        return std::max<std::size_t>(util::display_width(name(c)), 5);
    };
    out += fmt::format("  {}", pad(corner, w_first, false));
    for (auto c : cols) {
        out += fmt::format("  {}", pad(name(c), width_of(c), true));
    }
    out += '\n';
    for (auto r : rows) {
        out += fmt::format("  {}", pad(name(r), w_first, false));
        for (auto c : cols) {
            out += fmt::format("  {}", pad(std::to_string(a.matrix[r][c]), width_of(c), true));
        }
        out += '\n';
    }
    return out;
}

} // namespace dataflow::analysis

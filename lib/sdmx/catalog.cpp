#include "sdmx/catalog.hpp"

#include "util/parallel.hpp"
#include "util/strings.hpp"
#include "util/time.hpp"

namespace dataflow::sdmx {

const std::string* reference_name_it(const Dataflow& flow) {
    const std::string* tagged = nullptr;
    const std::string* untagged = nullptr;
    for (const auto& n : flow.names) {
        if (n.lang == "it") {
            tagged = &n.text;
        } else if (n.lang.empty() && untagged == nullptr) {
            untagged = &n.text;
        }
    }
    const std::string* r = tagged ? tagged : untagged;
    return r && !r->empty() ? r : nullptr;
}

const std::string* reference_name_en(const Dataflow& flow) {
    const std::string* r = nullptr;
    for (const auto& n : flow.names) {
        if (n.lang == "en") {
            r = &n.text;
        }
    }
    return r && !r->empty() ? r : nullptr;
}

std::string_view display_name(const Dataflow& flow, std::span<const std::string> languages) {
    for (const auto& lang : languages) {
        for (const auto& n : flow.names) {
            if (n.lang == lang && !n.text.empty()) {
                return n.text;
            }
        }
    }
    for (const auto& n : flow.names) {
        if (!n.text.empty()) {
            return n.text;
        }
    }
    return flow.id;
}

std::string_view first_description(const Dataflow& flow) {
    return flow.descriptions.empty() ? std::string_view{} : flow.descriptions.front().text;
}

namespace {

bool is(const Annotation& a, std::string_view name) {
    return a.type == name || a.id == name;
}

std::string_view value_of(const Annotation& a) {
    auto title = util::trim(a.title);
    if (!title.empty()) {
        return title;
    }
    for (const auto& t : a.texts) {
        auto v = util::trim(t.text);
        if (!v.empty()) {
            return v;
        }
    }
    return {};
}

bool flag_value(const Annotation& a) {
    auto v = value_of(a);
    // Present means set, unless the agency explicitly says false.
    return !(v == "false" || v == "False" || v == "FALSE" || v == "0");
}

std::optional<std::string> derive_flow_facts(Dataflow& flow, util::DateOrder order) {
    std::optional<std::string> warning;
    for (const auto& a : flow.annotations) {
        if (is(a, "LAST_UPDATE")) {
            auto v = value_of(a);
            if (auto t = util::parse_timestamp(v, order)) {
                flow.last_update = util::format_rfc3339(*t);
                flow.last_update_ms = t->time_since_epoch().count();
            } else if (!v.empty()) {
                warning = "dataflow " + flow.id + ": LAST_UPDATE '" + std::string(v) +
                          "' is not a timestamp; last_update left empty";
            }
        } else if (is(a, "NonProductionDataflow")) {
            flow.non_production = flag_value(a);
        } else if (is(a, "DATAFLOW_CATALOG_TYPE")) {
            flow.file_only = value_of(a) == "ONLY_FILE";
        } else if (is(a, "DATAFLOW_HIDDEN")) {
            flow.hidden = flag_value(a);
        }
    }
    return warning;
}

} // namespace

bool is_fact_annotation(std::string_view id_or_type) {
    // The names derive_flow_facts() tests, and no others.
    return id_or_type == "LAST_UPDATE" || id_or_type == "NonProductionDataflow" ||
           id_or_type == "DATAFLOW_CATALOG_TYPE" || id_or_type == "DATAFLOW_HIDDEN";
}

DateEvidence date_evidence(std::span<const Dataflow> flows) {
    std::vector<std::string_view> dates;
    for (const auto& flow : flows) {
        for (const auto& a : flow.annotations) {
            if (is(a, "LAST_UPDATE")) {
                dates.push_back(value_of(a));
            }
        }
    }
    return util::date_evidence(dates);
}

std::vector<std::string> derive_facts(std::span<Dataflow> flows, util::DateOrder order) {
    std::vector<std::string> warnings;
    for (auto& flow : flows) {
        flow.last_update.reset();
        flow.last_update_ms.reset();
        flow.non_production = false;
        flow.file_only = false;
        flow.hidden = false;
        if (auto w = derive_flow_facts(flow, order)) {
            warnings.push_back(std::move(*w));
        }
    }
    return warnings;
}

void derive_annotation_facts(Catalog& catalog, unsigned threads) {
    auto order = date_evidence(catalog.dataflows).order();
    std::span<Dataflow> flows(catalog.dataflows);
    std::vector<std::string> warnings;
    if (threads >= 2 && flows.size() >= k_parallel_facts) {
        const std::size_t half = flows.size() / 2;
        std::vector<std::string> second;
        util::run_in_parallel([&](bool) { warnings = derive_facts(flows.first(half), order); },
                              [&] { second = derive_facts(flows.subspan(half), order); });
        std::move(second.begin(), second.end(), std::back_inserter(warnings));
    } else {
        warnings = derive_facts(flows, order);
    }
    std::move(warnings.begin(), warnings.end(), std::back_inserter(catalog.warnings));
}

bool parse_structure_urn(std::string_view urn, StructureRef& out) {
    auto eq = urn.rfind('=');
    if (eq == std::string_view::npos) {
        return false;
    }
    auto rest = urn.substr(eq + 1);
    auto colon = rest.find(':');
    auto open = rest.find('(');
    if (colon == std::string_view::npos || open == std::string_view::npos || open < colon ||
        rest.back() != ')') {
        return false;
    }
    out.agency_id = std::string(rest.substr(0, colon));
    out.id = std::string(rest.substr(colon + 1, open - colon - 1));
    out.version = std::string(rest.substr(open + 1, rest.size() - open - 2));
    return !out.id.empty();
}

} // namespace dataflow::sdmx

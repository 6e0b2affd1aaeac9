#include "analysis/diff.hpp"

#include "analysis/render.hpp"
#include "analysis/report.hpp"
#include "sdmx/categories.hpp"
#include "util/strings.hpp"
#include "util/utf8.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <functional>
#include <string_view>
#include <unordered_map>

namespace dataflow::analysis {

namespace {

/// A dataflow's identity in a catalogue: views into the catalogue, which outlives the map.
struct FlowKey {
    std::string_view agency;
    std::string_view id;
    bool operator==(const FlowKey&) const = default;
};

struct FlowKeyHash {
    std::size_t operator()(const FlowKey& k) const noexcept {
        std::size_t h = std::hash<std::string_view>{}(k.agency);
        return h ^
               (std::hash<std::string_view>{}(k.id) + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2));
    }
};

using FlowIndex = std::unordered_map<FlowKey, std::size_t, FlowKeyHash>;

/// The first occurrence of each (agency, id), in document order, and where each is.
struct Distinct {
    std::vector<std::size_t> order;
    FlowIndex index;
};

Distinct distinct_flows(const sdmx::Catalog& catalog) {
    Distinct d;
    d.order.reserve(catalog.dataflows.size());
    d.index.reserve(catalog.dataflows.size());
    for (std::size_t i = 0; i < catalog.dataflows.size(); ++i) {
        const auto& f = catalog.dataflows[i];
        if (d.index.try_emplace(FlowKey{f.agency_id, f.id}, i).second) {
            d.order.push_back(i);
        }
    }
    return d;
}

std::string_view bool_text(bool b) {
    return b ? "true" : "false";
}

std::string structure_text(const sdmx::StructureRef& s) {
    if (!s.id.empty()) {
        return fmt::format("{}:{}({})", s.agency_id, s.id, s.version);
    }
    return s.urn;
}

std::string_view final_text(const std::optional<bool>& f) {
    return f ? bool_text(*f) : std::string_view();
}

/// The first text of `lang` ("" for a text without xml:lang), or nullptr.
const std::string* text_in(const std::vector<sdmx::LocalizedText>& texts, std::string_view lang) {
    for (const auto& t : texts) {
        if (t.lang == lang) {
            return &t.text;
        }
    }
    return nullptr;
}

bool same_collapsed(std::string_view a, std::string_view b) {
    return a == b || util::collapse_ws(a) == util::collapse_ws(b);
}

/// `prefix.<lang>` changes for every language on either side (old side's order, then the
/// languages only the new side has); a text without xml:lang is "und".
void text_changes(std::string_view prefix, const std::vector<sdmx::LocalizedText>& before,
                  const std::vector<sdmx::LocalizedText>& after, std::vector<FieldChange>& out) {
    auto compare = [&](std::string_view lang) {
        const std::string* a = text_in(before, lang);
        const std::string* b = text_in(after, lang);
        std::string_view x = a ? std::string_view(*a) : std::string_view();
        std::string_view y = b ? std::string_view(*b) : std::string_view();
        if (!same_collapsed(x, y)) {
            out.push_back({fmt::format("{}.{}", prefix, lang.empty() ? "und" : lang),
                           std::string(x), std::string(y)});
        }
    };
    for (std::size_t i = 0; i < before.size(); ++i) {
        if (text_in(before, before[i].lang) == &before[i].text) { // first of its language
            compare(before[i].lang);
        }
    }
    for (std::size_t i = 0; i < after.size(); ++i) {
        if (text_in(after, after[i].lang) == &after[i].text &&
            text_in(before, after[i].lang) == nullptr) {
            compare(after[i].lang);
        }
    }
}

void add_if_differs(std::vector<FieldChange>& out, std::string_view field, std::string_view a,
                    std::string_view b) {
    if (a != b) {
        out.push_back({std::string(field), std::string(a), std::string(b)});
    }
}

/// Every field change but the category's, in FieldChange's order.
std::vector<FieldChange> field_changes(const sdmx::Dataflow& a, const sdmx::Dataflow& b) {
    std::vector<FieldChange> out;
    add_if_differs(out, "version", a.version, b.version);
    text_changes("name", a.names, b.names, out);
    text_changes("description", a.descriptions, b.descriptions, out);
    add_if_differs(out, "structure", structure_text(a.structure), structure_text(b.structure));
    add_if_differs(out, "is_final", final_text(a.is_final), final_text(b.is_final));
    add_if_differs(out, "last_update", a.last_update.value_or(""), b.last_update.value_or(""));
    add_if_differs(out, "non_production", bool_text(a.non_production), bool_text(b.non_production));
    add_if_differs(out, "hidden", bool_text(a.hidden), bool_text(b.hidden));
    add_if_differs(out, "file_only", bool_text(a.file_only), bool_text(b.file_only));
    return out;
}

bool same_texts(const std::vector<sdmx::LocalizedText>& a,
                const std::vector<sdmx::LocalizedText>& b) {
    return std::equal(a.begin(), a.end(), b.begin(), b.end(), [](const auto& x, const auto& y) {
        return x.lang == y.lang && x.text == y.text;
    });
}

class Differ {
public:
    Differ(const Categorizer& categorizer, const DiffOptions& options)
        : m_categorizer(categorizer), m_options(options),
          m_selected(categorizer.rules().categories().size(), options.categories.empty() ? 1 : 0) {
        check_categories(categorizer.rules(), options.categories);
        for (const auto& c : options.categories) {
            m_selected[categorizer.rules().category_index(c)] = 1;
        }
    }

    bool passes(const Categorization& c) const {
        return m_selected[c.category] != 0 && c.score >= m_options.min_score;
    }
    const std::string& category_name(const Categorization& c) const {
        return m_categorizer.rules().categories()[c.category];
    }
    Categorization categorize(const sdmx::Dataflow& f) const { return m_categorizer.categorize(f); }

    DiffFlow flow(const sdmx::Dataflow& f, const Categorization& c) const {
        return {f.agency_id, f.id, f.version, name_of(f), category_name(c), c.score};
    }
    std::string name_of(const sdmx::Dataflow& f) const {
        return std::string(sdmx::display_name(f, m_options.languages));
    }

    /// The change of a dataflow on both sides, or nullopt when it is unchanged.
    /// `reported` says whether the filters keep it.
    std::optional<ChangedFlow> compare(const sdmx::Dataflow& a, const sdmx::Dataflow& b,
                                       bool& reported, const FieldChange* agency = nullptr) const {
        auto changes = field_changes(a, b);
        if (agency != nullptr) {
            changes.push_back(*agency);
        }
        // The categoriser reads only names and descriptions: identical texts, same category.
        bool texts_same =
            same_texts(a.names, b.names) && same_texts(a.descriptions, b.descriptions);
        if (changes.empty() && texts_same) {
            return std::nullopt;
        }
        auto cb = categorize(b);
        auto ca = texts_same ? cb : categorize(a);
        if (ca.category != cb.category) {
            changes.push_back({"category", category_name(ca), category_name(cb)});
        }
        if (changes.empty()) {
            return std::nullopt;
        }
        reported = passes(ca) || passes(cb);
        return ChangedFlow{b.agency_id,       b.id,     name_of(b),
                           category_name(cb), cb.score, std::move(changes)};
    }

private:
    const Categorizer& m_categorizer;
    const DiffOptions& m_options;
    std::vector<char> m_selected;
};

} // namespace

namespace {

/// Each dataflow's agency categories as text ("IT1:ISTAT_DW(1.0)/101/102; …", sorted), when the
/// catalogue has categorisations; empty strings otherwise.
std::vector<std::string> agency_texts(const sdmx::Catalog& catalog) {
    std::vector<std::string> out(catalog.dataflows.size());
    if (catalog.categorisations.empty()) {
        return out;
    }
    auto resolved = sdmx::resolve_categorisations(catalog);
    for (std::size_t i = 0; i < resolved.by_flow.size() && i < out.size(); ++i) {
        std::vector<std::string> paths;
        for (const auto& c : resolved.by_flow[i]) {
            auto text = catalog.category_schemes[c.scheme].label();
            for (const auto& p : c.path) {
                text += "/" + p;
            }
            paths.push_back(std::move(text));
        }
        std::sort(paths.begin(), paths.end());
        for (const auto& p : paths) {
            out[i] += (out[i].empty() ? "" : "; ") + p;
        }
    }
    return out;
}

} // namespace

CatalogDiff diff_catalogs(const sdmx::Catalog& old_catalog, const sdmx::Catalog& new_catalog,
                          const Categorizer& categorizer, const DiffOptions& options) {
    Differ differ(categorizer, options);
    // The agency's categories are compared when both sides carry categorisations.
    bool agency = !old_catalog.categorisations.empty() && !new_catalog.categorisations.empty();
    auto old_agency = agency ? agency_texts(old_catalog) : std::vector<std::string>{};
    auto new_agency = agency ? agency_texts(new_catalog) : std::vector<std::string>{};
    auto before = distinct_flows(old_catalog);
    auto after = distinct_flows(new_catalog);
    CatalogDiff diff;
    diff.old_side.prepared = old_catalog.prepared;
    diff.old_side.total = before.order.size();
    diff.new_side.prepared = new_catalog.prepared;
    diff.new_side.total = after.order.size();

    std::vector<char> matched(old_catalog.dataflows.size(), 0);
    for (auto i : after.order) {
        const auto& b = new_catalog.dataflows[i];
        auto found = before.index.find(FlowKey{b.agency_id, b.id});
        if (found == before.index.end()) {
            if (auto c = differ.categorize(b); differ.passes(c)) {
                diff.added.push_back(differ.flow(b, c));
            }
            continue;
        }
        matched[found->second] = 1;
        bool reported = false;
        std::optional<FieldChange> agency_change;
        if (agency && old_agency[found->second] != new_agency[i]) {
            agency_change =
                FieldChange{"agency_categories", old_agency[found->second], new_agency[i]};
        }
        auto changed = differ.compare(old_catalog.dataflows[found->second], b, reported,
                                      agency_change ? &*agency_change : nullptr);
        if (!changed) {
            ++diff.unchanged;
        } else if (reported) {
            diff.changed.push_back(std::move(*changed));
        }
    }
    for (auto i : before.order) {
        if (matched[i] == 0) {
            const auto& a = old_catalog.dataflows[i];
            if (auto c = differ.categorize(a); differ.passes(c)) {
                diff.removed.push_back(differ.flow(a, c));
            }
        }
    }
    return diff;
}

namespace {

using util::JsonWriter;

void write_flow(JsonWriter& w, const DiffFlow& f) {
    w.begin_object();
    w.field("agency", f.agency);
    w.field("id", f.id);
    w.field("version", f.version);
    w.field("name", f.name);
    w.field("category", f.category);
    w.field("score", f.score);
    w.end_object();
}

void write_side(JsonWriter& w, std::string_view key, const DiffSide& side) {
    w.key(key).begin_object();
    w.field("source", side.source);
    w.field("prepared", side.prepared);
    w.field("total", side.total);
    w.end_object();
}

} // namespace

void write_diff_entries(JsonWriter& w, const CatalogDiff& diff) {
    w.key("added").begin_array();
    for (const auto& f : diff.added) {
        write_flow(w, f);
    }
    w.end_array();
    w.key("removed").begin_array();
    for (const auto& f : diff.removed) {
        write_flow(w, f);
    }
    w.end_array();
    w.key("changed").begin_array();
    for (const auto& c : diff.changed) {
        w.begin_object();
        w.field("agency", c.agency);
        w.field("id", c.id);
        w.field("name", c.name);
        w.field("category", c.category);
        w.field("score", c.score);
        w.key("changes").begin_array();
        for (const auto& f : c.changes) {
            w.begin_object();
            w.field("field", f.field);
            w.field("old", f.old_value);
            w.field("new", f.new_value);
            w.end_object();
        }
        w.end_array();
        w.end_object();
    }
    w.end_array();
}

std::string render_diff_json(const CatalogDiff& diff) {
    std::string out;
    out.reserve(1024 + (diff.added.size() + diff.removed.size()) * 200 + diff.changed.size() * 400);
    JsonWriter w(out, 2);
    w.begin_object();
    write_side(w, "old", diff.old_side);
    write_side(w, "new", diff.new_side);
    w.key("summary").begin_object();
    w.field("added", diff.added.size());
    w.field("removed", diff.removed.size());
    w.field("changed", diff.changed.size());
    w.field("unchanged", diff.unchanged);
    w.end_object();
    write_diff_entries(w, diff);
    w.end_object();
    out += '\n';
    return out;
}

namespace {

void csv_row(std::string& out, std::initializer_list<std::string_view> fields) {
    bool first = true;
    for (auto f : fields) {
        if (!first) {
            out += ',';
        }
        first = false;
        append_csv_field(out, f);
    }
    out += "\r\n";
}

} // namespace

std::string render_diff_csv(const CatalogDiff& diff) {
    std::string out = "kind,agency,id,field,old,new,name,category\r\n";
    for (const auto& f : diff.added) {
        csv_row(out, {"added", f.agency, f.id, "version", "", f.version, f.name, f.category});
    }
    for (const auto& f : diff.removed) {
        csv_row(out, {"removed", f.agency, f.id, "version", f.version, "", f.name, f.category});
    }
    for (const auto& c : diff.changed) {
        for (const auto& f : c.changes) {
            csv_row(out, {"changed", c.agency, c.id, f.field, f.old_value, f.new_value, c.name,
                          c.category});
        }
    }
    return out;
}

namespace {

/// "version 12, name 3, category 2": how many changed dataflows have each kind of change, in
/// FieldChange's order (name.* and description.* counted as name and description).
std::string change_kinds(const CatalogDiff& diff) {
    static constexpr std::string_view kinds[] = {
        "version",        "name",   "description", "structure",         "is_final", "last_update",
        "non_production", "hidden", "file_only",   "agency_categories", "category"};
    std::size_t counts[std::size(kinds)] = {};
    for (const auto& c : diff.changed) {
        std::size_t last = std::size(kinds);
        for (const auto& f : c.changes) {
            auto kind = std::string_view(f.field).substr(0, f.field.find('.'));
            auto k = static_cast<std::size_t>(std::find(std::begin(kinds), std::end(kinds), kind) -
                                              std::begin(kinds));
            if (k < std::size(kinds) && k != last) {
                ++counts[k];
                last = k;
            }
        }
    }
    std::string out;
    for (std::size_t k = 0; k < std::size(kinds); ++k) {
        if (counts[k] > 0) {
            out += fmt::format("{}{} {}", out.empty() ? "" : ", ", kinds[k], counts[k]);
        }
    }
    return out;
}

std::string side_line(const DiffSide& side) {
    return fmt::format("{} ({} dataflows{})", util::printable(side.source), side.total,
                       side.prepared.empty()
                           ? std::string()
                           : fmt::format(", prepared {}", util::printable(side.prepared)));
}

} // namespace

std::string render_diff_summary(const CatalogDiff& diff) {
    auto kinds = change_kinds(diff);
    return fmt::format("=== SDMX Catalogue Diff ===\nOld: {}\nNew: {}\nAdded: {}\nRemoved: {}\n"
                       "Changed: {}{}\nUnchanged: {}\n=== End Diff ===\n",
                       side_line(diff.old_side), side_line(diff.new_side), diff.added.size(),
                       diff.removed.size(), diff.changed.size(),
                       kinds.empty() ? std::string() : " (" + kinds + ")", diff.unchanged);
}

namespace {

constexpr const char* k_green = "\x1b[32m";
constexpr const char* k_red = "\x1b[31m";
constexpr const char* k_yellow = "\x1b[33m";
constexpr const char* k_reset = "\x1b[0m";
constexpr const char* k_bold = "\x1b[1m";
constexpr const char* k_dim = "\x1b[2m";

/// One line, no control characters from the input (escape sequences) on the terminal.
std::string single_line(std::string_view text) {
    return util::collapse_ws(util::printable(text));
}

std::string pad_right(std::string_view s, std::size_t width) {
    std::string out(s);
    auto w = util::display_width(s);
    if (w < width) {
        out.append(width - w, ' ');
    }
    return out;
}

class DiffTable {
public:
    DiffTable(const CatalogDiff& diff, const DiffTableOptions& options)
        : m_diff(diff), m_options(options) {
        auto widen = [](std::size_t& w, std::string_view s) {
            w = std::max(w, util::display_width(s));
        };
        for (const auto* list : {&diff.added, &diff.removed}) {
            for (const auto& f : *list) {
                widen(m_agency, f.agency);
                widen(m_id, id_cell(f.id));
                widen(m_version, f.version);
                widen(m_category, f.category);
            }
        }
        for (const auto& c : diff.changed) {
            widen(m_agency, c.agency);
            widen(m_id, id_cell(c.id));
            for (const auto& f : c.changes) {
                widen(m_field, f.field);
            }
        }
    }

    std::string render() {
        section("Added", k_green, '+', m_diff.added);
        section("Removed", k_red, '-', m_diff.removed);
        changed();
        const auto& d = m_diff;
        m_out += fmt::format("{}{} -> {} dataflows: {} added, {} removed, {} changed, {} "
                             "unchanged.\nOld: {}\nNew: {}\n",
                             m_out.empty() ? "" : "\n", d.old_side.total, d.new_side.total,
                             d.added.size(), d.removed.size(), d.changed.size(), d.unchanged,
                             side_line(d.old_side), side_line(d.new_side));
        return std::move(m_out);
    }

private:
    static std::string id_cell(std::string_view id) {
        return util::truncate_to_width(single_line(id), 40);
    }
    std::string paint(std::string_view text, const char* colour) const {
        if (!m_options.color) {
            return std::string(text);
        }
        return std::string(colour) + std::string(text) + k_reset;
    }
    std::size_t rest(std::size_t used) const {
        return m_options.width > used + 12 ? m_options.width - used : 12;
    }
    void heading(std::string_view title, const char* colour, std::size_t n) {
        auto text = fmt::format("{} ({})", title, n);
        m_out += m_options.color ? std::string(k_bold) + colour + text + k_reset : text;
        m_out += '\n';
    }

    void section(std::string_view title, const char* colour, char mark,
                 const std::vector<DiffFlow>& flows) {
        if (flows.empty()) {
            return;
        }
        heading(title, colour, flows.size());
        std::size_t used = 5 + m_agency + 2 + m_id + 2 + m_version + 2 + m_category + 2;
        for (const auto& f : flows) {
            auto category = pad_right(f.category, m_category);
            m_out += fmt::format(
                "  {}  {}  {}  {}  {}  {}\n", paint(std::string(1, mark), colour),
                pad_right(single_line(f.agency), m_agency), pad_right(id_cell(f.id), m_id),
                pad_right(single_line(f.version), m_version),
                f.category == k_fallback_category ? paint(category, k_dim) : category,
                util::truncate_to_width(single_line(f.name), rest(used)));
        }
    }

    std::string value_cell(const std::string& v, std::size_t width) const {
        if (v.empty()) {
            return paint("(none)", k_dim);
        }
        return util::truncate_to_width(single_line(v), width);
    }

    void changed() {
        if (m_diff.changed.empty()) {
            return;
        }
        heading("Changed", k_yellow, m_diff.changed.size());
        std::size_t used = 5 + m_agency + 2 + m_id + 2;
        std::size_t indent = 7;
        // Each value gets half of what the field name leaves.
        std::size_t value_width = std::max<std::size_t>(rest(indent + m_field + 2 + 4) / 2, 12);
        for (const auto& c : m_diff.changed) {
            m_out += fmt::format("  {}  {}  {}  {}\n", paint("~", k_yellow),
                                 pad_right(single_line(c.agency), m_agency),
                                 pad_right(id_cell(c.id), m_id),
                                 util::truncate_to_width(single_line(c.name), rest(used)));
            for (const auto& f : c.changes) {
                m_out += fmt::format("{}{}  {} -> {}\n", std::string(indent, ' '),
                                     pad_right(f.field, m_field),
                                     paint(value_cell(f.old_value, value_width), k_red),
                                     paint(value_cell(f.new_value, value_width), k_green));
            }
        }
    }

    const CatalogDiff& m_diff;
    const DiffTableOptions& m_options;
    std::string m_out;
    std::size_t m_agency = 0;
    std::size_t m_id = 0;
    std::size_t m_version = 0;
    std::size_t m_category = 0;
    std::size_t m_field = 0;
};

} // namespace

std::string render_diff_table(const CatalogDiff& diff, const DiffTableOptions& options) {
    return DiffTable(diff, options).render();
}

} // namespace dataflow::analysis

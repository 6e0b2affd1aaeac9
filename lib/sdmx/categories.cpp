// Categorisations resolved against the catalogue's dataflows and category schemes, and several
// messages merged into one catalogue. Everything here is hash lookups: the 5k-dataflow catalogue
// with 5k categorisations resolves in linear time.

#include "sdmx/categories.hpp"

#include "util/error.hpp"
#include "util/strings.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <functional>
#include <limits>
#include <unordered_map>
#include <unordered_set>
#include <utility>

namespace dataflow::sdmx {

std::string CategoryScheme::label() const {
    return version.empty() ? fmt::format("{}:{}", agency_id, id)
                           : fmt::format("{}:{}({})", agency_id, id, version);
}

bool parse_dataflow_urn(std::string_view urn, Categorisation& out) {
    StructureRef ref;
    if (!parse_structure_urn(util::trim(urn), ref)) {
        return false;
    }
    out.flow_id = std::move(ref.id);
    out.flow_agency = std::move(ref.agency_id);
    out.flow_version = std::move(ref.version);
    return true;
}

bool parse_category_urn(std::string_view urn, Categorisation& out) {
    urn = util::trim(urn);
    auto eq = urn.find('=');
    if (eq == std::string_view::npos) {
        return false;
    }
    auto rest = urn.substr(eq + 1);
    auto colon = rest.find(':');
    auto open = colon == std::string_view::npos ? colon : rest.find('(', colon);
    auto close = open == std::string_view::npos ? open : rest.find(')', open);
    if (close == std::string_view::npos || close + 2 >= rest.size() || rest[close + 1] != '.' ||
        colon == 0 || open == colon + 1) {
        return false;
    }
    out.scheme_agency = std::string(rest.substr(0, colon));
    out.scheme_id = std::string(rest.substr(colon + 1, open - colon - 1));
    out.scheme_version = std::string(rest.substr(open + 1, close - open - 1));
    out.category = std::string(rest.substr(close + 2));
    return true;
}

namespace {

/// A resolved path is copied into every categorisation of it: bounded, so a deep scheme with
/// long ids cannot multiply a small input into gigabytes.
constexpr std::size_t k_max_path_bytes = 4096;
constexpr std::size_t k_max_warnings = 100;
constexpr std::size_t k_none = std::numeric_limits<std::size_t>::max();

/// A reference's version that matches any version: none, a wildcard or a range.
bool any_version(std::string_view v) {
    return v.empty() || v == "*" || v == "~" || v == "latest" ||
           v.find_first_of("+*") != std::string_view::npos;
}

/// "1.0.0", "1.0" and "1" name the same version (SDMX 3.0 semantic versions against 2.1 ones).
std::string_view normal_version(std::string_view v) {
    while (v.ends_with(".0")) {
        v.remove_suffix(2);
    }
    return v;
}

bool version_matches(std::string_view wanted, std::string_view have) {
    return any_version(wanted) || normal_version(wanted) == normal_version(have);
}

std::string artefact_label(std::string_view agency, std::string_view id, std::string_view version) {
    return version.empty() ? fmt::format("{}:{}", agency, id)
                           : fmt::format("{}:{}({})", agency, id, version);
}

/// One scheme's categories flattened in document order, with lookups by dotted path and by id.
struct SchemeIndex {
    struct Node {
        const Category* category;
        std::size_t parent; ///< k_none for a top-level category
    };
    /// A category by its parent and id (k_none: top level): dotted paths are walked segment by
    /// segment, so no path string is ever built (a deep scheme would make them quadratic).
    struct ChildKey {
        std::size_t parent;
        std::string_view id;
        bool operator==(const ChildKey&) const = default;
    };
    struct ChildKeyHash {
        std::size_t operator()(const ChildKey& k) const noexcept {
            return std::hash<std::string_view>{}(k.id) * 1'000'003u ^
                   std::hash<std::size_t>{}(k.parent);
        }
    };
    std::vector<Node> nodes;
    std::unordered_map<ChildKey, std::size_t, ChildKeyHash> children;
    std::unordered_map<std::string_view, std::size_t> by_id; ///< the first in document order
    std::unordered_set<std::string_view> ambiguous;          ///< ids present more than once

    explicit SchemeIndex(const CategoryScheme& scheme) {
        // Iterative pre-order walk (document order) so that no nesting depth recurses.
        struct Pending {
            const Category* category;
            std::size_t parent;
        };
        std::vector<Pending> stack;
        for (auto it = scheme.categories.rbegin(); it != scheme.categories.rend(); ++it) {
            stack.push_back({&*it, k_none});
        }
        while (!stack.empty()) {
            auto [cat, parent] = stack.back();
            stack.pop_back();
            std::size_t self = nodes.size();
            nodes.push_back({cat, parent});
            children.try_emplace(ChildKey{parent, cat->id}, self);
            if (!by_id.try_emplace(cat->id, self).second) {
                ambiguous.insert(cat->id);
            }
            for (auto it = cat->children.rbegin(); it != cat->children.rend(); ++it) {
                stack.push_back({&*it, self});
            }
        }
    }

    /// The node a reference names: a dotted path from the top, else a leaf id; k_none if neither.
    std::size_t find(const std::string& reference, bool& ambiguous_id) const {
        ambiguous_id = false;
        std::size_t node = k_none;
        std::string_view rest(reference);
        while (true) {
            auto dot = rest.find('.');
            auto child = children.find(ChildKey{node, rest.substr(0, dot)});
            if (child == children.end()) {
                node = k_none;
                break;
            }
            node = child->second;
            if (dot == std::string_view::npos) {
                break;
            }
            rest.remove_prefix(dot + 1);
        }
        if (node != k_none) {
            return node;
        }
        if (auto i = by_id.find(reference); i != by_id.end()) {
            ambiguous_id = ambiguous.contains(reference);
            return i->second;
        }
        return k_none;
    }

    AgencyCategory resolved(std::size_t scheme, std::size_t node) const {
        AgencyCategory out;
        out.scheme = scheme;
        for (std::size_t n = node; n != k_none; n = nodes[n].parent) {
            out.nodes.push_back(nodes[n].category);
        }
        std::reverse(out.nodes.begin(), out.nodes.end());
        for (const auto* c : out.nodes) {
            out.path.push_back(c->id);
        }
        return out;
    }
};

struct Placement {
    std::size_t flow, scheme, node;
    bool operator==(const Placement&) const = default;
};

struct PlacementHash {
    std::size_t operator()(const Placement& p) const noexcept {
        std::size_t h = std::hash<std::size_t>{}(p.flow);
        h = h * 1'000'003u ^ std::hash<std::size_t>{}(p.scheme);
        return h * 1'000'003u ^ std::hash<std::size_t>{}(p.node);
    }
};

class Resolver {
public:
    explicit Resolver(const Catalog& catalog) : m_catalog(catalog) {
        for (std::size_t i = 0; i < catalog.dataflows.size(); ++i) {
            m_flows[catalog.dataflows[i].id].push_back(i);
        }
        m_indexes.reserve(catalog.category_schemes.size());
        for (std::size_t i = 0; i < catalog.category_schemes.size(); ++i) {
            m_schemes[catalog.category_schemes[i].id].push_back(i);
            m_indexes.emplace_back(catalog.category_schemes[i]);
        }
        m_out.by_flow.resize(catalog.dataflows.size());
    }

    ResolvedCategories run() {
        for (std::size_t i = 0; i < m_catalog.categorisations.size(); ++i) {
            resolve(i, m_catalog.categorisations[i]);
        }
        return std::move(m_out);
    }

private:
    void warn(std::string message) {
        if (m_out.warnings.size() < k_max_warnings) {
            m_out.warnings.push_back(std::move(message));
        }
    }

    void unresolved(const std::string& name, std::string_view why) {
        ++m_out.unresolved;
        warn(fmt::format("categorisation {}: {}", name, why));
    }

    std::vector<std::size_t> flows_for(const Categorisation& c) const {
        std::vector<std::size_t> out;
        auto it = m_flows.find(c.flow_id);
        if (it == m_flows.end()) {
            return out;
        }
        for (auto i : it->second) {
            const auto& f = m_catalog.dataflows[i];
            if ((c.flow_agency.empty() || f.agency_id == c.flow_agency) &&
                version_matches(c.flow_version, f.version)) {
                out.push_back(i);
            }
        }
        return out;
    }

    std::string missing_flow(const Categorisation& c) const {
        bool versioned = !any_version(c.flow_version);
        auto wanted = artefact_label(c.flow_agency, c.flow_id,
                                     versioned ? std::string_view(c.flow_version) : "");
        std::string have;
        if (auto it = m_flows.find(c.flow_id); versioned && it != m_flows.end()) {
            for (auto i : it->second) {
                const auto& f = m_catalog.dataflows[i];
                have += fmt::format("{}{}", have.empty() ? " (it has " : ", ",
                                    artefact_label(f.agency_id, f.id, f.version));
            }
            have += ")";
        }
        return fmt::format("no dataflow {} in the catalogue{}", wanted, have);
    }

    std::size_t scheme_for(const Categorisation& c) const {
        auto it = m_schemes.find(c.scheme_id);
        if (it == m_schemes.end()) {
            return k_none;
        }
        for (auto i : it->second) {
            const auto& s = m_catalog.category_schemes[i];
            if ((c.scheme_agency.empty() || s.agency_id == c.scheme_agency) &&
                version_matches(c.scheme_version, s.version)) {
                return i;
            }
        }
        return k_none;
    }

    void resolve(std::size_t index, const Categorisation& c) {
        const std::string name = c.id.empty() ? fmt::format("#{}", index + 1) : c.id;
        if (c.flow_id.empty()) {
            return unresolved(name, "its source names no dataflow");
        }
        auto flows = flows_for(c);
        if (flows.empty()) {
            return unresolved(name, missing_flow(c));
        }
        auto wanted = artefact_label(c.scheme_agency, c.scheme_id, c.scheme_version);
        if (c.scheme_id.empty() || c.category.empty()) {
            return unresolved(name, "its target names no category");
        }
        auto scheme = scheme_for(c);
        if (scheme == k_none) {
            return unresolved(name, fmt::format("no category scheme {} in the catalogue (give its "
                                                "categoryscheme message as a source too)",
                                                wanted));
        }
        const auto& index_of = m_indexes[scheme];
        bool ambiguous = false;
        auto node = index_of.find(c.category, ambiguous);
        if (node == k_none) {
            return unresolved(name, fmt::format("no category {} in {}", c.category,
                                                m_catalog.category_schemes[scheme].label()));
        }
        if (ambiguous) {
            warn(fmt::format("categorisation {}: category id {} occurs more than once in {}; "
                             "the first in document order is taken",
                             name, c.category, m_catalog.category_schemes[scheme].label()));
        }
        std::size_t path_bytes = 0;
        for (auto n = node; n != k_none; n = index_of.nodes[n].parent) {
            path_bytes += index_of.nodes[n].category->id.size();
        }
        if (path_bytes > k_max_path_bytes) {
            return unresolved(name, fmt::format("the path of category {} is longer than {} bytes",
                                                c.category.substr(0, 64), k_max_path_bytes));
        }
        ++m_out.resolved;
        for (auto flow : flows) {
            if (m_placed.insert({flow, scheme, node}).second) {
                m_out.by_flow[flow].push_back(index_of.resolved(scheme, node));
            }
        }
    }

    const Catalog& m_catalog;
    std::unordered_map<std::string_view, std::vector<std::size_t>> m_flows;
    std::unordered_map<std::string_view, std::vector<std::size_t>> m_schemes;
    std::vector<SchemeIndex> m_indexes;
    std::unordered_set<Placement, PlacementHash> m_placed;
    ResolvedCategories m_out;
};

} // namespace

ResolvedCategories resolve_categorisations(const Catalog& catalog) {
    return Resolver(catalog).run();
}

namespace {

// Content comparison for merging: every field as read, not where it was read (source_line) and
// not what is derived from the annotations (compared through the annotations themselves).

bool same(const LocalizedText& a, const LocalizedText& b) {
    return a.lang == b.lang && a.text == b.text;
}

bool same(const Annotation& a, const Annotation& b) {
    return a.id == b.id && a.title == b.title && a.type == b.type && a.url == b.url &&
           std::equal(a.texts.begin(), a.texts.end(), b.texts.begin(), b.texts.end(),
                      [](const auto& x, const auto& y) { return same(x, y); });
}

bool same(const Category& a, const Category& b);

template <class T>
bool same_list(const std::vector<T>& a, const std::vector<T>& b) {
    return std::equal(a.begin(), a.end(), b.begin(), b.end(),
                      [](const T& x, const T& y) { return same(x, y); });
}

bool same(const Category& a, const Category& b) {
    return a.id == b.id && same_list(a.names, b.names) && same_list(a.children, b.children);
}

/// The first field in which two artefacts with the same identity differ; "" when none does.
std::string_view difference(const Dataflow& a, const Dataflow& b) {
    if (a.urn != b.urn) {
        return "urn";
    }
    if (a.is_final != b.is_final) {
        return "isFinal";
    }
    if (!same_list(a.names, b.names)) {
        return "names";
    }
    if (!same_list(a.descriptions, b.descriptions)) {
        return "descriptions";
    }
    if (a.structure.id != b.structure.id || a.structure.agency_id != b.structure.agency_id ||
        a.structure.version != b.structure.version || a.structure.urn != b.structure.urn) {
        return "data structures";
    }
    return same_list(a.annotations, b.annotations) ? "" : "annotations";
}

std::string_view difference(const CategoryScheme& a, const CategoryScheme& b) {
    if (!same_list(a.names, b.names)) {
        return "names";
    }
    return same_list(a.categories, b.categories) ? "" : "categories";
}

std::string_view difference(const Categorisation& a, const Categorisation& b) {
    if (a.flow_id != b.flow_id || a.flow_agency != b.flow_agency ||
        a.flow_version != b.flow_version) {
        return "sources (dataflows)";
    }
    bool same_target = a.scheme_id == b.scheme_id && a.scheme_agency == b.scheme_agency &&
                       a.scheme_version == b.scheme_version && a.category == b.category;
    return same_target ? "" : "targets (categories)";
}

std::string identity(const Dataflow& f) {
    return artefact_label(f.agency_id, f.id, f.version);
}
std::string identity(const CategoryScheme& s) {
    return s.label();
}
std::string identity(const Categorisation& c) {
    if (!c.id.empty()) {
        return artefact_label(c.agency_id, c.id, c.version);
    }
    // No id (not valid SDMX, but harmless): identified by what it links.
    return fmt::format("{} -> {}.{}", artefact_label(c.flow_agency, c.flow_id, c.flow_version),
                       artefact_label(c.scheme_agency, c.scheme_id, c.scheme_version), c.category);
}

/// Appends one part's artefacts of one kind, dropping those an earlier part already gave with
/// the same content and refusing those it gave with a different one.
template <class T>
class ListMerger {
public:
    ListMerger(std::string_view kind, const std::vector<std::string>& names)
        : m_kind(kind), m_names(names) {}

    void add(std::vector<T>& out, std::vector<T>& items, std::size_t part) {
        for (auto& item : items) {
            auto [it, fresh] = m_seen.try_emplace(identity(item), Origin{part, out.size()});
            if (!fresh && it->second.part != part) {
                auto field = difference(out[it->second.index], item);
                if (field.empty()) {
                    continue;
                }
                throw InputError(fmt::format(
                    "{} {} in {} differs from the one in {} (their {} differ); give only one of "
                    "them, or sources that agree",
                    m_kind, it->first, m_names[part], m_names[it->second.part], field));
            }
            out.push_back(std::move(item));
        }
    }

private:
    struct Origin {
        std::size_t part;
        std::size_t index;
    };
    std::string_view m_kind;
    const std::vector<std::string>& m_names;
    std::unordered_map<std::string, Origin> m_seen;
};

std::string merged_format(const std::vector<Catalog>& parts) {
    std::vector<std::string_view> formats;
    for (const auto& p : parts) {
        if (!p.format.empty() &&
            std::find(formats.begin(), formats.end(), p.format) == formats.end()) {
            formats.push_back(p.format);
        }
    }
    if (formats.size() <= 1) {
        return formats.empty() ? std::string() : std::string(formats.front());
    }
    std::string out = "mixed (";
    for (std::size_t i = 0; i < formats.size(); ++i) {
        out += fmt::format("{}{}", i == 0 ? "" : ", ", formats[i]);
    }
    return out + ")";
}

} // namespace

void require_dataflows(const Catalog& catalog, std::string_view name) {
    if (!catalog.dataflows.empty()) {
        return;
    }
    std::string held;
    if (!catalog.category_schemes.empty()) {
        held = fmt::format("CategorySchemes ({})", catalog.category_schemes.size());
    }
    if (!catalog.categorisations.empty()) {
        held += fmt::format("{}Categorisations ({})", held.empty() ? "" : ", ",
                            catalog.categorisations.size());
    }
    throw InputError(fmt::format(
        "{}: this {} structure message holds no dataflows ({}); give the dataflow list (the "
        "answer to /dataflow/{{agency}}) too",
        name, catalog.format, held.empty() ? std::string("it is empty") : "it holds " + held));
}

Catalog merge_catalogs(std::vector<Catalog> parts, const std::vector<std::string>& names) {
    if (parts.empty()) {
        return {};
    }
    if (parts.size() == 1) {
        return std::move(parts.front());
    }
    std::vector<std::string> labels;
    for (std::size_t i = 0; i < parts.size(); ++i) {
        labels.push_back(i < names.size() && !names[i].empty() ? names[i]
                                                               : fmt::format("source {}", i + 1));
    }
    Catalog out;
    out.format = merged_format(parts);
    ListMerger<Dataflow> flows("dataflow", labels);
    ListMerger<CategoryScheme> schemes("category scheme", labels);
    ListMerger<Categorisation> categorisations("categorisation", labels);
    for (std::size_t i = 0; i < parts.size(); ++i) {
        auto& part = parts[i];
        if (out.prepared.empty()) {
            out.prepared = std::move(part.prepared);
        }
        flows.add(out.dataflows, part.dataflows, i);
        schemes.add(out.category_schemes, part.category_schemes, i);
        categorisations.add(out.categorisations, part.categorisations, i);
        for (auto& w : part.warnings) {
            out.warnings.push_back(fmt::format("{}: {}", labels[i], w));
        }
    }
    return out;
}

} // namespace dataflow::sdmx

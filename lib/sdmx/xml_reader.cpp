// SDMX-ML reader. pugixml does no namespace processing, so prefixes are resolved here: every
// element is matched by namespace URI and local name, never by prefix.

#include "sdmx/categories.hpp"
#include "sdmx/line_index.hpp"
#include "sdmx/reader.hpp"
#include "sdmx/xml_names.hpp"
#include "sdmx/xml_stream.hpp"
#include "util/error.hpp"
#include "util/strings.hpp"
#include "util/utf8.hpp"

#include <fmt/format.h>
#include <pugixml.hpp>

#include <algorithm>
#include <array>
#include <cstring>
#include <map>
#include <vector>

namespace dataflow::sdmx {

namespace {

using xml::classify_uri;
using xml::lang_of;
using xml::local_name;
using xml::Ns;
using xml::NsKind;
using xml::prefix_of;
using xml::QName;
using xml::split_qname;
using xml::text_of;

class XmlCatalogReader {
public:
    XmlCatalogReader(const LineIndex& lines, std::string_view name, const ReadOptions& options)
        : m_name(name), m_options(options), m_lines(lines) {}

    Catalog read(pugi::xml_document& doc);

private:
    struct Binding {
        std::string_view prefix;
        Ns ns;
    };
    struct Frame {
        std::string_view local;
        Ns ns;
        std::size_t bindings_mark;
    };

    /// Pushes the element's xmlns declarations; returns the mark to pop back to.
    std::size_t push_scope(pugi::xml_node node) {
        std::size_t mark = m_bindings.size();
        for (auto a = node.first_attribute(); a; a = a.next_attribute()) {
            const char* n = a.name();
            if (std::strncmp(n, "xmlns", 5) != 0) {
                continue;
            }
            if (n[5] == '\0') {
                m_bindings.push_back({{}, uri_ns(a.value())});
            } else if (n[5] == ':') {
                m_bindings.push_back({std::string_view(n + 6), uri_ns(a.value())});
            }
        }
        return mark;
    }
    void pop_scope(std::size_t mark) { m_bindings.resize(mark); }

    Ns uri_ns(const char* uri) {
        auto it = m_uri_cache.find(uri);
        if (it != m_uri_cache.end()) {
            return it->second;
        }
        Ns ns = *uri == '\0' ? Ns{} : classify_uri(uri);
        m_uri_cache.emplace(uri, ns);
        return ns;
    }

    Ns resolve(const char* qname) const { return resolve_prefix(prefix_of(qname)); }
    Ns resolve_prefix(std::string_view prefix) const {
        for (auto it = m_bindings.rbegin(); it != m_bindings.rend(); ++it) {
            if (it->prefix == prefix) {
                return it->ns;
            }
        }
        return {};
    }

    std::string where(pugi::xml_node node) const {
        auto off = node.offset_debug();
        if (off < 0) {
            return std::string(m_name);
        }
        auto pos = m_lines.position(static_cast<std::size_t>(off));
        return fmt::format("{}:{}:{}", m_name, pos.line, pos.column);
    }

    std::size_t line_of(pugi::xml_node node) {
        auto off = node.offset_debug();
        if (off < 0) {
            return 0;
        }
        m_last_line = m_lines.line(static_cast<std::size_t>(off), m_last_line);
        return m_last_line;
    }

    void walk_structure(pugi::xml_node root, Catalog& catalog);
    Dataflow read_dataflow(pugi::xml_node node);
    CategoryScheme read_category_scheme(pugi::xml_node node, std::size_t depth);
    void read_category_level(pugi::xml_node node, std::vector<LocalizedText>& names,
                             std::vector<Category>& children, std::size_t depth);
    Categorisation read_categorisation(pugi::xml_node node);
    void read_categorisation_ref(pugi::xml_node node, Categorisation& out, bool source);
    [[noreturn]] void too_deep(pugi::xml_node node) const;
    void read_annotations(pugi::xml_node node, std::vector<Annotation>& out);
    Annotation read_annotation(pugi::xml_node node);
    void read_structure_ref(pugi::xml_node node, Dataflow& flow, std::string_view local);
    [[noreturn]] void refuse_error_message(pugi::xml_node root);
    [[noreturn]] void refuse_data_message(pugi::xml_node root, std::string_view format,
                                          std::string_view local);

    std::string_view m_name;
    const ReadOptions& m_options;
    std::vector<Binding> m_bindings;
    std::map<std::string, Ns, std::less<>> m_uri_cache;
    const LineIndex& m_lines;
    std::size_t m_last_line = 1; ///< of the last line_of(): the next is a few lines on
};

std::string format_name(int version) {
    return fmt::format("SDMX-ML {}.{}", version / 10, version % 10);
}

Catalog XmlCatalogReader::read(pugi::xml_document& doc) {
    m_bindings.push_back({"xml", {NsKind::other, 0}});
    pugi::xml_node root;
    for (auto n = doc.first_child(); n; n = n.next_sibling()) {
        if (n.type() == pugi::node_doctype) {
            throw InputError(fmt::format(
                "{}: the document has a DTD (<!DOCTYPE ...>); SDMX messages never do, and DTDs "
                "are refused because their entities can expand without bound",
                where(n)));
        }
        if (n.type() == pugi::node_element) {
            if (root) {
                throw InputError(fmt::format(
                    "{}: a second root element <{}> after the end of <{}>; an XML document has "
                    "one root (two concatenated responses, or trailing garbage?)",
                    where(n), n.name(), root.name()));
            }
            root = n;
        }
    }
    if (!root) {
        throw InputError(
            fmt::format("{}: no root element; expected an SDMX dataflow list", m_name));
    }
    auto mark = push_scope(root);
    Ns ns = resolve(root.name());
    auto local = local_name(root.name());
    if (!ns.sdmx()) {
        std::string uri;
        auto prefix = prefix_of(root.name());
        std::string decl = prefix.empty() ? "xmlns" : "xmlns:" + std::string(prefix);
        uri = root.attribute(decl.c_str()).value();
        if (local == "html" || local == "HTML") {
            throw InputError(fmt::format(
                "{}: this is an HTML page, not an SDMX dataflow list; the server probably answered "
                "with an error or login page instead of SDMX (check the URL)",
                where(root)));
        }
        throw InputError(
            fmt::format("{}: not an SDMX message: the root element is <{}>{}; expected an SDMX-ML "
                        "Structure message listing dataflows",
                        where(root), root.name(),
                        uri.empty() ? std::string(" in no SDMX namespace")
                                    : fmt::format(" in namespace {}", uri)));
    }
    Catalog catalog;
    catalog.format = format_name(ns.version);
    if (local == "Error") {
        refuse_error_message(root);
    }
    if (ns.kind == NsKind::message &&
        (local.ends_with("Data") || local == "MessageGroup" || local == "GenericTimeSeriesData" ||
         local == "StructureSpecificTimeSeriesData")) {
        refuse_data_message(root, catalog.format, local);
    }
    if (local != "Structure" && local != "RegistryInterface") {
        throw InputError(fmt::format(
            "{}: this is an {} {} message, not a dataflow list; expected a Structure message "
            "(the answer to /dataflow/{{agency}})",
            where(root), catalog.format, local));
    }
    walk_structure(root, catalog);
    pop_scope(mark);
    return catalog;
}

void XmlCatalogReader::walk_structure(pugi::xml_node root, Catalog& catalog) {
    // Iterative depth-first walk: no recursion, so nesting depth cannot exhaust the stack; the
    // depth limit still refuses absurd documents with a clear message.
    std::vector<Frame> stack;
    std::vector<std::pair<std::string, std::size_t>> containers; // Codelists (5), ...
    bool saw_dataflows = false;
    bool saw_categories = false; // CategorySchemes or Categorisations
    std::size_t key_families = 0;
    const int root_version = resolve(root.name()).version;

    stack.push_back({local_name(root.name()), resolve(root.name()), m_bindings.size()});
    std::vector<pugi::xml_node> resume; // where to continue after each open element
    pugi::xml_node cur = root.first_child();
    for (;;) {
        if (!cur) {
            // All children of stack.back() are done: close it.
            pop_scope(stack.back().bindings_mark);
            stack.pop_back();
            if (stack.empty()) {
                break;
            }
            cur = resume.back();
            resume.pop_back();
            continue;
        }
        if (cur.type() != pugi::node_element) {
            cur = cur.next_sibling();
            continue;
        }
        if (stack.size() + 1 > m_options.max_depth) {
            too_deep(cur);
        }
        std::size_t mark = push_scope(cur);
        QName qname = split_qname(cur.name());
        Ns ns = resolve_prefix(qname.prefix);
        auto local = qname.local;
        const Frame& parent = stack.back();
        bool descend = true;
        if (ns.sdmx() && local == "Dataflow" && parent.local == "Dataflows") {
            catalog.dataflows.push_back(read_dataflow(cur));
            descend = false;
        } else if (ns.sdmx() && local == "KeyFamily" && parent.local == "KeyFamilies") {
            ++key_families;
            descend = false;
        } else if (ns.sdmx() && local == "Dataflows") {
            saw_dataflows = true;
            std::size_t n = 0;
            for (auto c = cur.first_child(); c; c = c.next_sibling()) {
                n += c.type() == pugi::node_element ? 1 : 0;
            }
            catalog.dataflows.reserve(catalog.dataflows.size() + n);
        } else if (ns.sdmx() && local == "CategoryScheme" && parent.local == "CategorySchemes") {
            catalog.category_schemes.push_back(read_category_scheme(cur, stack.size() + 1));
            descend = false;
        } else if (ns.sdmx() && local == "Categorisation" && parent.local == "Categorisations") {
            catalog.categorisations.push_back(read_categorisation(cur));
            descend = false;
        } else if (ns.sdmx() && (local == "CategorySchemes" || local == "Categorisations")) {
            saw_categories = true;
        } else if (ns.kind == NsKind::message && local == "Prepared" && parent.local == "Header" &&
                   catalog.prepared.empty()) {
            catalog.prepared = std::string(util::trim(text_of(cur)));
            descend = false;
        }
        // Containers: children of <Structures> (2.1/3.0) or of the root (2.0), Header excluded.
        bool parent_is_structures =
            parent.local == "Structures" && parent.ns.kind == NsKind::message;
        bool parent_is_root20 = stack.size() == 1 && root_version == 20 && local != "Header";
        if (parent_is_structures || parent_is_root20) {
            std::size_t n = 0;
            for (auto c = cur.first_child(); c; c = c.next_sibling()) {
                n += c.type() == pugi::node_element ? 1 : 0;
            }
            containers.emplace_back(std::string(local), n);
        }
        if (descend && cur.first_child()) {
            stack.push_back({local, ns, mark});
            resume.push_back(cur.next_sibling());
            cur = cur.first_child();
        } else {
            pop_scope(mark);
            cur = cur.next_sibling();
        }
    }

    // A dataflow list, a category scheme, categorisations, or several of them (INSEE's message
    // with descendants carries all three): anything else is not for us.
    if (catalog.dataflows.empty() && !saw_dataflows && !saw_categories) {
        if (key_families > 0) {
            throw InputError(fmt::format(
                "{}: this {} answer lists {} KeyFamily elements (data structure definitions) but "
                "no Dataflow elements; the endpoint answered a dataflow query with its key "
                "families. "
                "Ask it for dataflows (SDMX 2.1 /dataflow/{{agency}}) or use its DSD list instead",
                m_name, catalog.format, key_families));
        }
        std::string held;
        for (const auto& [what, n] : containers) {
            held += fmt::format("{}{} ({})", held.empty() ? "" : ", ", what, n);
        }
        throw InputError(fmt::format(
            "{}: this {} structure message holds no dataflows ({}); expected the answer to "
            "/dataflow/{{agency}}",
            m_name, catalog.format, held.empty() ? "it is empty" : "it holds " + held));
    }
    derive_annotation_facts(catalog);
}

void XmlCatalogReader::too_deep(pugi::xml_node node) const {
    throw InputError(fmt::format(
        "{}: elements nested deeper than {} levels; SDMX dataflow lists are shallow, so "
        "this document is refused",
        where(node), m_options.max_depth));
}

/// Reads the whole scheme here (not in walk_structure) because the nesting of its categories is
/// its content; `depth` is the scheme element's, so the depth limit holds as in the walk.
CategoryScheme XmlCatalogReader::read_category_scheme(pugi::xml_node node, std::size_t depth) {
    CategoryScheme scheme;
    scheme.source_line = line_of(node);
    scheme.id = node.attribute("id").value();
    scheme.agency_id = node.attribute("agencyID").value();
    scheme.version = node.attribute("version").value();
    if (scheme.agency_id.empty()) {
        StructureRef own;
        if (parse_structure_urn(node.attribute("urn").value(), own)) {
            scheme.agency_id = own.agency_id;
        }
    }
    read_category_level(node, scheme.names, scheme.categories, depth);
    return scheme;
}

void XmlCatalogReader::read_category_level(pugi::xml_node node, std::vector<LocalizedText>& names,
                                           std::vector<Category>& children, std::size_t depth) {
    for (auto child = node.first_child(); child; child = child.next_sibling()) {
        if (child.type() != pugi::node_element) {
            continue;
        }
        auto mark = push_scope(child);
        QName qname = split_qname(child.name());
        Ns ns = resolve_prefix(qname.prefix);
        auto local = qname.local;
        if (ns.sdmx() && local == "Name") {
            names.push_back({std::string(lang_of(child)), text_of(child)});
        } else if (ns.sdmx() && local == "Category") {
            if (depth + 1 > m_options.max_depth) {
                too_deep(child);
            }
            Category category;
            category.id = child.attribute("id").value();
            read_category_level(child, category.names, category.children, depth + 1);
            children.push_back(std::move(category));
        }
        pop_scope(mark);
    }
}

Categorisation XmlCatalogReader::read_categorisation(pugi::xml_node node) {
    Categorisation c;
    c.source_line = line_of(node);
    c.id = node.attribute("id").value();
    c.agency_id = node.attribute("agencyID").value();
    c.version = node.attribute("version").value();
    for (auto child = node.first_child(); child; child = child.next_sibling()) {
        if (child.type() != pugi::node_element) {
            continue;
        }
        auto mark = push_scope(child);
        QName qname = split_qname(child.name());
        Ns ns = resolve_prefix(qname.prefix);
        auto local = qname.local;
        if (ns.sdmx() && (local == "Source" || local == "Target")) {
            read_categorisation_ref(child, c, local == "Source");
        }
        pop_scope(mark);
    }
    return c;
}

/// 2.1: a `Ref` child (in no namespace) or a `URN` child; 3.0: the URN as the element's text.
void XmlCatalogReader::read_categorisation_ref(pugi::xml_node node, Categorisation& out,
                                               bool source) {
    for (auto r = node.first_child(); r; r = r.next_sibling()) {
        if (r.type() != pugi::node_element) {
            continue;
        }
        auto l = local_name(r.name());
        if (l == "Ref" && source) {
            out.flow_id = r.attribute("id").value();
            out.flow_agency = r.attribute("agencyID").value();
            out.flow_version = r.attribute("version").value();
            return;
        }
        if (l == "Ref") {
            out.category = r.attribute("id").value();
            out.scheme_id = r.attribute("maintainableParentID").value();
            out.scheme_version = r.attribute("maintainableParentVersion").value();
            out.scheme_agency = r.attribute("agencyID").value();
            return;
        }
        if (l == "URN") {
            node = r;
            break;
        }
    }
    const std::string text = text_of(node);
    auto urn = util::trim(text);
    if (source) {
        parse_dataflow_urn(urn, out);
    } else {
        parse_category_urn(urn, out);
    }
}

/// The dataflow's own attributes in one pass over them (the first of a name counts, as with
/// xml_node::attribute()).
void read_flow_attributes(pugi::xml_node node, Dataflow& flow) {
    bool id = false, agency = false, version = false, urn = false, final_seen = false;
    for (auto a = node.first_attribute(); a; a = a.next_attribute()) {
        std::string_view n = a.name();
        if (n == "id" && !id) {
            id = true;
            flow.id = a.value();
        } else if (n == "agencyID" && !agency) {
            agency = true;
            flow.agency_id = a.value();
        } else if (n == "version" && !version) {
            version = true;
            flow.version = a.value();
        } else if (n == "urn" && !urn) {
            urn = true;
            flow.urn = a.value();
        } else if (n == "isFinal" && !final_seen) {
            final_seen = true;
            std::string_view v = a.value();
            flow.is_final = v == "true" || v == "1";
        }
    }
}

/// Whether derive_annotation_facts() reads this Annotation: by its id, or by its type as
/// read_annotation() takes it (the last AnnotationType), built only when it has several runs.
bool is_fact(pugi::xml_node annotation) {
    if (is_fact_annotation(annotation.attribute("id").value())) {
        return true;
    }
    pugi::xml_node type;
    for (auto c = annotation.first_child(); c; c = c.next_sibling()) {
        if (c.type() == pugi::node_element && local_name(c.name()) == "AnnotationType") {
            type = c;
        }
    }
    if (!type) {
        return false;
    }
    return type.first_child() ? is_fact_annotation(text_of(type))
                              : is_fact_annotation(type.value());
}

void XmlCatalogReader::read_annotations(pugi::xml_node node, std::vector<Annotation>& out) {
    if (m_options.all_annotations) {
        std::size_t n = 0;
        for (auto a = node.first_child(); a; a = a.next_sibling()) {
            n += a.type() == pugi::node_element ? 1 : 0;
        }
        out.reserve(out.size() + n);
    }
    for (auto a = node.first_child(); a; a = a.next_sibling()) {
        if (a.type() == pugi::node_element && local_name(a.name()) == "Annotation") {
            auto mark = push_scope(a);
            if (m_options.all_annotations || is_fact(a)) {
                out.push_back(read_annotation(a));
            }
            pop_scope(mark);
        }
    }
}

Dataflow XmlCatalogReader::read_dataflow(pugi::xml_node node) {
    Dataflow flow;
    flow.source_line = line_of(node);
    read_flow_attributes(node, flow);
    for (auto child = node.first_child(); child; child = child.next_sibling()) {
        if (child.type() != pugi::node_element) {
            continue;
        }
        auto mark = push_scope(child);
        QName qname = split_qname(child.name());
        Ns ns = resolve_prefix(qname.prefix);
        auto local = qname.local;
        if (ns.sdmx()) {
            if (local == "Name") {
                flow.names.push_back({std::string(lang_of(child)), text_of(child)});
            } else if (local == "Description") {
                flow.descriptions.push_back({std::string(lang_of(child)), text_of(child)});
            } else if (local == "Annotations") {
                read_annotations(child, flow.annotations);
            } else if (local == "Structure" || local == "KeyFamilyRef") {
                read_structure_ref(child, flow, local);
            } else if (local == "KeyFamilyID" || local == "KeyFamilyAgencyID") {
                // SDMX 2.0 also allows these directly under Dataflow.
                read_structure_ref(node, flow, "KeyFamilyRef");
            }
        }
        pop_scope(mark);
    }
    if (flow.agency_id.empty() && !flow.urn.empty()) {
        StructureRef own;
        if (parse_structure_urn(flow.urn, own)) {
            flow.agency_id = own.agency_id;
        }
    }
    return flow;
}

Annotation XmlCatalogReader::read_annotation(pugi::xml_node node) {
    Annotation a;
    std::string value;
    a.id = node.attribute("id").value();
    for (auto c = node.first_child(); c; c = c.next_sibling()) {
        if (c.type() != pugi::node_element) {
            continue;
        }
        auto local = local_name(c.name());
        if (local == "AnnotationTitle") {
            a.title = text_of(c);
        } else if (local == "AnnotationType") {
            a.type = text_of(c);
        } else if (local == "AnnotationValue") {
            value = text_of(c); // SDMX 3.0
        } else if (local == "AnnotationURL") {
            a.url = text_of(c);
        } else if (local == "AnnotationText") {
            a.texts.push_back({std::string(lang_of(c)), text_of(c)});
        }
    }
    if (a.title.empty()) {
        a.title = std::move(value);
    }
    return a;
}

void XmlCatalogReader::read_structure_ref(pugi::xml_node node, Dataflow& flow,
                                          std::string_view local) {
    auto& ref = flow.structure;
    if (local == "Structure") {
        for (auto c = node.first_child(); c; c = c.next_sibling()) {
            if (c.type() == pugi::node_element && local_name(c.name()) == "Ref") {
                ref.id = c.attribute("id").value();
                ref.agency_id = c.attribute("agencyID").value();
                ref.version = c.attribute("version").value();
                return;
            }
            if (c.type() == pugi::node_element && local_name(c.name()) == "URN") {
                ref.urn = std::string(util::trim(text_of(c)));
                parse_structure_urn(ref.urn, ref);
                return;
            }
        }
        ref.urn = std::string(util::trim(text_of(node))); // SDMX 3.0: the URN as text
        parse_structure_urn(ref.urn, ref);
        return;
    }
    for (auto c = node.first_child(); c; c = c.next_sibling()) {
        if (c.type() != pugi::node_element) {
            continue;
        }
        auto l = local_name(c.name());
        if (l == "KeyFamilyID") {
            ref.id = std::string(util::trim(text_of(c)));
        } else if (l == "KeyFamilyAgencyID") {
            ref.agency_id = std::string(util::trim(text_of(c)));
        } else if (l == "Version") {
            ref.version = std::string(util::trim(text_of(c)));
        }
    }
}

void collect_texts(pugi::xml_node node, std::string_view wanted, std::vector<std::string>& out,
                   std::size_t depth = 0) {
    if (depth > 8) {
        return;
    }
    for (auto c = node.first_child(); c; c = c.next_sibling()) {
        if (c.type() != pugi::node_element) {
            continue;
        }
        if (local_name(c.name()) == wanted) {
            auto t = util::collapse_ws(util::trim(text_of(c)));
            if (!t.empty()) {
                out.push_back(std::move(t));
            }
        } else {
            collect_texts(c, wanted, out, depth + 1);
        }
    }
}

void XmlCatalogReader::refuse_error_message(pugi::xml_node root) {
    std::string detail;
    for (auto m = root.first_child(); m; m = m.next_sibling()) {
        if (m.type() != pugi::node_element || local_name(m.name()) != "ErrorMessage") {
            continue;
        }
        std::vector<std::string> texts;
        collect_texts(m, "Text", texts);
        std::string joined;
        for (const auto& t : texts) {
            joined += (joined.empty() ? "" : " ") + t;
        }
        detail += fmt::format("{}[code {}] {}", detail.empty() ? "" : "; ",
                              m.attribute("code").value(), joined);
    }
    throw InputError(fmt::format(
        "{}: the server answered with an SDMX error message, not a dataflow list: {}", where(root),
        detail.empty() ? std::string("(no error text)") : util::truncate_to_width(detail, 500)));
}

void XmlCatalogReader::refuse_data_message(pugi::xml_node root, std::string_view format,
                                           std::string_view local) {
    std::vector<std::string> footer;
    for (auto c = root.first_child(); c; c = c.next_sibling()) {
        if (c.type() == pugi::node_element && local_name(c.name()) == "Footer") {
            collect_texts(c, "Text", footer);
        }
    }
    std::string note;
    if (!footer.empty()) {
        note = " Its footer says: \"" + util::truncate_to_width(footer.front(), 300) + "\".";
    }
    throw InputError(fmt::format(
        "{}: this is an {} data message ({}), not a dataflow list; analyze reads the answer "
        "to /dataflow/{{agency}}.{}",
        where(root), format, local, note));
}

} // namespace

Catalog read_catalog_xml(std::string& bytes, std::string_view source_name,
                         const ReadOptions& options) {
    std::size_t skip = bytes.starts_with("\xEF\xBB\xBF") ? 3 : 0;
    return read_catalog_xml(bytes, source_name, options,
                            LineIndex(std::string_view(bytes).substr(skip)));
}

Catalog read_catalog_xml(std::string& bytes, std::string_view source_name,
                         const ReadOptions& options, const LineIndex& lines) {
    return read_catalog_xml(std::span<char>(bytes.data(), bytes.size()), source_name, options,
                            lines);
}

Catalog read_catalog_xml(std::span<char> bytes, std::string_view source_name,
                         const ReadOptions& options, const LineIndex& lines) {
    std::size_t skip =
        std::string_view(bytes.data(), bytes.size()).starts_with("\xEF\xBB\xBF") ? 3 : 0;
    std::string_view buffer(bytes.data() + skip, bytes.size() - skip);
    if (options.xml_stream) {
        if (auto catalog = read_catalog_xml_stream(buffer, lines, options)) {
            return std::move(*catalog);
        }
    }
    pugi::xml_document doc;
    auto result = doc.load_buffer_inplace(
        bytes.data() + skip, buffer.size(),
        pugi::parse_default | pugi::parse_doctype | pugi::parse_embed_pcdata, pugi::encoding_utf8);
    if (!result) {
        std::size_t off = result.offset < 0 ? 0 : static_cast<std::size_t>(result.offset);
        auto pos = lines.position(off);
        std::string hint;
        if (off + 16 >= buffer.size()) {
            hint = " (the document ends early: is it truncated?)";
        }
        throw InputError(fmt::format("{}:{}:{}: malformed XML: {}{}", source_name, pos.line,
                                     pos.column, result.description(), hint));
    }
    XmlCatalogReader reader(lines, source_name, options);
    return reader.read(doc);
}

} // namespace dataflow::sdmx

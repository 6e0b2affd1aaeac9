// The streaming SDMX-ML reader. Its rule: read exactly what the pugixml reader (xml_reader.cpp,
// parse_default | parse_doctype | parse_embed_pcdata) reads, or give up. It accepts a strict
// subset of what pugixml accepts (ASCII names, the five predefined entities and references to
// Unicode scalar values, no DTD, no NUL byte, nothing but whitespace, comments and processing
// instructions around the root) and decodes text and attribute values as pugixml does: text
// line ends by parse_eol (CR LF and CR to LF), attribute whitespace by parse_wconv_attribute
// (CR LF to one space, CR, LF and TAB to a space), whitespace-only text runs dropped. Whatever
// would make the pugixml reader throw (a depth beyond the limit, a root that is not a dataflow
// list, no dataflows, ...) makes this one give up, so errors are always that reader's.

#include "sdmx/xml_stream.hpp"

#include "sdmx/xml_stream_reader.hpp"
#include "util/strings.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

namespace dataflow::sdmx::xml_stream_detail {

Catalog StreamReader::read() {
    // A NUL byte ends the document for pugixml: every scan below gives up at one (find_byte(),
    // without_nul(); names and whitespace stop at it, and no rule accepts it next).
    m_bindings.push_back({"xml", {NsKind::other, 0}});
    m_frames.reserve(16);
    m_done_to = m_begin;
    const char* p = misc(m_begin);
    if (p == m_end) {
        give_up(); // no root element
    }
    p = start_tag(p); // the root
    p = body(p);
    if (p != nullptr && misc(p) != m_end) {
        give_up(); // a second root
    }
    if (m_catalog.dataflows.empty() && !m_saw_dataflows && !m_saw_categories) {
        give_up(); // the pugixml reader says what the message holds instead
    }
    if (!m_facts_derived) {
        derive_annotation_facts(m_catalog);
    }
    return std::move(m_catalog);
}

/// The elements from `p` until the root closes; returns the position after it, or nullptr when
/// the second reader read the rest.
const char* StreamReader::body(const char* p) {
    while (m_depth > 0) {
        const char* q = skip_space(p, m_end); // most runs are indentation: no memchr for them
        const char* lt = q < m_end && *q == '<' ? q : find_byte(q, m_end, '<');
        if (lt != p && collects_text(top().role)) {
            std::string_view raw(p, static_cast<std::size_t>(lt - p));
            if (!whitespace_only(raw)) { // pugixml drops whitespace-only runs
                top().text.add(raw, false);
            }
        }
        p = lt;
        char next = p + 1 < m_end ? p[1] : '\0';
        if (next == '/') {
            p = end_tag(p);
        } else if (next == '?') {
            p = skip_pi(p);
        } else if (next == '!') {
            p = std::string_view(p, static_cast<std::size_t>(m_end - p)).starts_with("<!--")
                    ? skip_comment(p)
                    : cdata(p);
        } else {
            if (p == m_split_at && take_rest()) {
                return nullptr;
            }
            if (m_second && m_split->cancelled()) {
                give_up();
            }
            p = start_tag(p);
        }
    }
    return p;
}

/// Skips whitespace, comments and processing instructions; returns the first other byte (a '<'
/// that starts a tag) or the end.
const char* StreamReader::misc(const char* p) {
    for (;;) {
        while (p < m_end && is(*p, k_space)) {
            ++p;
        }
        if (p == m_end) {
            return p;
        }
        std::string_view rest(p, static_cast<std::size_t>(m_end - p));
        if (rest.starts_with("<?")) {
            p = skip_pi(p);
        } else if (rest.starts_with("<!--")) {
            p = skip_comment(p);
        } else if (rest.starts_with("<") && rest.size() > 1 && is(rest[1], k_name_start)) {
            return p;
        } else {
            give_up(); // text, a DTD, CDATA outside the root
        }
    }
}

const char* StreamReader::skip_pi(const char* p) const {
    const char* q = p + 2;
    if (q >= m_end || !is(*q, k_name_start)) {
        give_up();
    }
    while (q < m_end && is(*q, k_name)) {
        ++q;
    }
    std::string_view rest(q, static_cast<std::size_t>(m_end - q));
    auto at = rest.find("?>");
    if (at == std::string_view::npos) {
        give_up();
    }
    without_nul(rest.substr(0, at));
    return q + at + 2;
}

const char* StreamReader::skip_comment(const char* p) const {
    std::string_view rest(p + 4, static_cast<std::size_t>(m_end - p - 4));
    auto at = rest.find("-->");
    if (at == std::string_view::npos) {
        give_up();
    }
    without_nul(rest.substr(0, at));
    return p + 4 + at + 3;
}

const char* StreamReader::cdata(const char* p) {
    std::string_view rest(p, static_cast<std::size_t>(m_end - p));
    if (!rest.starts_with("<![CDATA[")) {
        give_up();
    }
    rest.remove_prefix(9);
    auto at = rest.find("]]>");
    if (at == std::string_view::npos) {
        give_up();
    }
    auto content = without_nul(rest.substr(0, at));
    if (collects_text(top().role)) {
        top().text.add(content, true);
    }
    return rest.data() + at + 3;
}

const char* StreamReader::start_tag(const char* p) {
    const char* q = p + 1;
    if (q >= m_end || !is(*q, k_name_start)) {
        give_up();
    }
    const char* name = q;
    q = skip_name(q, m_end);
    std::string_view qname(name, static_cast<std::size_t>(q - name));
    m_attrs.clear();
    for (;;) {
        if (q >= m_end) {
            give_up();
        }
        if (*q == '>') {
            m_name_at = name;
            open(qname, false);
            return q + 1;
        }
        if (*q == '/') {
            if (q + 1 < m_end && q[1] == '>') {
                m_name_at = name;
                m_at = q;
                open(qname, true);
                return q + 2;
            }
            give_up();
        }
        if (!is(*q, k_space)) {
            give_up(); // also an attribute right after the previous one's closing quote
        }
        q = skip_space(q, m_end);
        if (q >= m_end || *q == '>' || *q == '/') {
            continue;
        }
        if (!is(*q, k_name_start)) {
            give_up();
        }
        const char* an = q;
        q = skip_name(q, m_end);
        std::string_view aname(an, static_cast<std::size_t>(q - an));
        while (q < m_end && is(*q, k_space)) {
            ++q;
        }
        if (q >= m_end || *q != '=') {
            give_up();
        }
        ++q;
        while (q < m_end && is(*q, k_space)) {
            ++q;
        }
        if (q >= m_end || (*q != '"' && *q != '\'')) {
            give_up();
        }
        const char* v = q + 1;
        const char* close = find_byte(v, m_end, *q);
        m_attrs.push_back({aname, std::string_view(v, static_cast<std::size_t>(close - v))});
        q = close + 1;
    }
}

const char* StreamReader::end_tag(const char* p) {
    const char* q = p + 2;
    std::string_view name = top().name;
    // The open tag's name lies before `q`, so 32 readable bytes at `q` cover both.
    if (static_cast<std::size_t>(m_end - q) < name.size() ||
        !same_bytes(q, name.data(), name.size(), m_end - q >= 32)) {
        give_up();
    }
    q += name.size();
    while (q < m_end && is(*q, k_space)) {
        ++q;
    }
    if (q >= m_end || *q != '>') {
        give_up(); // also </ab> closing <a>
    }
    m_at = q;
    close();
    return q + 1;
}

void StreamReader::open(std::string_view name, bool empty) {
    if (m_depth + 1 > m_options.max_depth) {
        give_up();
    }
    const std::size_t mark = m_bindings.size();
    for (const auto& a : m_attrs) {
        if (a.name.starts_with("xmlns")) {
            if (a.name.size() == 5) {
                m_bindings.push_back({{}, uri_ns(a.raw)});
            } else if (a.name[5] == ':') {
                m_bindings.push_back({a.name.substr(6), uri_ns(a.raw)});
            }
        }
    }
    std::size_t colon = std::string_view::npos;
    for (std::size_t i = 0; i < name.size(); ++i) {
        if (name[i] == ':') {
            colon = i;
            break;
        }
    }
    std::string_view prefix =
        colon == std::string_view::npos ? std::string_view{} : name.substr(0, colon);
    std::string_view local = colon == std::string_view::npos ? name : name.substr(colon + 1);
    Role role = Role::skip;
    if (m_depth == 0) {
        role = open_root(local, resolve(prefix));
    } else {
        const Frame& parent = top();
        switch (parent.role) {
        case Role::walk:
            role = walk_child(parent, local, resolve(prefix));
            break;
        case Role::flow:
            role = flow_child(local, resolve(prefix));
            break;
        case Role::annotations:
            if (local == "Annotation") {
                role = Role::annotation;
                attr_into("id", m_annotation.id); // the rest is empty: moved out or cleared
                m_annotation.title.clear();
                m_annotation.type.clear();
                m_annotation.url.clear();
                m_annotation.texts.clear();
                m_pending_title.clear();
                m_pending_value.clear();
                m_pending_url.clear();
                m_pending_size = 0;
                m_maybe = !m_options.all_annotations && !is_fact_annotation(m_annotation.id);
            }
            break;
        case Role::annotation:
            role = annotation_child(local);
            break;
        case Role::structure:
            if (!m_structure_decided && local == "Ref") {
                m_structure_decided = true;
                attr_into("id", m_flow->structure.id);
                attr_into("agencyID", m_flow->structure.agency_id);
                attr_into("version", m_flow->structure.version);
            } else if (!m_structure_decided && local == "URN") {
                m_structure_decided = true;
                role = Role::structure_urn;
            }
            break;
        case Role::key_family_ref:
            role = local == "KeyFamilyID"         ? Role::kf_id
                   : local == "KeyFamilyAgencyID" ? Role::kf_agency
                   : local == "Version"           ? Role::kf_version
                                                  : Role::skip;
            break;
        default:
            break;
        }
    }
    if (role == Role::flow && m_split != nullptr && !m_second && m_catalog.dataflows.size() == 1) {
        publish(mark); // the first Dataflow: the second reader can start
    }
    if (m_depth == m_frames.size()) {
        m_frames.emplace_back();
    }
    Frame& f = m_frames[m_depth++];
    f.name = name;
    f.local = local;
    f.bindings_mark = mark;
    f.role = role;
    f.text.clear();
    if (role == Role::flow_name || role == Role::flow_description || role == Role::ann_text) {
        lang_into(f.lang);
    }
    if (empty) {
        close();
    }
}

Role StreamReader::open_root(std::string_view local, Ns ns) {
    if (!ns.sdmx() || local == "Error" || (local != "Structure" && local != "RegistryInterface")) {
        give_up(); // the pugixml reader names what it is instead
    }
    m_catalog.format = fmt::format("SDMX-ML {}.{}", ns.version / 10, ns.version % 10);
    return Role::walk;
}

/// The rules of XmlCatalogReader::walk_structure(), in its order.
Role StreamReader::walk_child(const Frame& parent, std::string_view local, Ns ns) {
    if (ns.sdmx() && local == "Dataflow" && parent.local == "Dataflows") {
        m_flow = &m_catalog.dataflows.emplace_back();
        m_flow_at = m_name_at;
        m_flow->source_line =
            m_lines.line(static_cast<std::size_t>(m_name_at - m_begin), m_last_line);
        m_last_line = m_flow->source_line;
        // The first attribute of each name counts, as with xml_node::attribute().
        attr_into("id", m_flow->id);
        attr_into("agencyID", m_flow->agency_id);
        attr_into("version", m_flow->version);
        attr_into("urn", m_flow->urn);
        if (const Attr* f = attr("isFinal")) {
            auto v = attribute_value(f->raw);
            m_flow->is_final = v == "true" || v == "1";
        }
        m_structure_children = 0;
        return Role::flow;
    }
    if (ns.sdmx() && local == "KeyFamily" && parent.local == "KeyFamilies") {
        return Role::skip;
    }
    if (ns.sdmx() && local == "Dataflows") {
        m_saw_dataflows = true;
        return Role::walk;
    }
    if (ns.sdmx() && ((local == "CategoryScheme" && parent.local == "CategorySchemes") ||
                      (local == "Categorisation" && parent.local == "Categorisations"))) {
        give_up(); // category schemes and categorisations: the pugixml reader's
    }
    if (ns.sdmx() && (local == "CategorySchemes" || local == "Categorisations")) {
        m_saw_categories = true;
        return Role::walk;
    }
    if (ns.kind == NsKind::message && local == "Prepared" && parent.local == "Header" &&
        m_catalog.prepared.empty()) {
        return Role::prepared;
    }
    return Role::walk;
}

Role StreamReader::flow_child(std::string_view local, Ns ns) {
    if (!ns.sdmx()) {
        return Role::skip;
    }
    if (local == "Name") {
        return Role::flow_name;
    }
    if (local == "Description") {
        return Role::flow_description;
    }
    if (local == "Annotations") {
        return Role::annotations;
    }
    if (local == "Structure" || local == "KeyFamilyRef") {
        // Several would each overwrite parts of the reference: the pugixml reader's.
        if (++m_structure_children > 1) {
            give_up();
        }
        m_structure_decided = false;
        return local == "Structure" ? Role::structure : Role::key_family_ref;
    }
    if (local == "KeyFamilyID" || local == "KeyFamilyAgencyID") {
        give_up(); // 2.0 references directly under the Dataflow
    }
    return Role::skip;
}

Role StreamReader::annotation_child(std::string_view local) {
    if (local == "AnnotationTitle") {
        return Role::ann_title;
    }
    if (local == "AnnotationType") {
        return Role::ann_type;
    }
    if (local == "AnnotationValue") {
        return Role::ann_value;
    }
    if (local == "AnnotationURL") {
        return Role::ann_url;
    }
    if (local == "AnnotationText") {
        return Role::ann_text;
    }
    return Role::skip;
}

void StreamReader::close_annotation() {
    // What XmlCatalogReader's is_fact() reads: the id, or the last AnnotationType's text.
    if (m_options.all_annotations || is_fact_annotation(m_annotation.id) ||
        is_fact_annotation(m_annotation.type)) {
        m_pending_title.take_into(m_annotation.title);
        m_pending_url.take_into(m_annotation.url);
        if (m_annotation.title.empty()) {
            m_pending_value.take_into(m_annotation.title);
        }
        for (std::size_t i = 0; i < m_pending_size; ++i) {
            m_annotation.texts.push_back({std::move(m_pending[i].lang), m_pending[i].text.take()});
        }
        m_flow->annotations.push_back(std::move(m_annotation));
    }
}

void StreamReader::close() {
    Frame& f = top();
    switch (f.role) {
    case Role::flow:
        if (m_options.done_with &&
            static_cast<std::size_t>(m_flow_at - m_done_to) >= k_done_with_step) {
            m_options.done_with(m_done_to, m_flow_at);
            m_done_to = m_flow_at;
        }
        if (m_flow->agency_id.empty() && !m_flow->urn.empty()) {
            StructureRef own;
            if (parse_structure_urn(m_flow->urn, own)) {
                m_flow->agency_id = own.agency_id;
            }
        }
        if (m_second) {
            // In chunks, which the first reader frees as it takes them: one vector of them all
            // beside its own would add their size to the peak (12 MB on 50,000 flows).
            if (m_catalog.dataflows.size() == k_chunk_flows) {
                m_chunks.push_back(std::move(m_catalog.dataflows));
                m_catalog.dataflows = {};
                m_catalog.dataflows.reserve(k_chunk_flows);
            }
        } else if (m_catalog.dataflows.size() == 1) {
            // Room for as many more flows as the rest of the document holds at this one's size
            // (the pugixml reader counts them first), so the vector does not grow flow by flow.
            // At most as many bytes as the document's, whatever its first flow's size.
            auto bytes = static_cast<std::size_t>(m_at - m_flow_at) + 1;
            auto most = static_cast<std::size_t>(m_end - m_begin) / sizeof(Dataflow);
            m_catalog.dataflows.reserve(
                std::min(most, 1 + static_cast<std::size_t>(m_end - m_at) / bytes));
        }
        break;
    case Role::flow_name:
        m_flow->names.emplace_back().lang = std::move(f.lang);
        f.text.take_into(m_flow->names.back().text);
        break;
    case Role::flow_description:
        m_flow->descriptions.emplace_back().lang = std::move(f.lang);
        f.text.take_into(m_flow->descriptions.back().text);
        break;
    case Role::annotation:
        close_annotation();
        break;
    case Role::ann_title:
        m_pending_title.assign(f.text); // the last one counts
        break;
    case Role::ann_type:
        f.text.take_into(m_annotation.type);
        break;
    case Role::ann_value:
        m_pending_value.assign(f.text);
        break;
    case Role::ann_url:
        m_pending_url.assign(f.text);
        break;
    case Role::ann_text:
        if (m_maybe) {
            if (m_pending_size == m_pending.size()) {
                m_pending.emplace_back();
            }
            auto& pending = m_pending[m_pending_size++];
            pending.lang = std::move(f.lang);
            pending.text.assign(f.text);
        } else {
            m_annotation.texts.push_back({std::move(f.lang), f.text.take()});
        }
        break;
    case Role::structure:
        if (m_structure_decided) {
            break;
        }
        [[fallthrough]]; // SDMX 3.0: the URN as the element's text
    case Role::structure_urn:
        m_flow->structure.urn = std::string(util::trim(f.text.take()));
        parse_structure_urn(m_flow->structure.urn, m_flow->structure);
        break;
    case Role::kf_id:
        m_flow->structure.id = std::string(util::trim(f.text.take()));
        break;
    case Role::kf_agency:
        m_flow->structure.agency_id = std::string(util::trim(f.text.take()));
        break;
    case Role::kf_version:
        m_flow->structure.version = std::string(util::trim(f.text.take()));
        break;
    case Role::prepared:
        m_catalog.prepared = std::string(util::trim(f.text.take()));
        break;
    default:
        break;
    }
    m_bindings.resize(f.bindings_mark);
    --m_depth;
}

} // namespace dataflow::sdmx::xml_stream_detail

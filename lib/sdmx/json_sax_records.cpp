// The records of an SDMX-JSON structure message as the SAX handler meets them: which key fills
// which field, and, when a record's object ends, its checks in the order the fields are read
// (id, agencyID, version, urn, names / name, descriptions / description, annotations, ...: the
// first failing one is the record's error) and the record built from its fields.

#include "sdmx/categories.hpp"
#include "sdmx/json_sax.hpp"

#include <fmt/format.h>

#include <iterator>

namespace dataflow::sdmx::json_sax {

namespace {

bool absent_or_null(Kind kind) {
    return kind == Kind::absent || kind == Kind::null;
}

/// Errors name a field relative to its record (`id`, `names.en`); locate() prefixes the record.
MaybeError string_error(const StrField& field, std::string_view key) {
    if (field.ok()) {
        return std::nullopt;
    }
    return TypeError{std::string(key), "a string"};
}

/// `multi` (an object of language -> text) when given, else `single` (a string).
MaybeError texts_error(const TextsField& multi, const StrField& single, std::string_view multi_key,
                       std::string_view single_key) {
    if (!multi.given()) {
        return string_error(single, single_key);
    }
    if (multi.kind != Kind::object) {
        return TypeError{std::string(multi_key), "an object of language -> text"};
    }
    if (multi.not_string != TextsField::k_none) {
        return TypeError{fmt::format("{}.{}", multi_key, multi.items[multi.not_string].lang),
                         "a string"};
    }
    return std::nullopt;
}

MaybeError array_error(Kind kind, std::string_view key) {
    if (absent_or_null(kind) || kind == Kind::array) {
        return std::nullopt;
    }
    return TypeError{std::string(key), "an array"};
}

void locate(TypeError& error, const std::string& record) {
    error.path = fmt::format("{}.{}", record, error.path);
}

/// The texts of a record: `multi` when given, else `single` (when not empty) in the message's
/// first content language (a stand-in until the end of the message).
void take_texts(TextsField& multi, StrField& single, std::vector<LocalizedText>& out,
                std::size_t& stand_ins) {
    if (multi.given()) {
        out = std::move(multi.items);
        return;
    }
    if (single.kind == Kind::string && !single.value.empty()) {
        out.push_back({std::string(Parsed::k_stand_in_language), std::move(single.value)});
        ++stand_ins;
    }
}

/// Keeps the first error of an array of records.
void keep_first(MaybeError& first, MaybeError& error) {
    if (!first) {
        first = std::move(error);
    }
}

} // namespace

std::string Handler::flow_path() const {
    return fmt::format("data.dataflows[{}]", m_flow.index);
}

std::string Handler::node_path(std::size_t levels) const {
    std::string path = fmt::format("data.categorySchemes[{}]", m_nodes[0].index);
    for (std::size_t i = 1; i < levels; ++i) {
        path += fmt::format(".categories[{}]", m_nodes[i].index);
    }
    return path;
}

void Handler::key_flow(std::string_view k) {
    FlowBuilder& f = m_flow;
    m_slot = Slot::str;
    if (k == "id") {
        m_str = &f.id;
    } else if (k == "agencyID") {
        m_str = &f.agency;
    } else if (k == "version") {
        m_str = &f.version;
    } else if (k == "urn") {
        m_str = &f.urn;
    } else if (k == "name") {
        m_str = &f.name;
    } else if (k == "description") {
        m_str = &f.description;
    } else if (k == "structure") {
        m_str = &f.structure;
    } else if (k == "names" || k == "descriptions") {
        m_texts = k == "names" ? &f.names : &f.descriptions;
        m_slot = Slot::texts;
    } else if (k == "isFinal") {
        m_slot = Slot::is_final;
    } else if (k == "links") {
        m_slot = Slot::links;
    } else if (k == "annotations") {
        m_slot = Slot::annotations;
    } else {
        m_slot = Slot::ignore;
    }
}

void Handler::key_annotation(std::string_view k) {
    AnnotationBuilder& a = m_annotation;
    m_slot = Slot::str;
    if (k == "id") {
        m_str = &a.id;
    } else if (k == "title") {
        m_str = &a.title;
    } else if (k == "type") {
        m_str = &a.type;
    } else if (k == "value") {
        m_str = &a.value;
    } else if (k == "text") {
        m_str = &a.text;
    } else if (k == "texts") {
        m_texts = &a.texts;
        m_slot = Slot::texts;
    } else {
        m_slot = Slot::ignore;
    }
}

void Handler::key_node(std::string_view k) {
    NodeBuilder& n = m_nodes[m_level - 1];
    bool scheme = m_level == 1;
    m_slot = Slot::str;
    if (k == "id") {
        m_str = &n.id;
    } else if (k == "name") {
        m_str = &n.name;
    } else if (scheme && k == "agencyID") {
        m_str = &n.agency;
    } else if (scheme && k == "version") {
        m_str = &n.version;
    } else if (k == "names") {
        m_texts = &n.names;
        m_slot = Slot::texts;
    } else if (k == "categories") {
        m_slot = Slot::categories;
    } else {
        m_slot = Slot::ignore;
    }
}

void Handler::key_catzn(std::string_view k) {
    CatznBuilder& c = m_catzn;
    m_slot = Slot::str;
    if (k == "id") {
        m_str = &c.id;
    } else if (k == "agencyID") {
        m_str = &c.agency;
    } else if (k == "version") {
        m_str = &c.version;
    } else if (k == "source") {
        m_str = &c.source;
    } else if (k == "target") {
        m_str = &c.target;
    } else {
        m_slot = Slot::ignore;
    }
}

void Handler::finish_flow() {
    FlowBuilder& b = m_flow;
    MaybeError e = string_error(b.id, "id");
    e = e ? e : string_error(b.agency, "agencyID");
    e = e ? e : string_error(b.version, "version");
    e = e ? e : string_error(b.urn, "urn");
    e = e ? e : texts_error(b.names, b.name, "names", "name");
    e = e ? e : texts_error(b.descriptions, b.description, "descriptions", "description");
    e = e ? e : array_error(b.annotations_kind, "annotations");
    if (e) {
        locate(*e, flow_path());
    } else if (b.annotations_error) {
        e = std::move(b.annotations_error);
    }
    if (e) {
        keep_first(m_out.flows_error, e);
        return;
    }
    Dataflow flow;
    flow.id = std::move(b.id.value);
    flow.agency_id = std::move(b.agency.value);
    flow.version = std::move(b.version.value);
    flow.urn = std::move(b.urn.value);
    flow.is_final = b.is_final;
    take_texts(b.names, b.name, flow.names, m_out.stand_ins);
    take_texts(b.descriptions, b.description, flow.descriptions, m_out.stand_ins);
    if (b.structure.kind == Kind::string) {
        flow.structure.urn = std::move(b.structure.value);
        parse_structure_urn(flow.structure.urn, flow.structure);
    }
    if (flow.urn.empty() && b.links_kind == Kind::array && b.self_urn) {
        flow.urn = std::move(*b.self_urn);
    }
    flow.annotations.assign(std::make_move_iterator(m_annotations.begin()),
                            std::make_move_iterator(m_annotations.end()));
    m_out.flows.push_back(std::move(flow));
}

void Handler::finish_annotation() {
    AnnotationBuilder& b = m_annotation;
    MaybeError e = string_error(b.id, "id");
    e = e ? e : string_error(b.title, "title");
    e = e ? e : string_error(b.type, "type");
    e = e ? e : texts_error(b.texts, b.text, "texts", "text");
    if (e) {
        locate(*e, fmt::format("{}.annotations[{}]", flow_path(), b.index));
        keep_first(m_flow.annotations_error, e);
        return;
    }
    if (!m_all_annotations && !is_fact_annotation(b.id.value) &&
        !is_fact_annotation(b.type.value)) {
        return; // checked, not needed
    }
    Annotation ann;
    ann.id = std::move(b.id.value);
    ann.title = std::move(b.title.value);
    ann.type = std::move(b.type.value);
    if (ann.title.empty() && b.value.kind == Kind::string) {
        ann.title = std::move(b.value.value);
    }
    take_texts(b.texts, b.text, ann.texts, m_out.stand_ins);
    m_annotations.push_back(std::move(ann));
}

/// A texts object ends: its items, in one allocation, and the first that is not a string.
void Handler::finish_texts() {
    m_texts->items.assign(std::make_move_iterator(m_text_items.begin()),
                          std::make_move_iterator(m_text_items.end()));
    for (std::size_t i = 0; i < m_text_ok.size(); ++i) {
        if (m_text_ok[i] == 0) {
            m_texts->not_string = i;
            break;
        }
    }
}

void Handler::finish_link() {
    if (m_link.rel.kind == Kind::string && m_link.rel.value == "self" &&
        m_link.urn.kind == Kind::string) {
        m_flow.self_urn = std::move(m_link.urn.value);
    }
}

/// A category scheme (level 0) or a category ends: checked, then added to the schemes or to
/// its parent's categories.
void Handler::finish_node() {
    std::size_t level = --m_level;
    NodeBuilder& b = m_nodes[level];
    MaybeError e = string_error(b.id, "id");
    if (level == 0) {
        e = e ? e : string_error(b.agency, "agencyID");
        e = e ? e : string_error(b.version, "version");
    }
    e = e ? e : texts_error(b.names, b.name, "names", "name");
    e = e ? e : array_error(b.categories_kind, "categories");
    if (e) {
        locate(*e, node_path(level + 1));
    } else if (b.children_error) {
        e = std::move(b.children_error);
    }
    MaybeError& first = level == 0 ? m_out.schemes_error : m_nodes[level - 1].children_error;
    if (e) {
        keep_first(first, e);
        return;
    }
    if (level == 0) {
        CategoryScheme scheme;
        scheme.id = std::move(b.id.value);
        scheme.agency_id = std::move(b.agency.value);
        scheme.version = std::move(b.version.value);
        take_texts(b.names, b.name, scheme.names, m_out.stand_ins);
        scheme.categories = std::move(b.children);
        m_out.schemes.push_back(std::move(scheme));
        return;
    }
    Category category;
    category.id = std::move(b.id.value);
    take_texts(b.names, b.name, category.names, m_out.stand_ins);
    category.children = std::move(b.children);
    m_nodes[level - 1].children.push_back(std::move(category));
}

void Handler::finish_catzn() {
    CatznBuilder& b = m_catzn;
    MaybeError e = string_error(b.id, "id");
    e = e ? e : string_error(b.agency, "agencyID");
    e = e ? e : string_error(b.version, "version");
    e = e ? e : string_error(b.source, "source");
    e = e ? e : string_error(b.target, "target");
    if (e) {
        locate(*e, fmt::format("data.categorisations[{}]", b.index));
        keep_first(m_out.links_error, e);
        return;
    }
    Categorisation c;
    c.id = std::move(b.id.value);
    c.agency_id = std::move(b.agency.value);
    c.version = std::move(b.version.value);
    parse_dataflow_urn(b.source.value, c);
    parse_category_urn(b.target.value, c);
    m_out.links.push_back(std::move(c));
}

} // namespace dataflow::sdmx::json_sax

// The SDMX-JSON SAX handler: the events of RapidJSON's reader routed by what the innermost open
// container is (Role) and what the last key names (Slot); a record (dataflow, annotation, scheme,
// category, categorisation) is checked and built when its object ends (json_sax_records.cpp).

#include "sdmx/json_sax.hpp"

#include <fmt/format.h>

#include <cerrno>
#include <cmath>
#include <cstdlib>

namespace dataflow::sdmx::json_sax {

bool Parsed::has_data_key(std::string_view name) const {
    for (const auto& k : data_keys) {
        if (k.name == name) {
            return true;
        }
    }
    return false;
}

template <class T>
std::size_t KeyPlaces::place(std::vector<T>& items, std::string_view key, std::string T::*name) {
    if (items.size() < k_scan_limit) {
        for (std::size_t i = 0; i < items.size(); ++i) {
            if (items[i].*name == key) {
                return i;
            }
        }
    } else {
        if (m_index.empty()) {
            for (std::size_t i = 0; i < items.size(); ++i) {
                m_index.emplace(items[i].*name, i);
            }
        }
        auto [it, fresh] = m_index.emplace(std::string(key), items.size());
        if (!fresh) {
            return it->second;
        }
    }
    items.emplace_back();
    items.back().*name = key; // a copy: the parser reuses its buffer
    return items.size() - 1;
}

namespace {

/// What an array-valued slot's array is.
Role array_role(Slot slot) {
    switch (slot) {
    case Slot::languages:
        return Role::languages;
    case Slot::flows:
        return Role::flows;
    case Slot::schemes:
        return Role::schemes;
    case Slot::catzns:
        return Role::catzns;
    case Slot::links:
        return Role::links;
    case Slot::annotations:
        return Role::annotations;
    default:
        return Role::categories;
    }
}

} // namespace

Json& JsonBuilder::slot() {
    if (m_stack.empty()) {
        return *m_root;
    }
    Json& top = *m_stack.back();
    if (top.is_array()) {
        top.emplace_back();
        return top.back();
    }
    return *m_pending;
}

void JsonBuilder::open(Json::value_t type) {
    Json& j = slot();
    j = Json(type);
    m_stack.push_back(&j);
}

Handler::Handler(Parsed& out, std::size_t max_depth, bool all_annotations)
    : m_out(out), m_max_depth(max_depth), m_all_annotations(all_annotations) {
    m_frames.reserve(64);
    push(Role::document);
}

bool Handler::open(Kind kind) {
    if (++m_depth > m_max_depth) {
        return stop(Stop::too_deep);
    }
    Frame& top = m_frames.back();
    if (top.role == Role::skip) {
        ++top.count;
        return true;
    }
    if (top.role == Role::errors || (top.role == Role::root && m_slot == Slot::errors)) {
        if (top.role == Role::root) {
            m_errors.begin(m_out.errors);
            push(Role::errors);
        }
        m_errors.open(kind == Kind::object ? Json::value_t::object : Json::value_t::array);
        return true;
    }
    on_open(kind);
    return true;
}

bool Handler::close() {
    --m_depth;
    Frame& top = m_frames.back();
    if (top.role == Role::skip) {
        if (top.count == 0) {
            m_frames.pop_back();
        } else {
            --top.count;
        }
        return true;
    }
    if (top.role == Role::errors) {
        if (m_errors.close()) {
            m_frames.pop_back();
        }
        return true;
    }
    Frame ended = top;
    m_frames.pop_back();
    on_close(ended);
    if (ended.role == Role::flow && m_on_flow_end && !m_out.flows_error) {
        m_on_flow_end(*this);
    }
    return true;
}

void Handler::on_scalar(Kind kind, const std::string_view* s) {
    Frame& top = m_frames.back();
    switch (top.role) {
    case Role::document:
        m_out.root = kind;
        return;
    case Role::languages:
        if (top.count++ == 0 && kind == Kind::string) {
            m_out.first_language = std::string(*s);
        }
        return;
    case Role::count:
    case Role::links:
        ++top.count;
        return;
    case Role::flows:
    case Role::annotations:
    case Role::schemes:
    case Role::categories:
    case Role::catzns:
        element_error(top);
        ++top.count;
        return;
    default:
        on_field(kind, s);
        return;
    }
}

/// A scalar (or, with `s` null, a container) as the value of the last key.
void Handler::on_field(Kind kind, const std::string_view* s) {
    switch (m_slot) {
    case Slot::str:
        m_str->kind = kind;
        if (s != nullptr) {
            m_str->value.assign(s->data(), s->size());
        } else {
            m_str->value.clear();
        }
        return;
    case Slot::texts:
        m_texts->kind = kind;
        m_texts->items.clear();
        m_texts->not_string = TextsField::k_none;
        return;
    case Slot::text:
        m_text_ok[m_entry] = kind == Kind::string;
        if (s != nullptr) {
            m_text_items[m_entry].text.assign(s->data(), s->size());
        } else {
            m_text_items[m_entry].text.clear();
        }
        return;
    case Slot::is_final:
        m_flow.is_final = kind == Kind::boolean ? std::optional<bool>(m_bool) : std::nullopt;
        return;
    case Slot::data:
        reset_data();
        m_out.data = kind;
        return;
    case Slot::meta:
        reset_meta();
        m_out.meta = kind;
        return;
    case Slot::ignore:
    case Slot::errors:
    case Slot::other_array:
        return;
    default:
        assign_array(kind);
        return;
    }
}

void Handler::on_open(Kind kind) {
    Frame& top = m_frames.back();
    switch (top.role) {
    case Role::document:
        m_out.root = kind;
        push(kind == Kind::object ? Role::root : Role::skip);
        return;
    case Role::languages:
    case Role::count:
        ++top.count;
        push(Role::skip);
        return;
    case Role::links:
        ++top.count;
        if (kind == Kind::object) {
            m_link.reset();
            push(Role::link);
        } else {
            push(Role::skip);
        }
        return;
    case Role::flows:
    case Role::annotations:
    case Role::schemes:
    case Role::categories:
    case Role::catzns:
        open_element(top, kind);
        return;
    default:
        open_field(kind);
        return;
    }
}

/// A container as the value of the last key.
void Handler::open_field(Kind kind) {
    bool object = kind == Kind::object;
    bool array = kind == Kind::array;
    switch (m_slot) {
    case Slot::data:
        reset_data();
        m_out.data = kind;
        push(object ? Role::data : Role::skip);
        return;
    case Slot::meta:
        reset_meta();
        m_out.meta = kind;
        push(object ? Role::meta : Role::skip);
        return;
    case Slot::texts:
        on_field(kind, nullptr);
        if (object) {
            m_text_places.reset();
            m_text_items.clear();
            m_text_ok.clear();
        }
        push(object ? Role::texts : Role::skip);
        return;
    case Slot::other_array:
        push(array ? Role::count : Role::skip, m_data_key);
        return;
    case Slot::ignore:
    case Slot::str:
    case Slot::text:
    case Slot::is_final:
    case Slot::errors: // a container where a scalar goes (errors: see open())
        on_field(kind, nullptr);
        push(Role::skip);
        return;
    default: // an array-valued field
        assign_array(kind);
        push(array ? array_role(m_slot) : Role::skip, m_data_key);
        return;
    }
}

/// A new element of an array of records (the element's own checks come when it ends).
void Handler::open_element(Frame& top, Kind kind) {
    Role role = top.role;
    std::size_t index = top.count;
    MaybeError& error = role == Role::flows         ? m_out.flows_error
                        : role == Role::annotations ? m_flow.annotations_error
                        : role == Role::schemes     ? m_out.schemes_error
                        : role == Role::catzns      ? m_out.links_error
                                                    : m_nodes[m_level - 1].children_error;
    if (kind != Kind::object || error) {
        element_error(top); // (only records the first error)
        ++top.count;
        push(Role::skip);
        return;
    }
    ++top.count;
    switch (role) {
    case Role::flows:
        m_flow.reset(index);
        m_annotations.clear();
        push(Role::flow);
        return;
    case Role::annotations:
        m_annotation.reset(index);
        push(Role::annotation);
        return;
    case Role::catzns:
        m_catzn.reset(index);
        push(Role::catzn);
        return;
    default: // a category scheme or a category
        if (role == Role::schemes) {
            m_level = 0;
        }
        if (m_nodes.size() <= m_level) {
            m_nodes.emplace_back();
        }
        m_nodes[m_level] = NodeBuilder{};
        m_nodes[m_level].index = index;
        ++m_level;
        push(Role::node);
        return;
    }
}

/// Element `top.count` of an array of records is not an object: the array's first error unless
/// it has one already (an object element with an error of its own is never passed here).
void Handler::element_error(Frame& top) {
    std::size_t i = top.count;
    switch (top.role) {
    case Role::flows:
        if (!m_out.flows_error) {
            m_out.flows_error = TypeError{fmt::format("data.dataflows[{}]", i), "an object"};
        }
        return;
    case Role::annotations:
        if (!m_flow.annotations_error) {
            m_flow.annotations_error =
                TypeError{fmt::format("{}.annotations[{}]", flow_path(), i), "an object"};
        }
        return;
    case Role::schemes:
        if (!m_out.schemes_error) {
            m_out.schemes_error =
                TypeError{fmt::format("data.categorySchemes[{}]", i), "an object"};
        }
        return;
    case Role::catzns:
        if (!m_out.links_error) {
            m_out.links_error = TypeError{fmt::format("data.categorisations[{}]", i), "an object"};
        }
        return;
    default: // categories
        if (auto& error = m_nodes[m_level - 1].children_error; !error) {
            error = TypeError{fmt::format("{}.categories[{}]", node_path(m_level), i), "an object"};
        }
        return;
    }
}

/// The value of an array-valued field starts (or a value of another type stands there).
void Handler::assign_array(Kind kind) {
    switch (m_slot) {
    case Slot::languages:
        m_out.first_language.reset();
        return;
    case Slot::flows:
        m_out.flows_kind = kind;
        m_out.flows.clear();
        m_out.flows_error.reset();
        return;
    case Slot::schemes:
        m_out.schemes_kind = kind;
        m_out.schemes.clear();
        m_out.schemes_error.reset();
        return;
    case Slot::catzns:
        m_out.links_kind = kind;
        m_out.links.clear();
        m_out.links_error.reset();
        return;
    case Slot::links:
        m_flow.links_kind = kind;
        m_flow.self_urn.reset();
        return;
    case Slot::annotations:
        m_flow.annotations_kind = kind;
        m_annotations.clear();
        m_flow.annotations_error.reset();
        return;
    case Slot::categories: {
        NodeBuilder& node = m_nodes[m_level - 1];
        node.categories_kind = kind;
        node.children.clear();
        node.children_error.reset();
        return;
    }
    default:
        return;
    }
}

void Handler::on_close(const Frame& ended) {
    switch (ended.role) {
    case Role::count:
    case Role::flows:
    case Role::schemes:
    case Role::catzns:
        m_out.data_keys[ended.key].array_size = ended.count;
        return;
    case Role::flow:
        finish_flow();
        return;
    case Role::annotation:
        finish_annotation();
        return;
    case Role::link:
        finish_link();
        return;
    case Role::texts:
        finish_texts();
        return;
    case Role::node:
        finish_node();
        return;
    case Role::catzn:
        finish_catzn();
        return;
    default:
        return;
    }
}

bool Handler::key_text(std::string_view k) {
    std::string_view name = k;
    switch (m_frames.back().role) {
    case Role::skip:
        return true;
    case Role::errors:
        m_errors.key(k);
        return true;
    case Role::root:
        key_root(name);
        return true;
    case Role::meta:
        m_str = &m_out.prepared;
        m_slot = name == "prepared"           ? Slot::str
                 : name == "contentLanguages" ? Slot::languages
                                              : Slot::ignore;
        return true;
    case Role::data:
        key_data(k);
        return true;
    case Role::flow:
        key_flow(name);
        return true;
    case Role::texts:
        m_entry = m_text_places.place(m_text_items, k, &LocalizedText::lang);
        m_text_ok.resize(m_text_items.size());
        m_slot = Slot::text;
        return true;
    case Role::link:
        m_str = name == "rel" ? &m_link.rel : &m_link.urn;
        m_slot = name == "rel" || name == "urn" ? Slot::str : Slot::ignore;
        return true;
    case Role::annotation:
        key_annotation(name);
        return true;
    case Role::node:
        key_node(name);
        return true;
    case Role::catzn:
        key_catzn(name);
        return true;
    default:
        m_slot = Slot::ignore;
        return true;
    }
}

void Handler::key_root(std::string_view k) {
    if (k == "data") {
        m_slot = Slot::data;
    } else if (k == "meta") {
        m_slot = Slot::meta;
    } else if (k == "errors") {
        m_slot = Slot::errors;
    } else {
        m_out.root_has_datasets = m_out.root_has_datasets || k == "dataSets";
        m_slot = Slot::ignore;
    }
}

void Handler::key_data(std::string_view k) {
    m_data_key = m_data_places.place(m_out.data_keys, k, &DataKey::name);
    DataKey& entry = m_out.data_keys[m_data_key];
    entry.array_size.reset();
    std::string_view name = entry.name;
    m_slot = name == "dataflows"         ? Slot::flows
             : name == "categorySchemes" ? Slot::schemes
             : name == "categorisations" ? Slot::catzns
                                         : Slot::other_array;
}

bool Handler::has_lone_surrogate(std::string_view s) {
    for (auto at = s.find('\xED'); at != std::string_view::npos; at = s.find('\xED', at + 1)) {
        if (at + 1 < s.size() && static_cast<unsigned char>(s[at + 1]) >= 0xB0) {
            return true;
        }
    }
    return false;
}

/// A number as nlohmann-json 3.11 read it: an integer token (no '.', 'e', 'E') that fits is an
/// int64 (negative) or a uint64, anything else strtod()'s double, refused when not finite.
bool Handler::RawNumber(const char* text, unsigned length, bool /*copy*/) {
    std::size_t index = m_numbers++;
    std::string own;
    for (const auto& [i, original] : m_number_texts) {
        if (i == index) {
            own = original;
            text = own.c_str();
            length = static_cast<unsigned>(own.size());
        }
    }
    // RapidJSON's non-insitu raw numbers are NUL-terminated copies.
    std::string_view token(text, length);
    bool integer = token.find_first_of(".eE") == std::string_view::npos;
    char* end = nullptr;
    if (integer && token.front() == '-') {
        errno = 0;
        long long v = std::strtoll(text, &end, 10);
        if (errno == 0 && end == text + length) {
            return scalar(Kind::number, nullptr, static_cast<Json::number_integer_t>(v));
        }
    } else if (integer) {
        errno = 0;
        unsigned long long v = std::strtoull(text, &end, 10);
        if (errno == 0 && end == text + length) {
            return scalar(Kind::number, nullptr, static_cast<Json::number_unsigned_t>(v));
        }
    }
    double v = std::strtod(text, &end);
    if (!std::isfinite(v)) {
        return stop(Stop::number_too_big);
    }
    return scalar(Kind::number, nullptr, v);
}

void Handler::reset_data() {
    m_out.data = Kind::absent;
    m_out.data_keys.clear();
    m_data_places.reset();
    m_out.flows_kind = m_out.schemes_kind = m_out.links_kind = Kind::absent;
    m_out.flows.clear();
    m_out.schemes.clear();
    m_out.links.clear();
    m_out.flows_error.reset();
    m_out.schemes_error.reset();
    m_out.links_error.reset();
}

void Handler::reset_meta() {
    m_out.meta = Kind::absent;
    m_out.prepared = StrField{};
    m_out.first_language.reset();
}

} // namespace dataflow::sdmx::json_sax

#pragma once
/// The SAX handler behind read_catalog_json(): fills the catalogue while nlohmann's parser streams
/// an SDMX-JSON structure message, without building a DOM. It keeps an ordered_json DOM's rules
/// (a repeated key keeps its first place and takes its last value) and defers each type error to
/// the end of the object holding it, so a document gets the error a DOM reader checking fields in
/// a fixed order would report first.

#include "sdmx/catalog.hpp"

#include <nlohmann/json.hpp>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <vector>

namespace dataflow::sdmx::json_sax {

using Json = nlohmann::ordered_json;

/// The parser's token buffer. nlohmann's lexer appends each character of a token with
/// push_back(), which libstdc++ does not inline (std::string is an extern template): a sixth of
/// the whole read. This string gathers the characters in a block and appends them a block at a
/// time. The lexer reads its buffer only through data() and size() (number conversion), which
/// flush; the handler reads it through text().
class TokenString : public std::string {
public:
    using std::string::string;
    /// (The binary-format readers, compiled with the parser but never run here, convert.)
    TokenString(const std::string& s) : std::string(s) {}
    [[gnu::always_inline]] void push_back(char c) {
        if (m_pending == k_block) {
            flush();
        }
        m_block[m_pending++] = c;
    }
    void clear() noexcept {
        m_pending = 0;
        std::string::clear();
    }
    char* data() {
        flush();
        return std::string::data();
    }
    size_type size() {
        flush();
        return std::string::size();
    }
    const std::string& text() {
        flush();
        return *this;
    }

private:
    void flush() {
        if (m_pending > 0) {
            append(m_block, m_pending);
            m_pending = 0;
        }
    }
    static constexpr std::size_t k_block = 64;
    char m_block[k_block] = {};
    std::size_t m_pending = 0;
};

/// The JSON type whose sax_parse() runs the handler (its strings are TokenStrings).
using SaxJson = nlohmann::basic_json<nlohmann::ordered_map, std::vector, TokenString>;
static_assert(NLOHMANN_JSON_VERSION_MAJOR == 3 && NLOHMANN_JSON_VERSION_MINOR == 11,
              "TokenString relies on nlohmann-json 3.11's lexer touching its token buffer only "
              "through push_back(), clear(), data() and size(): check detail/input/lexer.hpp of "
              "the new version, then allow it here");

/// The JSON type of the value a key last had (`absent`: the key never appeared).
enum class Kind : std::uint8_t { absent, null, boolean, number, string, object, array };

/// A field read with get_string() rules: absent or null is "", a string is kept, else an error.
struct StrField {
    Kind kind = Kind::absent;
    std::string value; ///< the string when kind is string, else ""
    bool ok() const { return kind == Kind::absent || kind == Kind::null || kind == Kind::string; }
    /// Absent again, keeping the buffer: a value copied here but not kept (a `name` beside its
    /// `names`, say) costs no allocation the next time.
    void reset() {
        kind = Kind::absent;
        value.clear();
    }
};

/// A `names` / `descriptions` / `texts` object: language -> text, in first-appearance order.
struct TextsField {
    static constexpr std::size_t k_none = static_cast<std::size_t>(-1);
    Kind kind = Kind::absent;
    std::vector<LocalizedText> items;
    std::size_t not_string = k_none; ///< the first item whose (last) value is not a string
    bool given() const { return kind != Kind::absent && kind != Kind::null; }
    void reset() {
        kind = Kind::absent;
        items.clear();
        not_string = k_none;
    }
};

/// A type error found while reading: where (a path such as `data.dataflows[3].id`) and what was
/// expected there.
struct TypeError {
    std::string path;
    std::string_view expected;
};
using MaybeError = std::optional<TypeError>;

/// A key of `data` with the size of its value when that is an array (for "it holds X (n)").
struct DataKey {
    std::string name;
    std::optional<std::size_t> array_size;
};

/// What a parse leaves for the top-level checks, in the order read_catalog_json() makes them.
struct Parsed {
    Kind root = Kind::absent;
    bool root_has_datasets = false;
    Json errors; ///< the last top-level `errors` value (null when absent)
    Kind data = Kind::absent;
    std::vector<DataKey> data_keys; ///< of the last `data` object
    Kind meta = Kind::absent;
    StrField prepared;
    std::optional<std::string> first_language; ///< meta.contentLanguages[0] when a string
    Kind flows_kind = Kind::absent, schemes_kind = Kind::absent, links_kind = Kind::absent;
    MaybeError flows_error, schemes_error, links_error;
    std::vector<Dataflow> flows;
    std::vector<CategoryScheme> schemes;
    std::vector<Categorisation> links; ///< categorisations
    /// Texts given by a single `name` / `description` / `text` string take the message's first
    /// content language, which may come later in the document: they hold this stand-in until
    /// the end (never a real language: the parser refuses ill-formed UTF-8).
    static constexpr std::string_view k_stand_in_language = "\xFF";
    std::size_t stand_ins = 0;
    bool has_data_key(std::string_view name) const;
};

/// Finds a key among those an object has had so far: a scan while they are few, a hash index
/// once they are many (an object of 100,000 names must not take quadratic time).
class KeyPlaces {
public:
    void reset() { m_index.clear(); }
    /// The index of `key` in `items` (whose member `name` is the key), appended when new.
    template <class T>
    std::size_t place(std::vector<T>& items, const std::string& key, std::string T::*name);

private:
    static constexpr std::size_t k_scan_limit = 16;
    std::unordered_map<std::string, std::size_t> m_index;
};

/// Builds the last value of the top-level `errors` from SAX events, as the DOM parser would.
class JsonBuilder {
public:
    void begin(Json& root) {
        m_root = &root;
        m_stack.clear();
    }
    template <class V>
    void value(V&& v) {
        slot() = Json(std::forward<V>(v));
    }
    void open(Json::value_t type);
    void key(const std::string& k) { m_pending = &(*m_stack.back())[k]; }
    /// Ends the innermost container; true when that was the whole value.
    bool close() {
        m_stack.pop_back();
        return m_stack.empty();
    }

private:
    Json& slot();
    Json* m_root = nullptr;
    Json* m_pending = nullptr;
    std::vector<Json*> m_stack;
};

/// The parser's error, kept to be reported after sax_parse() returns.
struct ParseFailure {
    enum class Type : std::uint8_t { none, parse, out_of_range, other } type = Type::none;
    std::size_t byte = 0;
    std::string what;
};

/// What the innermost open container is.
enum class Role : std::uint8_t {
    document, // before the top-level value
    skip,     // a value nobody reads; Frame::count is its nesting below the frame
    errors,   // the top-level `errors`, built as a DOM
    root,
    meta,
    languages, // meta.contentLanguages
    data,
    count, // an array in `data` other than the three read: only its size matters
    flows, // data.dataflows
    flow,  // one of them
    texts, // names / descriptions / texts
    links, // a dataflow's links
    link,  // one of them
    annotations,
    annotation,
    schemes,    // data.categorySchemes
    node,       // a category scheme or a category
    categories, // the categories of a node
    catzns,     // data.categorisations
    catzn,
};
/// What the value after the last key goes to.
enum class Slot : std::uint8_t {
    ignore,
    str,   // m_str
    texts, // m_texts
    text,  // m_text_items[m_entry], for m_texts
    is_final,
    data,
    meta,
    errors,
    languages,
    flows,
    schemes,
    catzns,
    other_array, // another key of `data`
    links,
    annotations,
    categories,
};

/// The SAX handler (nlohmann's SAX interface, used through SaxJson::sax_parse()).
class Handler {
public:
    /// `max_depth`: the deepest nesting accepted; the parse stops at a container deeper.
    Handler(Parsed& out, std::size_t max_depth);

    bool null() { return scalar(Kind::null, nullptr, nullptr); }
    bool boolean(bool b) {
        m_bool = b;
        return scalar(Kind::boolean, nullptr, b);
    }
    bool number_integer(Json::number_integer_t v) { return scalar(Kind::number, nullptr, v); }
    bool number_unsigned(Json::number_unsigned_t v) { return scalar(Kind::number, nullptr, v); }
    bool number_float(Json::number_float_t v, const TokenString& /*text*/) {
        return scalar(Kind::number, nullptr, v);
    }
    bool string(TokenString& s) {
        const std::string& text = s.text();
        return scalar(Kind::string, &text, text);
    }
    bool binary(SaxJson::binary_t& /*bytes*/) { return true; } // never in JSON text
    bool start_object(std::size_t /*size*/) { return open(Kind::object); }
    bool start_array(std::size_t /*size*/) { return open(Kind::array); }
    bool end_object() { return close(); }
    bool end_array() { return close(); }
    bool key(TokenString& k) { return key_text(k.text()); }

    template <class E>
    bool parse_error(std::size_t /*position*/, const std::string& /*token*/, const E& ex) {
        using Type = ParseFailure::Type;
        m_failure.type = std::is_base_of_v<Json::parse_error, E>    ? Type::parse
                         : std::is_base_of_v<Json::out_of_range, E> ? Type::out_of_range
                                                                    : Type::other;
        if constexpr (std::is_base_of_v<Json::parse_error, E>) {
            m_failure.byte = ex.byte;
        }
        m_failure.what = ex.what();
        return false;
    }
    const ParseFailure& failure() const { return m_failure; }
    /// The parse stopped at a container nested deeper than max_depth.
    bool too_deep() const { return m_too_deep; }

private:
    struct Frame {
        Role role;
        std::size_t count = 0; ///< arrays: elements so far; skip: nesting
        std::size_t key = 0;   ///< arrays in `data`: the index of their key in data_keys
    };

    // Each builder is reset in place for the next record (see StrField::reset()).
    struct AnnotationBuilder {
        std::size_t index = 0;
        StrField id, title, type, value, text;
        TextsField texts;
        void reset(std::size_t i) {
            index = i;
            for (StrField* f : {&id, &title, &type, &value, &text}) {
                f->reset();
            }
            texts.reset();
        }
    };
    struct FlowBuilder {
        std::size_t index = 0;
        StrField id, agency, version, urn, name, description, structure;
        std::optional<bool> is_final;
        TextsField names, descriptions;
        Kind links_kind = Kind::absent;
        std::optional<std::string> self_urn;  ///< of the last `rel: self` link
        Kind annotations_kind = Kind::absent; ///< (the annotations are in m_annotations)
        MaybeError annotations_error;
        void reset(std::size_t i) {
            index = i;
            for (StrField* f : {&id, &agency, &version, &urn, &name, &description, &structure}) {
                f->reset();
            }
            is_final.reset();
            names.reset();
            descriptions.reset();
            links_kind = annotations_kind = Kind::absent;
            self_urn.reset();
            annotations_error.reset();
        }
    };
    struct LinkBuilder {
        StrField rel, urn;
        void reset() {
            rel.reset();
            urn.reset();
        }
    };
    /// A category scheme (level 0) or a category.
    struct NodeBuilder {
        std::size_t index = 0;
        StrField id, agency, version, name;
        TextsField names;
        Kind categories_kind = Kind::absent;
        std::vector<Category> children;
        MaybeError children_error;
    };
    struct CatznBuilder {
        std::size_t index = 0;
        StrField id, agency, version, source, target;
        void reset(std::size_t i) {
            index = i;
            for (StrField* f : {&id, &agency, &version, &source, &target}) {
                f->reset();
            }
        }
    };

    template <class V>
    bool scalar(Kind kind, const std::string* s, V&& raw) {
        Frame& top = m_frames.back();
        if (top.role == Role::skip) {
            return true;
        }
        if (top.role == Role::errors || (top.role == Role::root && m_slot == Slot::errors)) {
            if (top.role == Role::root) {
                m_errors.begin(m_out.errors);
            }
            m_errors.value(std::forward<V>(raw));
            return true;
        }
        on_scalar(kind, s);
        return true;
    }
    bool open(Kind kind);
    bool close();
    void push(Role role, std::size_t key = 0) { m_frames.push_back({role, 0, key}); }
    bool key_text(const std::string& k);
    void on_scalar(Kind kind, const std::string* s);
    void on_field(Kind kind, const std::string* s);
    void on_open(Kind kind);
    void open_field(Kind kind);
    void open_element(Frame& top, Kind kind);
    void element_error(Frame& top);
    void on_close(const Frame& ended);
    void assign_array(Kind kind);
    void key_root(std::string_view k);
    void key_data(const std::string& k);
    void key_flow(std::string_view k);
    void key_annotation(std::string_view k);
    void key_node(std::string_view k);
    void key_catzn(std::string_view k);
    void finish_texts();
    void reset_data();
    void reset_meta();
    std::string flow_path() const;
    std::string node_path(std::size_t levels) const;
    void finish_flow();
    void finish_annotation();
    void finish_link();
    void finish_node();
    void finish_catzn();

    Parsed& m_out;
    std::vector<Frame> m_frames;
    Slot m_slot = Slot::ignore;
    StrField* m_str = nullptr;
    TextsField* m_texts = nullptr;
    std::size_t m_entry = 0;
    std::size_t m_depth = 0;
    std::size_t m_max_depth;
    bool m_too_deep = false;
    std::size_t m_data_key = 0;
    bool m_bool = false;
    KeyPlaces m_data_places, m_text_places;
    JsonBuilder m_errors;
    FlowBuilder m_flow;
    AnnotationBuilder m_annotation;
    std::vector<Annotation> m_annotations;   ///< of the open dataflow (reused: one allocation each)
    std::vector<LocalizedText> m_text_items; ///< of the open texts object (reused)
    std::vector<char> m_text_ok;             ///< per item: its value is a string
    LinkBuilder m_link;
    std::vector<NodeBuilder> m_nodes; ///< the open scheme and categories, outermost first
    std::size_t m_level = 0;          ///< how many of m_nodes are open
    CatznBuilder m_catzn;
    ParseFailure m_failure;
};

} // namespace dataflow::sdmx::json_sax

#pragma once
/// The SAX handler behind read_catalog_json(): fills the catalogue while RapidJSON's reader streams
/// an SDMX-JSON structure message, without building a DOM. It keeps an ordered_json DOM's rules
/// (a repeated key keeps its first place and takes its last value) and defers each type error to
/// the end of the object holding it, so a document gets the error a DOM reader checking fields in
/// a fixed order would report first.

#include "sdmx/catalog.hpp"

#include <nlohmann/json.hpp>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <iterator>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <vector>

namespace dataflow::sdmx::json_sax {

/// The top-level `errors` value only, built from the events (never parsed by nlohmann).
using Json = nlohmann::ordered_json;

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
    /// the end (never a real language: the reader refuses ill-formed UTF-8).
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
    std::size_t place(std::vector<T>& items, std::string_view key, std::string T::*name);

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
    void key(std::string_view k) { m_pending = &(*m_stack.back())[std::string(k)]; }
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

/// Why the handler stopped the parse (RapidJSON then reports kParseErrorTermination).
enum class Stop : std::uint8_t {
    none,
    too_deep,       ///< a container nested deeper than max_depth
    number_too_big, ///< a number beyond double's range (nlohmann-json: out_of_range)
    lone_surrogate, ///< a \uDC00-\uDFFF escape that follows no \uD800-\uDBFF one
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

/// The SAX handler (RapidJSON's Handler concept, run by json_reader.cpp with
/// kParseNumbersAsStringsFlag: numbers come as text and are converted as nlohmann-json did).
/// The upper-case names are RapidJSON's.
class Handler {
public:
    /// `max_depth`: the deepest nesting accepted; the parse stops at a container deeper.
    /// `all_annotations` false: only the annotations is_fact_annotation() names are kept (all
    /// are checked).
    Handler(Parsed& out, std::size_t max_depth, bool all_annotations = true);

    bool Null() { return scalar(Kind::null, nullptr, nullptr); }
    bool Bool(bool b) {
        m_bool = b;
        return scalar(Kind::boolean, nullptr, b);
    }
    bool RawNumber(const char* text, unsigned length, bool /*copy*/);
    /// false: the text holds no \uDC00-\uDFFF escape (escapes_low_surrogate()), so no string
    /// needs the check for one.
    void check_surrogates(bool check) { m_check_surrogates = check; }
    bool String(const char* text, unsigned length, bool /*copy*/) {
        std::string_view s(text, length);
        if (m_check_surrogates && has_lone_surrogate(s)) {
            return stop(Stop::lone_surrogate);
        }
        return scalar(Kind::string, &s, s);
    }
    bool StartObject() { return open(Kind::object); }
    bool StartArray() { return open(Kind::array); }
    bool EndObject(unsigned /*members*/) { return close(); }
    bool EndArray(unsigned /*elements*/) { return close(); }
    bool Key(const char* text, unsigned length, bool /*copy*/) {
        std::string_view k(text, length);
        if (m_check_surrogates && has_lone_surrogate(k)) {
            return stop(Stop::lone_surrogate);
        }
        return key_text(k);
    }
    // Never called with kParseNumbersAsStringsFlag.
    bool Int(int /*v*/) { return true; }
    bool Uint(unsigned /*v*/) { return true; }
    bool Int64(std::int64_t /*v*/) { return true; }
    bool Uint64(std::uint64_t /*v*/) { return true; }
    bool Double(double /*v*/) { return true; }

    /// Why the handler stopped the parse (none: it did not).
    Stop stopped() const { return m_stop; }
    /// How many numbers the parse has met so far.
    std::size_t numbers() const { return m_numbers; }
    /// Number `index` of the document (0-based) is `text` whatever the parsed text says (the
    /// reader rewrites a number RapidJSON refuses but nlohmann-json read, such as 0e999).
    void set_number_text(std::size_t index, std::string text) {
        m_number_texts.emplace_back(index, std::move(text));
    }

    // ---- two readers of one document (json_reader.cpp)

    /// The second reader: the values it is given are elements of `data.dataflows`, read as the
    /// first reader reads them there (element indices, in error paths only, count from 0).
    void begin_flows_fragment() {
        m_frames.clear();
        push(Role::document);
        push(Role::root);
        push(Role::data);
        push(Role::flows);
        m_depth = 3;
    }
    /// How many elements of `data.dataflows` the second reader has read.
    std::size_t fragment_elements() const { return m_frames.back().count; }
    /// The first reader: `hook` runs each time an element of `data.dataflows` ends, with no
    /// type error among the elements so far (after it, the second reader's could not count).
    void on_flow_end(std::function<void(Handler&)> hook) { m_on_flow_end = std::move(hook); }
    /// The first reader, in that hook: what the second read (`flows` moved out), as if read
    /// here: the flows after this one's, the stand-in count, the element and number counts.
    void absorb(Parsed& rest, std::size_t elements, std::size_t numbers) {
        std::move(rest.flows.begin(), rest.flows.end(), std::back_inserter(m_out.flows));
        m_out.stand_ins += rest.stand_ins;
        m_frames.back().count += elements;
        m_numbers += numbers;
    }

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
    bool scalar(Kind kind, const std::string_view* s, V&& raw) {
        Frame& top = m_frames.back();
        if (top.role == Role::skip) {
            return true;
        }
        if (top.role == Role::errors || (top.role == Role::root && m_slot == Slot::errors)) {
            if (top.role == Role::root) {
                m_errors.begin(m_out.errors);
            }
            if constexpr (std::is_same_v<std::decay_t<V>, std::string_view>) {
                m_errors.value(std::string(raw));
            } else {
                m_errors.value(std::forward<V>(raw));
            }
            return true;
        }
        on_scalar(kind, s);
        return true;
    }
    bool stop(Stop why) {
        m_stop = why;
        return false;
    }
    /// An escaped lone low surrogate decodes to ED B0..BF, which no valid UTF-8 input holds.
    static bool has_lone_surrogate(std::string_view s);
    bool m_check_surrogates = true;
    bool open(Kind kind);
    bool close();
    void push(Role role, std::size_t key = 0) { m_frames.push_back({role, 0, key}); }
    bool key_text(std::string_view k);
    void on_scalar(Kind kind, const std::string_view* s);
    void on_field(Kind kind, const std::string_view* s);
    void on_open(Kind kind);
    void open_field(Kind kind);
    void open_element(Frame& top, Kind kind);
    void element_error(Frame& top);
    void on_close(const Frame& ended);
    void assign_array(Kind kind);
    void key_root(std::string_view k);
    void key_data(std::string_view k);
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
    bool m_all_annotations;
    Stop m_stop = Stop::none;
    std::size_t m_numbers = 0;
    std::vector<std::pair<std::size_t, std::string>> m_number_texts; ///< see set_number_text()
    std::function<void(Handler&)> m_on_flow_end;                     ///< see on_flow_end()
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
};

} // namespace dataflow::sdmx::json_sax

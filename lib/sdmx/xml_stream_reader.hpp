#pragma once
// The streaming SDMX-ML reader's internals, shared by xml_stream.cpp (reading) and
// xml_stream_split.cpp (two readers at once). Only those two include this.

#include "sdmx/catalog.hpp"
#include "sdmx/line_index.hpp"
#include "sdmx/reader.hpp"
#include "sdmx/xml_names.hpp"
#include "sdmx/xml_scan.hpp"
#include "util/parallel.hpp"

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace dataflow::sdmx::xml_stream_detail {

using xml::Ns;
using xml::NsKind;
using namespace xml_scan;

enum class Role : std::uint8_t {
    walk,      // an element of the structure walk: its children are matched by the walk's rules
    skip,      // read nothing below
    flow,      // a Dataflow
    flow_name, // character data collected (this role and all below)
    flow_description,
    ann_title,
    ann_type,
    ann_value,
    ann_url,
    ann_text,
    structure,     // Structure: a Ref or URN child, or the URN as text (3.0)
    structure_urn, // URN under Structure
    kf_id,
    kf_agency,
    kf_version,
    prepared,
    annotations,    // the Annotations of a flow (no text)
    annotation,     // one Annotation
    key_family_ref, // KeyFamilyRef (2.0)
};

inline bool collects_text(Role r) {
    return r >= Role::flow_name && r <= Role::prepared;
}

struct Frame {
    std::string_view name; ///< qualified, as written: the end tag must repeat it
    std::string_view local;
    std::size_t bindings_mark = 0;
    Role role = Role::skip;
    Text text;
    std::string lang;
};

/// An AnnotationText of an annotation that may yet be dropped (all_annotations false): decoded
/// only if its AnnotationType makes it one of the facts.
struct PendingText {
    std::string lang;
    Text text;
};

struct Attr {
    std::string_view name;
    std::string_view raw;
};

struct Binding {
    std::string_view prefix;
    Ns ns;
};

/// Documents from this size up are read by two readers at once when ReadOptions::threads
/// allows it (ReadOptions::split_min_bytes).
///
/// How: the first reader publishes its state as it opens the document's first Dataflow (the
/// open elements above it, the namespace bindings in scope, the Prepared date) and picks a
/// start tag of the same name about halfway through the rest. A second reader starts there in
/// that state and reads to the end of the document. The reader is a function of its position
/// and that state and of nothing else (the rest is reset at every Dataflow), so when the first
/// reader reaches that very byte as a start tag in an equal state, the second reader's flows
/// are exactly the ones it would have read itself: it takes them and stops. Anywhere else (the
/// bytes were inside a comment, CDATA or an attribute value; the state differs; the second
/// reader gave up) it carries on alone and the second reader's work is dropped. Either way the
/// result is the one-reader result.
struct Context {
    std::vector<Frame> frames; ///< the open elements above the first Dataflow (walk roles)
    std::vector<Binding> bindings;
    std::string prepared;
    std::string format;
};

/// What the second reader read: its flows (with their facts derived in the date order its own
/// LAST_UPDATE values say; the first reader derives them again if the catalogue's differs).
struct Rest {
    Catalog catalog;                           ///< its Prepared date (flows in `chunks`)
    std::vector<std::vector<Dataflow>> chunks; ///< its flows, in order
    bool saw_dataflows = false;
    bool saw_categories = false;
    DateEvidence dates;
    std::vector<std::string> warnings;
};

/// What the two readers share. The second reader claims the work when it starts. The first,
/// at the split, waits for it only when the two run at the same time: util::run_in_parallel()
/// runs them one after the other when it has one CPU, and then nothing waits for the second.
class Split : public util::Handoff<Rest> {
public:
    Split() : Handoff(false) {}
    /// First reader: the state and the position the second starts from (nullptr: none).
    void publish(Context context, const char* at) {
        m_context = std::move(context);
        m_at = at;
        if (at != nullptr) {
            offer();
        } else {
            cancel();
        }
    }
    const Context& context() const { return m_context; } ///< after publish() / claim()
    const char* at() const { return m_at; }              ///< after publish() / claim()

private:
    Context m_context;
    const char* m_at = nullptr;
};

class StreamReader {
public:
    StreamReader(std::string_view buffer, const LineIndex& lines, const ReadOptions& options,
                 Split* split = nullptr)
        : m_begin(buffer.data()), m_end(buffer.data() + buffer.size()), m_lines(lines),
          m_options(options), m_split(split) {}

    /// The whole document (the first reader, when there are two).
    Catalog read();
    /// The second reader: from the split to the end of the document. Its catalogue holds the
    /// flows from there on; derive_annotation_facts() is left to the first reader.
    Catalog read_rest();
    bool saw_dataflows() const { return m_saw_dataflows; }
    /// The second reader's full chunks of k_chunk_flows flows, after read_rest() (whose
    /// catalogue holds the last, partial one).
    std::vector<std::vector<Dataflow>> take_chunks() { return std::move(m_chunks); }
    bool saw_categories() const { return m_saw_categories; }

private:
    const char* body(const char* p);
    bool take_rest();
    void publish(std::size_t bindings_mark);
    bool same_context(const Context& c) const;
    const char* start_tag(const char* p);
    const char* end_tag(const char* p);
    const char* skip_pi(const char* p) const;
    const char* skip_comment(const char* p) const;
    const char* cdata(const char* p);
    const char* misc(const char* p);
    void open(std::string_view name, bool empty);
    Role open_root(std::string_view local, Ns ns);
    Role walk_child(const Frame& parent, std::string_view local, Ns ns);
    Role flow_child(std::string_view local, Ns ns);
    Role annotation_child(std::string_view local);
    void close();
    void close_annotation();

    Frame& top() { return m_frames[m_depth - 1]; }
    const Attr* attr(std::string_view name) const {
        for (const auto& a : m_attrs) {
            if (a.name == name) {
                return &a;
            }
        }
        return nullptr;
    }
    /// The first attribute `name`'s value into `out` ("" when there is none).
    void attr_into(std::string_view name, std::string& out) const {
        const Attr* a = attr(name);
        if (a != nullptr) {
            attribute_value(a->raw, out);
        } else {
            out.clear();
        }
    }
    /// xml:lang, else lang, as xml::lang_of() reads it.
    void lang_into(std::string& out) const {
        const Attr* a = attr("xml:lang");
        a = a != nullptr ? a : attr("lang");
        if (a != nullptr) {
            attribute_value(a->raw, out);
        } else {
            out.clear();
        }
    }
    Ns uri_ns(std::string_view raw) {
        for (const auto& [uri, ns] : m_uri_cache) {
            if (uri == raw) {
                return ns;
            }
        }
        std::string uri = attribute_value(raw);
        Ns ns = uri.empty() ? Ns{} : xml::classify_uri(uri);
        m_uri_cache.emplace_back(std::string(raw), ns);
        return ns;
    }
    Ns resolve(std::string_view prefix) const {
        for (auto it = m_bindings.rbegin(); it != m_bindings.rend(); ++it) {
            if (it->prefix == prefix) {
                return it->ns;
            }
        }
        return {};
    }

    const char* m_begin;
    const char* m_end;
    const LineIndex& m_lines;
    const ReadOptions& m_options;
    Split* m_split;                   ///< two readers: what they share
    const char* m_split_at = nullptr; ///< the first reader: where the second started
    bool m_second = false;            ///< this is the second reader
    bool m_facts_derived = false;
    std::vector<std::vector<Dataflow>>
        m_chunks; ///< the second reader's full chunks     ///< the first reader took the second's
                  ///< flows, facts derived
    std::size_t m_last_line = 1;
    const char* m_name_at = nullptr; ///< the name of the start tag being opened
    const char* m_flow_at = nullptr; ///< the name of the Dataflow being read
    const char* m_done_to = nullptr; ///< ReadOptions::done_with was told up to here
    const char* m_at = nullptr;      ///< the end tag being closed

    std::vector<Frame> m_frames;
    std::size_t m_depth = 0;
    std::vector<Attr> m_attrs;
    std::vector<Binding> m_bindings;
    std::vector<std::pair<std::string, Ns>> m_uri_cache;

    Catalog m_catalog;
    Dataflow* m_flow = nullptr; ///< the one being read: the catalogue's last
    Annotation m_annotation;
    Text m_pending_title; ///< title, value and URL: decoded when the annotation is kept
    Text m_pending_value;
    Text m_pending_url;
    bool m_maybe = false; ///< the annotation is kept only if its type is a fact's
    std::vector<PendingText> m_pending;
    std::size_t m_pending_size = 0;
    int m_structure_children = 0;
    bool m_structure_decided = false;
    bool m_saw_dataflows = false;
    bool m_saw_categories = false;
};

/// The second reader keeps its flows in vectors of this many.
inline constexpr std::size_t k_chunk_flows = 512;
/// How far the reader moves between two calls of ReadOptions::done_with.
inline constexpr std::size_t k_done_with_step = std::size_t{4} << 20;

/// Counts a document read by two readers (xml_stream_splits()).
void count_split();

/// The facts of the second reader's flows in `order`, chunk by chunk; their warnings in order.
std::vector<std::string> derive_rest(Rest& rest, util::DateOrder order);

} // namespace dataflow::sdmx::xml_stream_detail

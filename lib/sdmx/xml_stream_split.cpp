// Two streaming readers at once on one document (ReadOptions::threads): the second starts at
// a Dataflow about halfway through, in the state the first published (Context and Split in
// xml_stream_reader.hpp say how and why the result is the one-reader result).

#include "sdmx/xml_stream.hpp"
#include "sdmx/xml_stream_reader.hpp"
#include "util/parallel.hpp"

#include <atomic>
#include <iterator>
#include <string>
#include <utility>

namespace dataflow::sdmx {

namespace {

std::atomic<std::size_t> g_reads{0};
std::atomic<std::size_t> g_splits{0};

} // namespace

namespace xml_stream_detail {

std::vector<std::string> derive_rest(Rest& rest, util::DateOrder order) {
    std::vector<std::string> warnings;
    for (auto& chunk : rest.chunks) {
        auto w = derive_facts(chunk, order);
        std::move(w.begin(), w.end(), std::back_inserter(warnings));
    }
    return warnings;
}

void count_split() {
    g_splits.fetch_add(1, std::memory_order_relaxed);
}

Catalog StreamReader::read_rest() {
    const Context& c = m_split->context();
    m_second = true;
    m_frames = c.frames;
    m_depth = m_frames.size();
    m_bindings = c.bindings;
    m_catalog.prepared = c.prepared;
    m_catalog.format = c.format;
    m_catalog.dataflows.reserve(k_chunk_flows);
    m_done_to = m_split->at();
    const char* p = body(m_split->at());
    if (misc(p) != m_end) {
        give_up();
    }
    return std::move(m_catalog);
}

/// The first reader at the second's starting point: takes its flows when the state is the one
/// the second reader started in.
bool StreamReader::take_rest() {
    m_split_at = nullptr;
    if (!same_context(m_split->context())) {
        m_split->cancel();
        return false;
    }
    // The facts of this reader's flows meanwhile (derive_annotation_facts() in parts): the
    // second reader is likely still reading.
    const DateEvidence dates = date_evidence(m_catalog.dataflows);
    auto warnings = derive_facts(m_catalog.dataflows, dates.order());
    auto rest = m_split->take();
    if (!rest) {
        return false; // the second reader gave up: this one reads on (and likely gives up too)
    }
    const auto order = dates.merge(rest->dates).order();
    if (order != dates.order()) {
        warnings = derive_facts(m_catalog.dataflows, order);
    }
    if (order != rest->dates.order()) {
        rest->warnings = derive_rest(*rest, order);
    }
    std::move(rest->warnings.begin(), rest->warnings.end(), std::back_inserter(warnings));
    m_catalog.prepared = std::move(rest->catalog.prepared);
    std::size_t total = m_catalog.dataflows.size();
    for (const auto& chunk : rest->chunks) {
        total += chunk.size();
    }
    m_catalog.dataflows.reserve(total);
    for (auto& chunk : rest->chunks) {
        std::move(chunk.begin(), chunk.end(), std::back_inserter(m_catalog.dataflows));
        std::vector<Dataflow>().swap(chunk); // freed as taken
    }
    std::move(warnings.begin(), warnings.end(), std::back_inserter(m_catalog.warnings));
    m_saw_dataflows = m_saw_dataflows || rest->saw_dataflows;
    m_saw_categories = m_saw_categories || rest->saw_categories;
    m_facts_derived = true;
    count_split();
    return true;
}

bool StreamReader::same_context(const Context& c) const {
    if (m_depth != c.frames.size() || m_bindings.size() != c.bindings.size() ||
        m_catalog.prepared != c.prepared) {
        return false;
    }
    for (std::size_t i = 0; i < m_depth; ++i) {
        const Frame& a = m_frames[i];
        const Frame& b = c.frames[i];
        if (a.name != b.name || a.role != b.role || a.bindings_mark != b.bindings_mark) {
            return false;
        }
    }
    for (std::size_t i = 0; i < m_bindings.size(); ++i) {
        const Binding& a = m_bindings[i];
        const Binding& b = c.bindings[i];
        if (a.prefix != b.prefix || a.ns.kind != b.ns.kind || a.ns.version != b.ns.version) {
            return false;
        }
    }
    return true;
}

/// The first reader, opening the first Dataflow (its own bindings from `bindings_mark` on):
/// hands the second reader its state and a start tag of the same name about halfway through
/// the rest of the document.
void StreamReader::publish(std::size_t bindings_mark) {
    Context c;
    c.frames.assign(m_frames.begin(), m_frames.begin() + static_cast<std::ptrdiff_t>(m_depth));
    for (const Frame& f : c.frames) {
        if (f.role != Role::walk) {
            m_split->publish({}, nullptr); // not the plain structure walk: one reader
            return;
        }
    }
    c.bindings.assign(m_bindings.begin(),
                      m_bindings.begin() + static_cast<std::ptrdiff_t>(bindings_mark));
    c.prepared = m_catalog.prepared;
    c.format = m_catalog.format;
    const char* name_end = skip_name(m_name_at, m_end);
    std::string needle = "<";
    needle.append(m_name_at, name_end);
    std::string_view rest(m_name_at, static_cast<std::size_t>(m_end - m_name_at));
    // A little past halfway: the second reader starts later (a new thread) and allocates in a
    // fresh heap arena, whose every page is new; 54% ran fastest on the 5,000-flow catalogue
    // (50%: 13.0 ms, 53-55%: 12.4-12.9 ms, 58%: 13.0 ms).
    std::size_t at = rest.find(needle, rest.size() * 54 / 100);
    while (at != std::string_view::npos) {
        std::size_t after = at + needle.size();
        if (after < rest.size() &&
            (is(rest[after], k_space) || rest[after] == '>' || rest[after] == '/')) {
            break;
        }
        at = rest.find(needle, at + 1);
    }
    const char* start = at == std::string_view::npos ? nullptr : rest.data() + at;
    m_split_at = start;
    m_split->publish(std::move(c), start);
}

} // namespace xml_stream_detail

using xml_stream_detail::GiveUp;
using xml_stream_detail::Split;
using xml_stream_detail::StreamReader;

std::optional<Catalog> read_catalog_xml_stream(std::string_view buffer, const LineIndex& lines,
                                               const ReadOptions& options) {
    try {
        std::optional<Catalog> catalog;
        if (options.threads >= 2 && buffer.size() >= options.split_min_bytes) {
            Split split;
            util::run_in_parallel(
                [&](bool together) {
                    split.set_together(together);
                    struct Done { // the second reader must not wait for what never comes
                        Split& split;
                        ~Done() { split.cancel(); }
                    } done{split};
                    StreamReader reader(buffer, lines, options, &split);
                    catalog = reader.read();
                },
                [&] {
                    if (!split.claim()) {
                        return;
                    }
                    StreamReader reader(buffer, lines, options, &split);
                    std::optional<xml_stream_detail::Rest> rest;
                    try {
                        rest.emplace();
                        rest->catalog = reader.read_rest();
                        rest->chunks = reader.take_chunks();
                        rest->chunks.push_back(std::move(rest->catalog.dataflows));
                        rest->saw_dataflows = reader.saw_dataflows();
                        rest->saw_categories = reader.saw_categories();
                        for (const auto& chunk : rest->chunks) {
                            rest->dates = rest->dates.merge(date_evidence(chunk));
                        }
                        rest->warnings = derive_rest(*rest, rest->dates.order());
                    } catch (...) { // GiveUp, or out of memory: the first reader reads on
                        rest.reset();
                    }
                    split.finish(std::move(rest));
                });
        } else {
            StreamReader reader(buffer, lines, options);
            catalog = reader.read();
        }
        g_reads.fetch_add(1, std::memory_order_relaxed);
        return catalog;
    } catch (const GiveUp&) {
        return std::nullopt;
    }
}

std::size_t xml_stream_reads() {
    return g_reads.load(std::memory_order_relaxed);
}

std::size_t xml_stream_splits() {
    return g_splits.load(std::memory_order_relaxed);
}

} // namespace dataflow::sdmx

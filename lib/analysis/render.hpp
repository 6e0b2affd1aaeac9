#pragma once
/// Report renderers: JSON (the reference API's field names), CSV (RFC 4180), an aligned table
/// for people, and a short text summary.

#include "analysis/report.hpp"

#include <cstddef>
#include <string>
#include <vector>

namespace dataflow::util {
class JsonWriter;
}

namespace dataflow::analysis {

/// Appends `v` as one RFC 4180 CSV field (quoted, quotes doubled, when it holds , " CR or LF).
void append_csv_field(std::string& out, std::string_view v);

/// The document `analyze -o json` prints (documented in docs/OUTPUT.md).
std::string render_json(const Report& report, int indent = 2);

/// One header row, then one row per returned dataflow; CRLF line ends, quoted as needed.
std::string render_csv(const Report& report);

struct TableOptions {
    std::size_t width = 120; ///< terminal columns
    bool color = false;      ///< ANSI colours (decided by the caller: TTY, NO_COLOR)
};
std::string render_table(const Report& report, const TableOptions& options);

/// Only the probe results: {"test_results", "tests_performed", "tableau_ready_count"}
/// (`dataflow probe -o json`).
std::string render_tests_json(const Report& report, int indent = 2);

/// The pieces of those documents, for documents that add fields of their own (the service's
/// answers): the members of render_json's object, written into the object being written;
/// one dataflow object (id, names, category, score, ...); the test-results array.
void write_report_members(util::JsonWriter& w, const Report& report);
void write_flow_json(util::JsonWriter& w, const Report& report, const AnalyzedFlow& flow);
void write_test_results(util::JsonWriter& w, const Report& report);
/// Texts by language, {"it": "…", "en": "…"}: the first text of each language; one without
/// xml:lang under "und".
void write_localized_texts(util::JsonWriter& w, const std::vector<sdmx::LocalizedText>& texts);

/// One short cell for a probe result: "140 obs, 20 series, 12.3 KiB", "no data", "timeout".
std::string probe_summary(const ProbeResult& probe);

/// Counts per category and what was returned, in a few lines; with agency categories, how many
/// dataflows have one and the classification agreement as a small table.
std::string render_summary(const Report& report);

} // namespace dataflow::analysis

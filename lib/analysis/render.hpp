#pragma once
/// Report renderers: JSON (the reference API's field names), CSV (RFC 4180), an aligned table
/// for people, and a short text summary.

#include "analysis/report.hpp"

#include <cstddef>
#include <string>

namespace dataflow::analysis {

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

/// One dataflow object of the JSON document (id, names, category, score, ...).
std::string render_flow_json(const Report& report, const AnalyzedFlow& flow, int indent = 2);

/// One short cell for a probe result: "140 obs, 20 series, 12.3 KiB", "no data", "timeout".
std::string probe_summary(const ProbeResult& probe);

/// Counts per category and what was returned, in a few lines.
std::string render_summary(const Report& report);

} // namespace dataflow::analysis

#pragma once
/// Text forms of the configuration: findings (text, JSON, GitHub annotations), the effective
/// configuration (TOML, JSON; secrets masked) and the key reference (Markdown, man page).

#include "config/loader.hpp"

#include <string>

namespace dataflow::config {

enum class FindingsFormat { text, json, github };

/// Every finding, then one summary line ("config: 2 errors, 1 warning" / "config OK").
std::string render_findings(const LoadResult& result, FindingsFormat format);
/// The summary line alone.
std::string summary_line(const LoadResult& result);

/// The effective configuration as TOML that `--config` reads back. Secrets that are set show
/// as "***" (never their length). `sources` appends "# <origin>" to each line.
std::string render_toml(const Config& config, bool sources);
/// The same as JSON; with `sources`: {"config": {...}, "sources": {"key": "origin"}, "hash"}.
std::string render_json(const Config& config, bool sources);

/// docs/CONFIGURATION.md.
std::string render_reference_markdown();
/// The KEYS section of man/dataflow-config.1 (troff).
std::string render_reference_man();

} // namespace dataflow::config

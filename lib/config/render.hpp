#pragma once
/// Text forms of the configuration: findings (text, JSON, GitHub annotations), the effective
/// configuration (TOML, JSON; secrets masked) and the key reference (Markdown, man page).

#include "config/loader.hpp"

#include <string>
#include <string_view>
#include <vector>

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

/// Whether key `name` is selected by `selectors`: each is a key ("server.port") or a prefix
/// ending in a dot ("redis."); no selectors select every key.
bool key_selected(std::string_view name, const std::vector<std::string>& selectors);

/// docs/CONFIGURATION.md (with selectors: only the keys they select).
std::string render_reference_markdown(const std::vector<std::string>& selectors = {});
/// The KEYS section of man/dataflow-config.1 and the CONFIGURATION sections of the other pages
/// (troff), for the keys `selectors` select.
std::string render_reference_man(const std::vector<std::string>& selectors = {});

} // namespace dataflow::config

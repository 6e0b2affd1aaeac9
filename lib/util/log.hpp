#pragma once
/// Logging setup: spdlog's default logger writes to stderr, as text for people or as JSON lines
/// (one valid JSON object per line, whatever the message holds) for log collectors.

#include <spdlog/common.h>

#include <optional>
#include <string_view>

namespace dataflow::util {

enum class LogFormat { text, json };

struct LogOptions {
    spdlog::level::level_enum level = spdlog::level::info;
    LogFormat format = LogFormat::text;
    bool color = false; ///< text format only; the caller decides (TTY, NO_COLOR)
};

/// Replaces spdlog's default logger. Call once at start-up, before other threads log.
void configure_logging(const LogOptions& options);

/// "trace" | "debug" | "info" | "warn" | "warning" | "error" | "off" (case-insensitive).
std::optional<spdlog::level::level_enum> parse_log_level(std::string_view name);

} // namespace dataflow::util

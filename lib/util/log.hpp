#pragma once
/// Logging setup: spdlog's default logger writes to stderr, as text for people or as JSON lines
/// (one valid JSON object per line, whatever the message holds) for log collectors.

#include <spdlog/common.h>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace dataflow::util {

enum class LogFormat { text, json };

struct LogOptions {
    spdlog::level::level_enum level = spdlog::level::info;
    LogFormat format = LogFormat::text;
    bool color = false; ///< text format only; the caller decides (TTY, NO_COLOR)
};

/// Replaces spdlog's default logger. Call once at start-up, before other threads log.
void configure_logging(const LogOptions& options);

/// Extra fields for the log lines this thread writes while the object lives (request_id,
/// route, status, ...): JSON lines get them as members, text lines as " key=value".
class LogFields {
public:
    struct Field {
        std::string name;
        std::string text; ///< used when !is_number
        double number = 0;
        bool is_number = false;
    };
    explicit LogFields(std::vector<Field> fields);
    ~LogFields();
    LogFields(const LogFields&) = delete;
    LogFields& operator=(const LogFields&) = delete;
    static const std::vector<Field>* current();

private:
    std::vector<Field> m_fields;
    const std::vector<Field>* m_previous;
};

/// "trace" | "debug" | "info" | "warn" | "warning" | "error" | "off" (case-insensitive).
std::optional<spdlog::level::level_enum> parse_log_level(std::string_view name);

} // namespace dataflow::util

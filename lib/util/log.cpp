#include "util/log.hpp"

#include "util/json_writer.hpp"
#include "util/strings.hpp"
#include "util/time.hpp"
#include "util/utf8.hpp"

#include <fmt/format.h>
#include <spdlog/sinks/base_sink.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <cstdio>
#include <mutex>
#include <string>

namespace dataflow::util {

namespace {
thread_local const std::vector<LogFields::Field>* t_fields = nullptr;
} // namespace

LogFields::LogFields(std::vector<Field> fields) : m_previous(t_fields) {
    // Nested scopes add to the fields of the enclosing one.
    if (m_previous != nullptr) {
        m_fields = *m_previous;
    }
    for (auto& f : fields) {
        m_fields.push_back(std::move(f));
    }
    t_fields = &m_fields;
}

LogFields::~LogFields() {
    t_fields = m_previous;
}

const std::vector<LogFields::Field>* LogFields::current() {
    return t_fields;
}

namespace {

std::string_view level_name(spdlog::level::level_enum level) {
    switch (level) {
    case spdlog::level::trace:
        return "trace";
    case spdlog::level::debug:
        return "debug";
    case spdlog::level::info:
        return "info";
    case spdlog::level::warn:
        return "warn";
    case spdlog::level::err:
        return "error";
    case spdlog::level::critical:
        return "critical";
    default:
        return "off";
    }
}

/// Writes each record as one JSON object on its own line; every string is escaped.
class JsonStderrSink final : public spdlog::sinks::base_sink<std::mutex> {
protected:
    void sink_it_(const spdlog::details::log_msg& msg) override {
        std::string line;
        line.reserve(msg.payload.size() + 96);
        JsonWriter w(line);
        w.begin_object();
        w.field("time",
                format_rfc3339(
                    std::chrono::time_point_cast<std::chrono::system_clock::duration>(msg.time)));
        w.field("level", level_name(msg.level));
        w.field("logger", std::string_view(msg.logger_name.data(), msg.logger_name.size()));
        w.field("message", std::string_view(msg.payload.data(), msg.payload.size()));
        if (const auto* fields = LogFields::current()) {
            for (const auto& f : *fields) {
                if (f.is_number &&
                    f.number == static_cast<double>(static_cast<std::int64_t>(f.number))) {
                    w.field(f.name, static_cast<std::int64_t>(f.number));
                } else if (f.is_number) {
                    w.field(f.name, f.number);
                } else {
                    w.field(f.name, f.text);
                }
            }
        }
        w.end_object();
        line += '\n';
        std::fwrite(line.data(), 1, line.size(), stderr);
    }
    void flush_() override { std::fflush(stderr); }
};

/// "dataflow: level: message" for people; control characters in messages (which can quote
/// input) are made harmless, so a hostile file cannot send escape sequences to the terminal.
class TextStderrSink final : public spdlog::sinks::base_sink<std::mutex> {
public:
    explicit TextStderrSink(bool color) : m_color(color) {}

protected:
    void sink_it_(const spdlog::details::log_msg& msg) override {
        std::string line = "dataflow: ";
        const char* colour = nullptr;
        if (m_color) {
            colour = msg.level >= spdlog::level::err    ? "\x1b[1;31m"
                     : msg.level == spdlog::level::warn ? "\x1b[33m"
                                                        : "\x1b[2m";
            line += colour;
        }
        line += level_name(msg.level);
        if (m_color) {
            line += "\x1b[0m";
        }
        line += ": ";
        line += printable(std::string_view(msg.payload.data(), msg.payload.size()));
        if (const auto* fields = LogFields::current()) {
            for (const auto& f : *fields) {
                line += " " + f.name + "=";
                line += f.is_number ? fmt::format("{}", f.number) : printable(f.text);
            }
        }
        line += '\n';
        std::fwrite(line.data(), 1, line.size(), stderr);
    }
    void flush_() override { std::fflush(stderr); }

private:
    bool m_color;
};

} // namespace

void configure_logging(const LogOptions& options) {
    std::shared_ptr<spdlog::logger> logger;
    if (options.format == LogFormat::json) {
        logger = std::make_shared<spdlog::logger>("dataflow", std::make_shared<JsonStderrSink>());
    } else {
        logger = std::make_shared<spdlog::logger>("dataflow",
                                                  std::make_shared<TextStderrSink>(options.color));
    }
    logger->set_level(options.level);
    logger->flush_on(spdlog::level::trace);
    spdlog::set_default_logger(std::move(logger));
}

std::optional<spdlog::level::level_enum> parse_log_level(std::string_view name) {
    auto lower = ascii_lower(name);
    if (lower == "trace") {
        return spdlog::level::trace;
    }
    if (lower == "debug") {
        return spdlog::level::debug;
    }
    if (lower == "info") {
        return spdlog::level::info;
    }
    if (lower == "warn" || lower == "warning") {
        return spdlog::level::warn;
    }
    if (lower == "error") {
        return spdlog::level::err;
    }
    if (lower == "off") {
        return spdlog::level::off;
    }
    return std::nullopt;
}

} // namespace dataflow::util

#pragma once
/// The error hierarchy of dataflow: every expected failure is one of these kinds, and one table
/// maps each kind to a process exit code and an HTTP status.

#include <stdexcept>
#include <string>
#include <string_view>

namespace dataflow {

/// Process exit codes (documented in README "Exit codes"); values follow sysexits.h.
enum class ExitCode : int {
    ok = 0,
    failure = 1,       ///< input or analysis error
    usage = 2,         ///< bad command line
    unavailable = 69,  ///< upstream unavailable (EX_UNAVAILABLE)
    rate_limited = 75, ///< rate-limited, retry later (EX_TEMPFAIL)
    config = 78,       ///< configuration error (EX_CONFIG)
};

enum class ErrorKind {
    input,        ///< the document or file given is unusable
    usage,        ///< the request or command line is wrong
    config,       ///< configuration is invalid
    unavailable,  ///< the upstream could not be reached or failed
    rate_limited, ///< the upstream asked us to slow down
    internal,     ///< a bug: should never reach a user
};

struct ErrorInfo {
    ExitCode exit_code;
    int http_status;
    std::string_view type; ///< stable machine-readable name ("input_error", ...)
};

/// The one table: kind -> exit code, HTTP status, type name.
const ErrorInfo& error_info(ErrorKind kind) noexcept;

/// A recoverable, user-facing error. The message says what, where and what to do; it never
/// contains a secret, a pointer or a stack trace.
class Error : public std::runtime_error {
public:
    Error(ErrorKind kind, const std::string& message) : std::runtime_error(message), m_kind(kind) {}
    ErrorKind kind() const noexcept { return m_kind; }
    const ErrorInfo& info() const noexcept { return error_info(m_kind); }

private:
    ErrorKind m_kind;
};

class InputError : public Error {
public:
    explicit InputError(const std::string& message) : Error(ErrorKind::input, message) {}
};

/// An input error at a known place in a file: `what()` is "FILE:LINE:COL: DETAIL" (or
/// "FILE: DETAIL" when the place is unknown, line 0).
class LocatedError : public InputError {
public:
    LocatedError(std::string file, int line, int column, std::string detail)
        : InputError(format(file, line, column, detail)), m_file(std::move(file)), m_line(line),
          m_column(column), m_detail(std::move(detail)) {}
    const std::string& file() const noexcept { return m_file; }
    int line() const noexcept { return m_line; }
    int column() const noexcept { return m_column; }
    const std::string& detail() const noexcept { return m_detail; }

private:
    static std::string format(const std::string& file, int line, int column,
                              const std::string& detail) {
        if (line <= 0) {
            return file + ": " + detail;
        }
        return file + ":" + std::to_string(line) + ":" + std::to_string(column) + ": " + detail;
    }
    std::string m_file;
    int m_line;
    int m_column;
    std::string m_detail;
};

class UsageError : public Error {
public:
    explicit UsageError(const std::string& message) : Error(ErrorKind::usage, message) {}
};

/// The upstream could not be reached, failed, or its circuit breaker is open.
class UnavailableError : public Error {
public:
    explicit UnavailableError(const std::string& message)
        : Error(ErrorKind::unavailable, message) {}
};

/// The upstream (or our own budget for it) says: not now.
class RateLimitedError : public Error {
public:
    explicit RateLimitedError(const std::string& message)
        : Error(ErrorKind::rate_limited, message) {}
};

class ConfigError : public Error {
public:
    explicit ConfigError(const std::string& message) : Error(ErrorKind::config, message) {}
};

} // namespace dataflow

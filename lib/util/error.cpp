#include "util/error.hpp"

namespace dataflow {

const ErrorInfo& error_info(ErrorKind kind) noexcept {
    static const ErrorInfo input{ExitCode::failure, 400, "input_error"};
    static const ErrorInfo usage{ExitCode::usage, 400, "usage_error"};
    static const ErrorInfo config{ExitCode::config, 500, "config_error"};
    static const ErrorInfo unavailable{ExitCode::unavailable, 502, "upstream_unavailable"};
    static const ErrorInfo rate_limited{ExitCode::rate_limited, 429, "rate_limited"};
    static const ErrorInfo internal{ExitCode::failure, 500, "internal_error"};
    switch (kind) {
    case ErrorKind::input:
        return input;
    case ErrorKind::usage:
        return usage;
    case ErrorKind::config:
        return config;
    case ErrorKind::unavailable:
        return unavailable;
    case ErrorKind::rate_limited:
        return rate_limited;
    case ErrorKind::internal:
        break;
    }
    return internal;
}

} // namespace dataflow

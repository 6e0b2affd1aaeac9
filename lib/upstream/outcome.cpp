// The outcome of a call, classified once, in each of its forms (probe outcome, retryable, error
// kind), and the Retry-After header read.

#include "upstream/client.hpp"
#include "util/strings.hpp"

#include <algorithm>
#include <ctime>

namespace dataflow::upstream {

using std::chrono::milliseconds;
using std::chrono::system_clock;

analysis::ProbeOutcome probe_outcome(Outcome outcome) {
    using analysis::ProbeOutcome;
    switch (outcome) {
    case Outcome::success:
    case Outcome::not_modified: // the data is there, as it was
        return ProbeOutcome::success;
    case Outcome::no_data:
        return ProbeOutcome::no_data;
    case Outcome::client_error:
        return ProbeOutcome::client_error;
    case Outcome::rate_limited:
        return ProbeOutcome::rate_limited;
    case Outcome::server_error:
        return ProbeOutcome::server_error;
    case Outcome::timeout:
        return ProbeOutcome::timeout;
    case Outcome::network:
        return ProbeOutcome::network;
    case Outcome::bad_payload:
        return ProbeOutcome::bad_payload;
    case Outcome::too_large:
        return ProbeOutcome::too_large;
    case Outcome::breaker_open:
        return ProbeOutcome::breaker_open;
    case Outcome::cancelled:
        return ProbeOutcome::cancelled;
    }
    return ProbeOutcome::none;
}

std::string_view to_string(Outcome outcome) {
    if (outcome == Outcome::not_modified) {
        return "not_modified"; // the only outcome whose probe outcome has another name
    }
    return analysis::to_string(probe_outcome(outcome));
}

bool retryable(Outcome outcome) {
    return outcome == Outcome::timeout || outcome == Outcome::network ||
           outcome == Outcome::server_error;
}

ErrorKind error_kind(Outcome outcome) {
    switch (outcome) {
    case Outcome::rate_limited:
        return ErrorKind::rate_limited;
    case Outcome::no_data:
    case Outcome::client_error:
    case Outcome::too_large:
        return ErrorKind::input;
    case Outcome::cancelled:
        return ErrorKind::internal;
    case Outcome::success:
    case Outcome::not_modified: // no error: what success has always got
        return ErrorKind::unavailable;
    default:
        return ErrorKind::unavailable;
    }
}

std::string_view to_string(OpClass op) {
    return op == OpClass::structure ? "structure" : "data";
}

std::optional<milliseconds> parse_retry_after(std::string_view value,
                                              system_clock::time_point now) {
    value = util::trim(value, " ");
    if (value.empty()) {
        return std::nullopt;
    }
    if (std::all_of(value.begin(), value.end(), [](char c) { return c >= '0' && c <= '9'; })) {
        if (value.size() > 9) {
            return milliseconds(999'999'999LL * 1000);
        }
        return milliseconds(std::stoll(std::string(value)) * 1000);
    }
    // IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT"
    std::tm tm{};
    std::string text(value);
    const char* end = ::strptime(text.c_str(), "%a, %d %b %Y %H:%M:%S GMT", &tm);
    if (end == nullptr || *end != '\0') {
        return std::nullopt;
    }
    auto when = system_clock::from_time_t(::timegm(&tm));
    auto delta = std::chrono::duration_cast<milliseconds>(when - now);
    return std::max(delta, milliseconds(0));
}

} // namespace dataflow::upstream

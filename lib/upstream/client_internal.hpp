#pragma once
/// Internal to upstream/: what the client's files share (client.cpp: admission, retries and
/// redirects; exchange.cpp: one request on the wire and how it ended).

#include "upstream/client.hpp"

#include <chrono>
#include <string>
#include <string_view>

namespace dataflow::upstream {

/// One attempt's request, the same for each of its hops (redirects).
struct Client::Request {
    const util::Url& url; ///< as asked for (before any redirect)
    const ClientSettings& s;
    const Timeouts& t;
    std::string_view accept;
    std::chrono::steady_clock::time_point deadline;
    const Conditional& conditional; ///< values checked (header_value_ok) or empty
};

namespace detail {

/// A duration for messages: milliseconds under a second, else whole seconds.
std::string seconds_text(std::chrono::nanoseconds d);

/// Fit to send or keep as a header value: not empty, no control characters (CR, LF, NUL, ...).
bool header_value_ok(std::string_view value);

} // namespace detail

} // namespace dataflow::upstream

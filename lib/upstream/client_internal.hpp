#pragma once
/// Internal to upstream/: what the client's files share (client.cpp: admission, retries and
/// redirects; exchange.cpp: one request on the wire and how it ended).

#include <chrono>
#include <string>

namespace dataflow::upstream::detail {

/// A duration for messages: milliseconds under a second, else whole seconds.
std::string seconds_text(std::chrono::nanoseconds d);

} // namespace dataflow::upstream::detail

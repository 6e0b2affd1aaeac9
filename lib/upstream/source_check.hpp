#pragma once
/// `dataflow sources check`: is a source reachable, and how fast does it answer? One cheap
/// structure query (its dataflows as stubs) per source, through the client: inside the source's
/// budget, its breaker and a deadline.

#include "config/sources.hpp"
#include "upstream/client.hpp"

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace dataflow::upstream {

struct SourceCheck {
    std::string id;
    std::string url;
    Outcome outcome = Outcome::network;
    int status = 0;
    bool reachable = false; ///< an HTTP answer that says the service works (2xx, 304)
    std::chrono::milliseconds first_byte{0};
    std::chrono::milliseconds total{0};
    std::string message; ///< what went wrong, when not reachable
};

/// Checks each source at once (one thread each) with the client's structure timeouts and
/// retries (the CLI sets them from --timeout, no retry: one attempt measured). The rate limiter
/// is waited for within the deadline; a source whose budget stays spent is reported
/// rate_limited, never asked. Reads at most `max_bytes` of each answer: more is still a working
/// service.
std::vector<SourceCheck> check_sources(Client& client,
                                       const std::vector<const config::Source*>& sources,
                                       std::uint64_t max_bytes = 1024 * 1024);

} // namespace dataflow::upstream

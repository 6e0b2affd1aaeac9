#pragma once
/// What the commands add to lib/live/ for live upstream calls: Ctrl-C handling, probing a list
/// of dataflows with progress on a terminal, and the exit code of a probe run.

#include "analysis/report.hpp"
#include "live/probes.hpp"
#include "terminal.hpp"
#include "upstream/setup.hpp"

#include <string>
#include <vector>

namespace dataflow::cli {

/// While alive, SIGINT/SIGTERM cancel `client`'s calls instead of killing the process.
class InterruptGuard {
public:
    explicit InterruptGuard(upstream::Client& client);
    ~InterruptGuard();
    InterruptGuard(const InterruptGuard&) = delete;
    InterruptGuard& operator=(const InterruptGuard&) = delete;
    static bool interrupted();
};

/// Whether a command-line input is an http(s):// URL (else a file, or - for stdin).
bool is_url(const std::string& s);
/// Refuses a URL of another scheme (ftp://, s3://) rather than reading it as a file name.
void check_source_scheme(const std::string& source);

/// Exit status after an interruption (128 + SIGINT).
inline constexpr int k_exit_interrupted = 130;

/// Probes `flows` in order, sequentially under the rate limiter, through `prober` (its cache
/// and policy decide what is reused and kept); progress on stderr when it is a terminal. Stops
/// early on Ctrl-C (interrupted() tells).
analysis::ProbeResults probe_all(upstream::Upstream& up, live::CachedProber& prober,
                                 const std::vector<std::string>& flows, const Terminal& terminal,
                                 bool quiet);

/// 0 when every probe got an answer; 75 when any was rate-limited; 69 when any failed for
/// unavailability (timeout, network, 5xx, open breaker).
int probe_exit_code(const analysis::ProbeResults& results);

} // namespace dataflow::cli

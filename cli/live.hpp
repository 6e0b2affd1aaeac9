#pragma once
/// What the commands share for live upstream calls: Ctrl-C handling, fetching a catalogue with
/// errors mapped to exit codes, and probing a list of dataflows with progress on a terminal.

#include "analysis/report.hpp"
#include "cache/single_flight.hpp"
#include "terminal.hpp"
#include "upstream/probe.hpp"
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

/// Exit status after an interruption (128 + SIGINT).
inline constexpr int k_exit_interrupted = 130;

/// GETs a dataflow catalogue; throws an Error of the outcome's kind (exit 69, 75, 1) naming the
/// URL, with when to retry for rate limits and open breakers. nullopt when interrupted.
std::optional<std::string> fetch_catalogue(upstream::Client& client, const util::Url& url,
                                           std::uint64_t max_bytes);

/// The service root of a catalogue URL (".../rest/dataflow/IT1" -> ".../rest"), or nullopt.
std::optional<util::Url> service_root(const util::Url& catalogue);

/// How a command uses the cache (cache.backend = redis; off with --no-cache).
struct CacheUse {
    cache::Cache* cache = nullptr; ///< nullptr: no caching
    cache::CachedComputer* computer = nullptr;
    cache::Policy catalog;
    cache::Policy probe;
    bool read = true; ///< false with --refresh: measure again, store the result
};

/// What fetching the catalogue found.
struct FetchedCatalogue {
    std::string body;
    bool cache_hit = false;
    bool stale = false;
    std::optional<double> age_seconds;
};

/// The catalogue at `url`, through the cache when there is one (stale copies are served when
/// the upstream fails). nullopt when interrupted.
std::optional<FetchedCatalogue> fetch_catalogue_cached(upstream::Client& client,
                                                       const util::Url& url,
                                                       std::uint64_t max_bytes,
                                                       const CacheUse& cache);

/// Probes `flows` in order, sequentially under the rate limiter (cached results are used
/// unless `cache.read` is false); progress on stderr when it is a terminal. Stops early on
/// Ctrl-C (interrupted() tells).
analysis::ProbeResults probe_all(upstream::Upstream& up, upstream::Prober& prober,
                                 const std::vector<std::string>& flows, const Terminal& terminal,
                                 bool quiet, const CacheUse& cache = {});

/// 0 when every probe got an answer; 75 when any was rate-limited; 69 when any failed for
/// unavailability (timeout, network, 5xx, open breaker).
int probe_exit_code(const analysis::ProbeResults& results);

} // namespace dataflow::cli

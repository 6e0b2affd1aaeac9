#pragma once
/// Caching a computation: fresh entries are served; one caller (per process, and across pods
/// through the cache's lock) refreshes a missing or stale entry while the others wait for it
/// (bounded) or are served the stale copy; a failed refresh serves the stale copy too.

#include "cache/cache.hpp"
#include "util/clock.hpp"

#include <functional>
#include <future>
#include <map>
#include <mutex>

namespace dataflow::cache {

struct Policy {
    std::chrono::milliseconds fresh_ttl{3'600'000};
    std::chrono::milliseconds stale_ttl{7 * 24 * 3'600'000LL};
    std::chrono::milliseconds negative_ttl{600'000};
    std::chrono::milliseconds lock_ttl{30'000}; ///< the cross-pod refresh lock
    std::chrono::milliseconds lock_wait{5'000}; ///< how long to wait for another's refresh
    bool refresh = false;                       ///< ignore what is cached (but store the result)
};

struct Fetched {
    Entry entry;
    bool cache_hit = false; ///< served from the cache (fresh or stale)
    bool stale = false;
    double age_seconds = 0.0;
    std::string stale_reason; ///< why a stale entry was served
};

/// The result of a computation: the value, and whether it is negative (shorter TTL).
struct Computed {
    std::string value;
    std::string content_type = "application/octet-stream";
    bool negative = false;
    std::vector<std::string> tags;
    bool store = true; ///< false: not worth caching (rate-limited, cancelled)
};

class CachedComputer {
public:
    CachedComputer(Cache& cache, const util::Clock& clock);

    /// Returns the cached value for `key`, or computes it (once per key at a time). `compute`
    /// may throw; then a stale entry is served if there is one, else the exception propagates.
    Fetched get(const std::string& key, const Policy& policy,
                const std::function<Computed()>& compute);

private:
    Fetched compute_and_store(const std::string& key, const Policy& policy,
                              const std::function<Computed()>& compute, const Lookup& previous);

    Cache& m_cache;
    const util::Clock& m_clock;
    std::mutex m_mutex;
    std::map<std::string, std::shared_future<Fetched>> m_in_flight;
};

} // namespace dataflow::cache

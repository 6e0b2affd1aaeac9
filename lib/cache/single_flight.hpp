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
#include <optional>

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
    bool cache_hit = false; ///< served from the cache (fresh or stale, or confirmed)
    bool stale = false;
    double age_seconds = 0.0;
    std::string stale_reason; ///< why a stale entry was served
    bool value_loaded = true; ///< entry.value holds the value (revalidate() may not read it)
    bool confirmed = false;   ///< the upstream confirmed the cached value just now (age 0)
};

/// The result of a computation: the value, and whether it is negative (shorter TTL).
struct Computed {
    std::string value;
    std::string content_type = "application/octet-stream";
    bool negative = false;
    std::vector<std::string> tags;
    bool store = true; ///< false: not worth caching (rate-limited, cancelled)
    /// The cached entry passed to the computation is still current (an HTTP 304): its value,
    /// content type, tags, validators and born_ms are kept, its times extended; the fields
    /// above are ignored.
    bool unchanged = false;
    std::string etag = {};          ///< the validators of the upstream response, stored with
    std::string last_modified = {}; ///< the value for the next conditional request
};

class CachedComputer {
public:
    /// What the computation learns of the entry it may replace: its header (value empty), or
    /// nullptr when nothing is cached.
    using Revalidate = std::function<Computed(const Entry* previous)>;

    CachedComputer(Cache& cache, const util::Clock& clock);

    /// Returns the cached value for `key`, or computes it (once per key at a time). `compute`
    /// may throw; then a stale entry is served if there is one, else the exception propagates.
    Fetched get(const std::string& key, const Policy& policy,
                const std::function<Computed()>& compute);

    /// Like get(), but looks entries up with head() (no value read), lets `compute` revalidate
    /// against the cached entry's header (Computed::unchanged = true: the cached value is
    /// confirmed, so its times are extended in place with touch(), falling back to set() of the
    /// full entry when touch() fails), and reads the value (get()) only when
    /// `needs_value(entry header)` says so. Fetched::value_loaded tells whether entry.value holds
    /// it. With policy.refresh, `compute` still gets the cached header (a forced revalidation).
    /// When the value is needed but its entry vanished between the look and the read (expired,
    /// evicted, flushed), `compute` runs once more with nullptr and its result is stored and
    /// served. Throws std::logic_error when `compute` says unchanged with nothing cached.
    Fetched revalidate(const std::string& key, const Policy& policy, const Revalidate& compute,
                       const std::function<bool(const Entry&)>& needs_value);

private:
    /// get() (headers_only false) or revalidate(): how entries are looked up and computed.
    struct Mode {
        bool headers_only = false; ///< head() instead of get(): values are not in hand
        Revalidate compute;
    };
    Lookup lookup(const std::string& key, const Mode& mode);
    Fetched fetch(const std::string& key, const Policy& policy, const Mode& mode);
    Fetched compute_and_store(const std::string& key, const Policy& policy, const Mode& mode,
                              const Lookup& previous);
    /// Waits (bounded) for another replica's refresh. Returns its result, or nullopt with
    /// `token` set when this one took the lock meanwhile (or empty when it waited enough).
    std::optional<Fetched> wait_for_other(const std::string& key, const Policy& policy,
                                          const Mode& mode, const Lookup& previous,
                                          std::optional<std::string>& token);
    /// Runs the computation and stores (or touches) its result.
    Fetched produce(const std::string& key, const Policy& policy, const Mode& mode,
                    const Lookup& previous);
    /// Extends the times of `previous`, confirmed by the upstream.
    Fetched confirm(const std::string& key, const Policy& policy, const Mode& mode,
                    const Lookup& previous);
    /// Stores a new value (if worth it) and returns it.
    Fetched store(const std::string& key, const Policy& policy, Computed c);
    /// Reads the value of `f` (revalidate()); recomputes it when its entry has vanished.
    void load_value(const std::string& key, const Policy& policy, const Revalidate& compute,
                    Fetched& f);
    std::int64_t now_ms() const;

    Cache& m_cache;
    const util::Clock& m_clock;
    std::mutex m_mutex;
    std::map<std::string, std::shared_future<Fetched>> m_in_flight;
};

} // namespace dataflow::cache

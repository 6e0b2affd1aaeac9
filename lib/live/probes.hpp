#pragma once
/// Probing dataflows through the cache, with the one rule for what is kept: a measurement is
/// stored (a failed one as negative, for cache.negative_ttl), a failure of our own (the rate
/// limit was spent, Ctrl-C, an open breaker) is not. The CLI measures on its own thread; the
/// service's ProbeScheduler looks results up on requests and measures in the background.

#include "analysis/readiness.hpp"
#include "cache/single_flight.hpp"
#include "config/config.hpp"
#include "upstream/probe.hpp"
#include "util/clock.hpp"

#include <memory>
#include <optional>
#include <string>

namespace dataflow::live {

/// The probe-result policy: cache.probe_ttl for results, cache.negative_ttl for failures.
cache::Policy probe_policy(const config::Config& config);

/// What the cache keeps of a probe result: its JSON, negative unless the data was usable, and
/// `store` only when analysis::worth_caching says the result is a measurement.
cache::Computed probe_entry(const analysis::ProbeResult& result);

/// A probe result found in the cache.
struct CachedProbe {
    analysis::ProbeResult result;
    bool fresh = false; ///< false: stale, worth measuring again
    double age_seconds = 0.0;
};

/// What measure() returns.
struct Measured {
    analysis::ProbeResult result;
    bool from_cache = false; ///< a fresh cached result (or another replica's), not probed here
};

/// Probes of one data root and probe settings (the Prober), through the cache.
class CachedProber {
public:
    /// `cache` nullptr: lookups miss, measurements are not stored. `policy.refresh`: measure
    /// even when a fresh result is cached.
    CachedProber(upstream::Prober prober, cache::Cache* cache, const util::Clock& clock,
                 cache::Policy policy);

    /// The cache key of `id`'s probe (live::probe_key of the data URL).
    std::string key(const std::string& id) const;
    /// The cached result for `id`, fresh or stale; nullopt when none. Thread-safe.
    std::optional<CachedProbe> lookup(const std::string& id) const;
    /// A fresh cached result for `id`, else a new probe, stored when worth keeping. A result of
    /// `cancelled` means the client was cancelled. One caller at a time (the Prober is not
    /// shared between threads); throws UsageError for an id that is not a dataflow id.
    Measured measure(const std::string& id);

    upstream::Prober& prober() { return m_prober; }

private:
    upstream::Prober m_prober;
    cache::Cache* m_cache;
    std::unique_ptr<cache::CachedComputer> m_computer; ///< nullptr without a cache
    cache::Policy m_policy;
};

} // namespace dataflow::live

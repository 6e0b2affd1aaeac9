#pragma once
/// Building the cache from the configuration's typed settings: the memory backend, or Redis (with
/// its pool, which the cluster-wide rate limiter shares). Each function also takes a whole
/// config::Config (its settings()), for callers that hold a snapshot.

#include "cache/redis_cache.hpp"
#include "cache/single_flight.hpp"
#include "config/config.hpp"

#include <memory>

namespace dataflow::cache {

redis::Settings redis_settings(const config::RedisSettings& redis);
/// The policy of catalogues and analyses (cache.fresh_ttl, stale_ttl, negative_ttl, lock_*).
Policy policy(const config::CacheSettings& cache);
/// The probe-result policy (cache.probe_ttl for results, cache.negative_ttl for failures).
Policy probe_policy(const config::CacheSettings& cache);

redis::Settings redis_settings(const config::Config& config);
Policy policy(const config::Config& config);
Policy probe_policy(const config::Config& config);

/// cache.backend = memory: a MemoryCache; redis: a RedisCache.
std::unique_ptr<Cache> make_cache(const config::Settings& settings, const util::Clock& clock);
std::unique_ptr<Cache> make_cache(const config::Config& config, const util::Clock& clock);

} // namespace dataflow::cache

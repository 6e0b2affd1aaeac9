#pragma once
/// The cluster-wide upstream budget: one token bucket per upstream host kept in Redis and
/// updated atomically by a Lua script (Redis' own clock, so replicas' clocks do not matter),
/// plus a shared back-off key that a 429 seen by any replica sets for all of them. When Redis
/// is unreachable each replica falls back to a local limiter at its share of the budget
/// (budget / upstream.replicas). A host's two keys share the hash tag {host}, so its script runs
/// on one slot of a Redis Cluster, and different hosts spread over the shards.

#include "redis/client.hpp"
#include "redis/script.hpp"
#include "resilience/circuit_breaker.hpp"
#include "resilience/rate_limiter.hpp"

#include <map>
#include <memory>
#include <mutex>
#include <string>

namespace dataflow::resilience {

class RedisRateLimiter final : public RateLimiter {
public:
    /// `redis` must outlive the limiter. `replicas` sizes the fallback share.
    RedisRateLimiter(redis::Client& redis, std::string prefix, RateLimit default_limit,
                     std::map<std::string, RateLimit> per_host, int replicas,
                     const util::Clock& clock);

    Reservation reserve(std::string_view host, std::chrono::milliseconds max_wait) override;
    void back_off(std::string_view host, std::chrono::milliseconds duration) override;
    std::vector<HostLimitStatus> status() const override;
    void configure(RateLimit default_limit, std::map<std::string, RateLimit> per_host,
                   int replicas) override;
    /// True after the last call had to use the local fallback.
    bool degraded() const;

private:
    RateLimit limit_for(std::string_view host) const;
    /// "<prefix>:v1:ratelimit:{host}"; its back-off key appends ":backoff".
    std::string bucket_key(std::string_view host) const;

    redis::Client& m_redis;
    std::string m_root;
    const util::Clock& m_clock;
    mutable std::mutex m_mutex;
    RateLimit m_default;
    std::map<std::string, RateLimit> m_per_host;
    int m_replicas;
    std::unique_ptr<LocalRateLimiter> m_fallback;
    CircuitBreaker m_breaker;
    redis::Script m_reserve_script;
    redis::Script m_backoff_script;
    bool m_degraded = false;
};

} // namespace dataflow::resilience

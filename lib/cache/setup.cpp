#include "cache/setup.hpp"

#include "upstream/setup.hpp"

namespace dataflow::cache {

redis::Settings redis_settings(const config::Config& c) {
    redis::Settings s;
    s.host = c.str("redis.host");
    s.port = static_cast<int>(c.integer("redis.port"));
    s.db = static_cast<int>(c.integer("redis.db"));
    s.username = c.str("redis.username");
    s.password = c.str("redis.password");
    s.connect_timeout = c.duration("redis.connect_timeout");
    s.command_timeout = c.duration("redis.command_timeout");
    s.pool_size = static_cast<int>(c.integer("redis.pool_size"));
    return s;
}

Policy policy(const config::Config& c) {
    Policy p;
    p.fresh_ttl = c.duration("cache.fresh_ttl");
    p.stale_ttl = c.duration("cache.stale_ttl");
    p.negative_ttl = c.duration("cache.negative_ttl");
    p.lock_ttl = c.duration("cache.lock_ttl");
    p.lock_wait = c.duration("cache.lock_wait");
    return p;
}

Policy probe_policy(const config::Config& c) {
    Policy p = policy(c);
    p.fresh_ttl = c.duration("cache.probe_ttl");
    p.stale_ttl = c.duration("cache.probe_ttl");
    return p;
}

std::unique_ptr<Cache> make_cache(const config::Config& c, const util::Clock& clock) {
    if (c.str("cache.backend") == "redis") {
        // Redis answers in well under a millisecond: a few failures mean it is down, and a
        // restarted Redis is worth trying again within seconds (not the upstream's minute).
        auto breaker = upstream::breaker_settings(c);
        breaker.failure_threshold = std::min(breaker.failure_threshold, 3);
        breaker.open_duration = std::min(breaker.open_duration, std::chrono::milliseconds(5000));
        breaker.slow_call_threshold = c.duration("redis.command_timeout") * 2;
        return std::make_unique<RedisCache>(redis_settings(c), c.str("redis.key_prefix"),
                                            c.size("cache.memory_budget"), breaker, clock);
    }
    return std::make_unique<MemoryCache>(c.size("cache.memory_budget"), clock);
}

} // namespace dataflow::cache

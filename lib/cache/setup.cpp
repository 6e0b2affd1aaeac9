#include "cache/setup.hpp"

#include "upstream/setup.hpp"

namespace dataflow::cache {

redis::Settings redis_settings(const config::RedisSettings& r) {
    redis::Settings s;
    s.mode = r.mode == config::RedisMode::cluster    ? redis::Mode::cluster
             : r.mode == config::RedisMode::sentinel ? redis::Mode::sentinel
                                                     : redis::Mode::standalone;
    s.host = r.host;
    s.port = r.port;
    // The loader checked every item: parse_endpoint cannot fail here.
    for (const auto& n : r.nodes) {
        if (auto at = redis::parse_endpoint(n, 6379)) {
            s.nodes.push_back(*at);
        }
    }
    for (const auto& n : r.sentinels) {
        if (auto at = redis::parse_endpoint(n, 26379)) {
            s.sentinels.push_back(*at);
        }
    }
    s.sentinel_master = r.sentinel_master;
    s.sentinel_username = r.sentinel_username;
    s.sentinel_password = r.sentinel_password;
    s.db = r.db;
    s.username = r.username;
    s.password = r.password;
    s.connect_timeout = r.connect_timeout;
    s.command_timeout = r.command_timeout;
    s.pool_size = r.pool_size;
    return s;
}

Policy policy(const config::CacheSettings& c) {
    Policy p;
    p.fresh_ttl = c.fresh_ttl;
    p.stale_ttl = c.stale_ttl;
    p.negative_ttl = c.negative_ttl;
    p.lock_ttl = c.lock_ttl;
    p.lock_wait = c.lock_wait;
    return p;
}

Policy probe_policy(const config::CacheSettings& c) {
    Policy p = policy(c);
    p.fresh_ttl = c.probe_ttl;
    p.stale_ttl = c.probe_ttl;
    return p;
}

redis::Settings redis_settings(const config::Config& config) {
    return redis_settings(config.settings().redis);
}
Policy policy(const config::Config& config) {
    return policy(config.settings().cache);
}
Policy probe_policy(const config::Config& config) {
    return probe_policy(config.settings().cache);
}

std::unique_ptr<Cache> make_cache(const config::Settings& s, const util::Clock& clock) {
    if (s.cache.backend == config::CacheBackend::redis) {
        // Redis answers in well under a millisecond: a few failures mean it is down, and a
        // restarted Redis is worth trying again within seconds (not the upstream's minute).
        auto breaker = upstream::breaker_settings(s.breaker);
        breaker.failure_threshold = std::min(breaker.failure_threshold, 3);
        breaker.open_duration = std::min(breaker.open_duration, std::chrono::milliseconds(5000));
        breaker.slow_call_threshold = s.redis.command_timeout * 2;
        return std::make_unique<RedisCache>(redis_settings(s.redis), s.redis.key_prefix,
                                            s.cache.memory_budget, breaker, clock);
    }
    return std::make_unique<MemoryCache>(s.cache.memory_budget, clock);
}

std::unique_ptr<Cache> make_cache(const config::Config& config, const util::Clock& clock) {
    return make_cache(config.settings(), clock);
}

} // namespace dataflow::cache

#include "resilience/redis_rate_limiter.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <cmath>

namespace dataflow::resilience {

namespace {

// KEYS: bucket, backoff. ARGV: tokens per ms, burst, max wait ms.
// Returns {granted (0/1), wait ms (granted: until sending; refused: until a token), backing off}.
const std::string k_reserve = R"lua(
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local max_wait = tonumber(ARGV[3])
local start = now
local bo = redis.call('PTTL', KEYS[2])
if bo > 0 then
  if bo > max_wait then return {0, bo, 1} end
  start = now + bo
end
local b = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(b[1])
local ts = tonumber(b[2])
if tokens == nil or ts == nil then tokens = burst; ts = now end
if now > ts then
  tokens = math.min(burst, tokens + (now - ts) * rate)
  ts = now
end
local wait = 0
if tokens < 1 then wait = math.ceil((1 - tokens) / rate) end
local send = math.max(start, now + wait)
if send - now > max_wait then return {0, send - now, 0} end
tokens = tokens - 1
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', tostring(ts))
redis.call('PEXPIRE', KEYS[1], math.ceil((burst - tokens) / rate) + 60000)
return {1, send - now, 0}
)lua";

// KEYS: bucket, backoff. ARGV: duration ms. Extends the back-off, voids saved tokens.
const std::string k_backoff = R"lua(
local ms = tonumber(ARGV[1])
if redis.call('PTTL', KEYS[2]) < ms then
  redis.call('SET', KEYS[2], '1', 'PX', ms)
end
local tokens = tonumber(redis.call('HGET', KEYS[1], 'tokens'))
if tokens ~= nil and tokens > 0 then redis.call('HSET', KEYS[1], 'tokens', '0') end
return 1
)lua";

/// Redis answers in well under a millisecond: a few failures mean it is down, and it is worth
/// trying again after a few seconds.
BreakerSettings fallback_breaker() {
    BreakerSettings b;
    b.failure_threshold = 3;
    b.open_duration = std::chrono::seconds(5);
    return b;
}

} // namespace

RedisRateLimiter::RedisRateLimiter(redis::Client& redis, std::string prefix,
                                   RateLimit default_limit,
                                   std::map<std::string, RateLimit> per_host, int replicas,
                                   const util::Clock& clock)
    : m_redis(redis), m_root(prefix + ":v1:ratelimit:"), m_clock(clock), m_default(default_limit),
      m_per_host(std::move(per_host)), m_replicas(std::max(1, replicas)),
      m_breaker("redis-limiter/" + redis.endpoint(), fallback_breaker(), clock),
      m_reserve_script(k_reserve), m_backoff_script(k_backoff) {
    configure(m_default, m_per_host, m_replicas);
}

void RedisRateLimiter::configure(RateLimit default_limit, std::map<std::string, RateLimit> per_host,
                                 int replicas) {
    std::lock_guard lock(m_mutex);
    m_default = default_limit;
    m_per_host = std::move(per_host);
    m_replicas = std::max(1, replicas);
    auto share = [&](RateLimit l) {
        l.per_minute /= m_replicas;
        return l;
    };
    std::map<std::string, RateLimit> shares;
    for (const auto& [h, l] : m_per_host) {
        shares[h] = share(l);
    }
    if (m_fallback) {
        m_fallback->configure(share(m_default), shares);
    } else {
        m_fallback = std::make_unique<LocalRateLimiter>(share(m_default), shares, m_clock);
    }
}

RateLimit RedisRateLimiter::limit_for(std::string_view host) const {
    auto it = m_per_host.find(std::string(host));
    return it == m_per_host.end() ? m_default : it->second;
}

std::string RedisRateLimiter::bucket_key(std::string_view host) const {
    return m_root + "{" + std::string(host) + "}";
}

bool RedisRateLimiter::degraded() const {
    std::lock_guard lock(m_mutex);
    return m_degraded;
}

Reservation RedisRateLimiter::reserve(std::string_view host, std::chrono::milliseconds max_wait) {
    RateLimit limit;
    {
        std::lock_guard lock(m_mutex);
        limit = limit_for(host);
    }
    auto permit = m_breaker.acquire();
    if (permit.allowed) {
        try {
            auto key = bucket_key(host);
            auto v = m_reserve_script.run(m_redis, {key, key + ":backoff"},
                                          {fmt::format("{:.12f}", limit.per_minute / 60000.0),
                                           std::to_string(limit.burst),
                                           std::to_string(max_wait.count())});
            if (v.type != redis::Value::Type::array || v.elements.size() != 3) {
                throw redis::Error("Redis " + m_redis.endpoint() +
                                   ": unexpected rate-limit script reply " + v.str);
            }
            m_breaker.record(permit, CallResult::success, std::chrono::milliseconds(0));
            {
                std::lock_guard lock(m_mutex);
                if (m_degraded) {
                    spdlog::info("rate limiter: Redis {} is back; the budget is shared again",
                                 m_redis.endpoint());
                }
                m_degraded = false;
            }
            auto now = m_clock.steady();
            auto wait = std::chrono::milliseconds(v.elements[1].integer);
            if (v.elements[0].integer == 1) {
                return Reservation{true, now + wait, {}, false};
            }
            return Reservation{false, {}, now + wait, v.elements[2].integer == 1};
        } catch (const redis::Error& e) {
            m_breaker.record(permit, CallResult::failure, std::chrono::milliseconds(0));
            std::lock_guard lock(m_mutex);
            if (!m_degraded) {
                spdlog::warn("rate limiter: {}; using this replica's share of the budget ({} "
                             "replicas)",
                             e.what(), m_replicas);
            }
            m_degraded = true;
        }
    } else {
        std::lock_guard lock(m_mutex);
        m_degraded = true;
    }
    return m_fallback->reserve(host, max_wait);
}

void RedisRateLimiter::back_off(std::string_view host, std::chrono::milliseconds duration) {
    m_fallback->back_off(host, duration); // this replica stops at once in any case
    auto permit = m_breaker.acquire();
    if (!permit.allowed) {
        return;
    }
    try {
        auto key = bucket_key(host);
        auto v = m_backoff_script.run(m_redis, {key, key + ":backoff"},
                                      {std::to_string(duration.count())});
        if (v.is_error()) {
            throw redis::Error("Redis " + m_redis.endpoint() + ": " + v.str);
        }
        m_breaker.record(permit, CallResult::success, std::chrono::milliseconds(0));
    } catch (const redis::Error& e) {
        m_breaker.record(permit, CallResult::failure, std::chrono::milliseconds(0));
        spdlog::warn("rate limiter: cannot share the back-off for {}: {}", host, e.what());
    }
}

std::vector<HostLimitStatus> RedisRateLimiter::status() const {
    return m_fallback->status();
}

} // namespace dataflow::resilience

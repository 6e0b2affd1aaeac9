#include "upstream/setup.hpp"

#include "util/error.hpp"

namespace dataflow::upstream {

ClientSettings client_settings(const config::UpstreamSettings& u) {
    ClientSettings s;
    s.user_agent = u.user_agent;
    s.ca_file = u.ca_file;
    s.structure = {u.structure_connect_timeout, u.structure_read_timeout, u.structure_deadline};
    s.data = {u.data_connect_timeout, u.data_read_timeout, u.data_deadline};
    s.max_response_bytes = u.max_response_size;
    s.max_redirects = u.max_redirects;
    s.retries = u.retries;
    s.retry_base_delay = u.retry_base_delay;
    s.retry_max_delay = u.retry_max_delay;
    s.retry_after_min = u.retry_after_min;
    s.retry_after_max = u.retry_after_max;
    s.backoff_default = u.backoff_default;
    return s;
}

resilience::BreakerSettings breaker_settings(const config::BreakerSettings& c) {
    resilience::BreakerSettings b;
    b.failure_threshold = c.failure_threshold;
    b.failure_ratio = c.failure_ratio;
    b.minimum_calls = c.minimum_calls;
    b.window = c.window;
    b.open_duration = c.open_duration;
    b.half_open_successes = c.half_open_successes;
    b.slow_call_threshold = c.slow_call_threshold;
    return b;
}

resilience::RateLimit default_rate_limit(const config::UpstreamSettings& u) {
    return {u.rate_limit_per_minute, u.rate_limit_burst};
}

std::map<std::string, resilience::RateLimit> host_rate_limits(const config::UpstreamSettings& u) {
    std::map<std::string, resilience::RateLimit> limits;
    auto why = resilience::parse_host_limits(u.host_rate_limits, limits);
    if (!why.empty()) {
        throw ConfigError("upstream.host_rate_limits: " + why);
    }
    return limits;
}

ProbeSettings probe_settings(const config::ProbeSettings& c) {
    ProbeSettings p;
    p.last_n_observations = c.last_n_observations;
    p.detail = std::string(config::to_string(c.detail));
    p.max_bytes = c.max_bytes;
    return p;
}

util::Url base_url(const config::UpstreamSettings& u) {
    auto parsed = util::parse_url(u.base_url, false);
    if (!parsed.url) {
        throw ConfigError("upstream.base_url: " + parsed.error);
    }
    return *parsed.url;
}

ClientSettings client_settings(const config::Config& config) {
    return client_settings(config.settings().upstream);
}
resilience::BreakerSettings breaker_settings(const config::Config& config) {
    return breaker_settings(config.settings().breaker);
}
resilience::RateLimit default_rate_limit(const config::Config& config) {
    return default_rate_limit(config.settings().upstream);
}
std::map<std::string, resilience::RateLimit> host_rate_limits(const config::Config& config) {
    return host_rate_limits(config.settings().upstream);
}
ProbeSettings probe_settings(const config::Config& config) {
    return probe_settings(config.settings().probe);
}
util::Url base_url(const config::Config& config) {
    return base_url(config.settings().upstream);
}

namespace {

std::unique_ptr<resilience::RateLimiter>
make_limiter(const config::Settings& settings, const util::Clock& clock, redis::Pool* redis) {
    const auto& u = settings.upstream;
    if (redis != nullptr) {
        return std::make_unique<resilience::RedisRateLimiter>(
            *redis, settings.redis.key_prefix, default_rate_limit(u), host_rate_limits(u),
            u.replicas, clock);
    }
    return std::make_unique<resilience::LocalRateLimiter>(default_rate_limit(u),
                                                          host_rate_limits(u), clock);
}

} // namespace

Upstream::Upstream(const config::Settings& settings, const util::Clock& clock, redis::Pool* redis)
    : m_limiter(make_limiter(settings, clock, redis)),
      m_breakers(breaker_settings(settings.breaker), clock),
      m_client(client_settings(settings.upstream), *m_limiter, m_breakers, clock) {
    m_breakers.set_enabled(settings.breaker.enabled);
}

void Upstream::reconfigure(const config::Settings& settings) {
    const auto& u = settings.upstream;
    m_limiter->configure(default_rate_limit(u), host_rate_limits(u), u.replicas);
    m_breakers.configure(breaker_settings(settings.breaker));
    m_breakers.set_enabled(settings.breaker.enabled);
    auto client = client_settings(u);
    client.wait_for_token = m_client.settings().wait_for_token;
    m_client.configure(client);
}

} // namespace dataflow::upstream

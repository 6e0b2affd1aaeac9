#include "upstream/setup.hpp"

#include "util/error.hpp"

namespace dataflow::upstream {

ClientSettings client_settings(const config::Config& c) {
    ClientSettings s;
    s.user_agent = c.str("upstream.user_agent");
    s.ca_file = c.str("upstream.ca_file");
    s.structure = {c.duration("upstream.structure_connect_timeout"),
                   c.duration("upstream.structure_read_timeout"),
                   c.duration("upstream.structure_deadline")};
    s.data = {c.duration("upstream.data_connect_timeout"), c.duration("upstream.data_read_timeout"),
              c.duration("upstream.data_deadline")};
    s.max_response_bytes = c.size("upstream.max_response_size");
    s.max_redirects = static_cast<int>(c.integer("upstream.max_redirects"));
    s.retries = static_cast<int>(c.integer("upstream.retries"));
    s.retry_base_delay = c.duration("upstream.retry_base_delay");
    s.retry_max_delay = c.duration("upstream.retry_max_delay");
    s.retry_after_min = c.duration("upstream.retry_after_min");
    s.retry_after_max = c.duration("upstream.retry_after_max");
    s.backoff_default = c.duration("upstream.backoff_default");
    return s;
}

resilience::BreakerSettings breaker_settings(const config::Config& c) {
    resilience::BreakerSettings b;
    b.failure_threshold = static_cast<int>(c.integer("breaker.failure_threshold"));
    b.failure_ratio = c.number("breaker.failure_ratio");
    b.minimum_calls = static_cast<int>(c.integer("breaker.minimum_calls"));
    b.window = c.duration("breaker.window");
    b.open_duration = c.duration("breaker.open_duration");
    b.half_open_successes = static_cast<int>(c.integer("breaker.half_open_successes"));
    b.slow_call_threshold = c.duration("breaker.slow_call_threshold");
    return b;
}

resilience::RateLimit default_rate_limit(const config::Config& c) {
    return {c.number("upstream.rate_limit_per_minute"),
            static_cast<int>(c.integer("upstream.rate_limit_burst"))};
}

std::map<std::string, resilience::RateLimit> host_rate_limits(const config::Config& c) {
    std::map<std::string, resilience::RateLimit> limits;
    auto why = resilience::parse_host_limits(c.list("upstream.host_rate_limits"), limits);
    if (!why.empty()) {
        throw ConfigError("upstream.host_rate_limits: " + why);
    }
    return limits;
}

ProbeSettings probe_settings(const config::Config& c) {
    ProbeSettings p;
    p.last_n_observations = static_cast<int>(c.integer("probe.last_n_observations"));
    p.detail = c.str("probe.detail");
    p.max_bytes = c.size("probe.max_bytes");
    return p;
}

util::Url base_url(const config::Config& c) {
    auto parsed = util::parse_url(c.str("upstream.base_url"), false);
    if (!parsed.url) {
        throw ConfigError("upstream.base_url: " + parsed.error);
    }
    return *parsed.url;
}

namespace {

std::unique_ptr<resilience::RateLimiter>
make_limiter(const config::Config& config, const util::Clock& clock, redis::Pool* redis) {
    if (redis != nullptr) {
        return std::make_unique<resilience::RedisRateLimiter>(
            *redis, config.str("redis.key_prefix"), default_rate_limit(config),
            host_rate_limits(config), static_cast<int>(config.integer("upstream.replicas")), clock);
    }
    return std::make_unique<resilience::LocalRateLimiter>(default_rate_limit(config),
                                                          host_rate_limits(config), clock);
}

} // namespace

Upstream::Upstream(const config::Config& config, const util::Clock& clock, redis::Pool* redis)
    : m_limiter(make_limiter(config, clock, redis)), m_breakers(breaker_settings(config), clock),
      m_client(client_settings(config), *m_limiter, m_breakers, clock) {
    m_breakers.set_enabled(config.flag("breaker.enabled"));
}

void Upstream::reconfigure(const config::Config& config) {
    m_limiter->configure(default_rate_limit(config), host_rate_limits(config),
                         static_cast<int>(config.integer("upstream.replicas")));
    m_breakers.configure(breaker_settings(config));
    m_breakers.set_enabled(config.flag("breaker.enabled"));
    auto settings = client_settings(config);
    settings.wait_for_token = m_client.settings().wait_for_token;
    m_client.configure(settings);
}

} // namespace dataflow::upstream

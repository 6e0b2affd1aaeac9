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

namespace {

std::optional<Timeouts> floor_timeouts(const Timeouts& configured,
                                       std::optional<std::chrono::milliseconds> read) {
    if (!read || *read <= configured.read) {
        return std::nullopt;
    }
    Timeouts t = configured;
    t.read = *read;
    t.deadline = std::max(configured.deadline, t.connect + t.read);
    return t;
}

} // namespace

Budgets source_budgets(const config::Settings& settings) {
    const auto& u = settings.upstream;
    Budgets b;
    b.limits = host_rate_limits(u);
    if (!settings.sources) {
        return b;
    }
    auto client = client_settings(u);
    for (const auto& s : settings.sources->all()) {
        auto parsed = util::parse_url(s.base_url, false);
        if (!parsed.url || b.limits.count(parsed.url->host) != 0) {
            continue;
        }
        std::string structure_key = "source:" + s.id;
        std::string data_key;
        if (s.split_budget()) {
            data_key = structure_key + "/data";
            structure_key += "/structure";
            b.limits[data_key] = {s.data_rate->per_minute, s.data_rate->burst};
        }
        b.limits[structure_key] = {s.structure_rate.per_minute, s.structure_rate.burst};
        auto route = make_route(*parsed.url, s.id, structure_key, data_key);
        route.structure_timeouts = floor_timeouts(client.structure, s.structure_read_timeout);
        route.data_timeouts = floor_timeouts(client.data, s.data_read_timeout);
        b.routes.push_back(std::move(route));
    }
    return b;
}

ProbeSettings probe_settings(const config::ProbeSettings& c) {
    ProbeSettings p;
    p.last_n_observations = c.last_n_observations;
    p.detail = std::string(config::to_string(c.detail));
    p.max_bytes = c.max_bytes;
    return p;
}

config::Source configured_source(const config::Settings& settings) {
    const auto& u = settings.upstream;
    const config::Source* found = settings.sources ? settings.sources->find(u.source) : nullptr;
    if (found == nullptr) {
        throw ConfigError("upstream.source: \"" + u.source + "\" is not a known source");
    }
    config::Source s = *found;
    if (!u.base_url.empty()) {
        s.base_url = u.base_url;
    }
    if (!u.agency.empty()) {
        s.agency = u.agency;
    }
    return s;
}

util::Url base_url(const config::Settings& settings) {
    auto parsed = util::parse_url(configured_source(settings).base_url, false);
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
    auto p = probe_settings(config.settings().probe);
    if (!configured_source(config.settings()).last_n_observations) {
        p.last_n_observations = 0; // the source refuses lastNObservations
    }
    return p;
}
util::Url base_url(const config::Config& config) {
    return base_url(config.settings());
}

namespace {

std::unique_ptr<resilience::RateLimiter>
make_limiter(const config::Settings& settings, const util::Clock& clock, redis::Client* redis) {
    const auto& u = settings.upstream;
    auto budgets = source_budgets(settings);
    if (redis != nullptr) {
        return std::make_unique<resilience::RedisRateLimiter>(
            *redis, settings.redis.key_prefix, default_rate_limit(u), std::move(budgets.limits),
            u.replicas, clock);
    }
    return std::make_unique<resilience::LocalRateLimiter>(default_rate_limit(u),
                                                          std::move(budgets.limits), clock);
}

} // namespace

Upstream::Upstream(const config::Settings& settings, const util::Clock& clock, redis::Client* redis)
    : m_limiter(make_limiter(settings, clock, redis)),
      m_breakers(breaker_settings(settings.breaker), clock),
      m_client(client_settings(settings.upstream), *m_limiter, m_breakers, clock) {
    m_breakers.set_enabled(settings.breaker.enabled);
    m_client.set_routes(source_budgets(settings).routes);
}

void Upstream::reconfigure(const config::Settings& settings) {
    const auto& u = settings.upstream;
    auto budgets = source_budgets(settings);
    m_limiter->configure(default_rate_limit(u), std::move(budgets.limits), u.replicas);
    m_client.set_routes(std::move(budgets.routes));
    m_breakers.configure(breaker_settings(settings.breaker));
    m_breakers.set_enabled(settings.breaker.enabled);
    auto client = client_settings(u);
    client.wait_for_token = m_client.settings().wait_for_token;
    m_client.configure(client);
}

} // namespace dataflow::upstream

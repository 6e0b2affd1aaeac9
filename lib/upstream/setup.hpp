#pragma once
/// Building the upstream stack (rate limiter, breakers, client, probe settings) from the
/// configuration's typed settings, and re-applying it on reload. Each function also takes a
/// whole config::Config (its settings()), for callers that hold a snapshot.

#include "config/config.hpp"
#include "redis/client.hpp"
#include "resilience/circuit_breaker.hpp"
#include "resilience/rate_limiter.hpp"
#include "resilience/redis_rate_limiter.hpp"
#include "upstream/client.hpp"
#include "upstream/probe.hpp"

#include <map>
#include <memory>
#include <string>

namespace dataflow::upstream {

ClientSettings client_settings(const config::UpstreamSettings& upstream);
resilience::BreakerSettings breaker_settings(const config::BreakerSettings& breaker);
resilience::RateLimit default_rate_limit(const config::UpstreamSettings& upstream);
/// upstream.host_rate_limits parsed (validated by the configuration already).
std::map<std::string, resilience::RateLimit>
host_rate_limits(const config::UpstreamSettings& upstream);
ProbeSettings probe_settings(const config::ProbeSettings& probe);
/// The configured source: upstream.source's registry entry, with upstream.base_url and
/// upstream.agency replacing its endpoint and agency when they are set (its quirks still apply:
/// a proxy in front of Eurostat is Eurostat). Throws ConfigError for an unknown source (the
/// loader refuses one first).
config::Source configured_source(const config::Settings& settings);
/// The configured source's REST root, parsed.
util::Url base_url(const config::Settings& settings);

/// Where calls spend their budget: a route per registry source (a URL under a source's base URL
/// spends that source's structure or data budget), and the limit of every key.
struct Budgets {
    std::vector<Route> routes;
    std::map<std::string, resilience::RateLimit> limits; ///< upstream.host_rate_limits + routes'
};
/// Every registry source gets a route, except those whose host upstream.host_rate_limits names
/// (the operator's own limit wins). A source's budget key is "source:ID", or "source:ID/structure"
/// and "source:ID/data" when its data calls have a budget of their own. A source's read timeouts
/// are floors on upstream.*_read_timeout (a slow agency is not cut off early).
Budgets source_budgets(const config::Settings& settings);

ClientSettings client_settings(const config::Config& config);
resilience::BreakerSettings breaker_settings(const config::Config& config);
resilience::RateLimit default_rate_limit(const config::Config& config);
std::map<std::string, resilience::RateLimit> host_rate_limits(const config::Config& config);
ProbeSettings probe_settings(const config::Config& config);
util::Url base_url(const config::Config& config);

/// One process's way out to the upstream. With `redis` (cache.backend = redis) the rate limit
/// is the cluster's, shared through Redis; otherwise this process's own.
class Upstream {
public:
    Upstream(const config::Settings& settings, const util::Clock& clock,
             redis::Client* redis = nullptr);
    Upstream(const config::Config& config, const util::Clock& clock, redis::Client* redis = nullptr)
        : Upstream(config.settings(), clock, redis) {}
    /// Re-applies the reloadable upstream.* and breaker.* settings of a new snapshot to the
    /// running limiter, breakers and client.
    void reconfigure(const config::Settings& settings);
    void reconfigure(const config::Config& config) { reconfigure(config.settings()); }

    resilience::RateLimiter& limiter() { return *m_limiter; }
    resilience::BreakerRegistry& breakers() { return m_breakers; }
    Client& client() { return m_client; }

private:
    std::unique_ptr<resilience::RateLimiter> m_limiter;
    resilience::BreakerRegistry m_breakers;
    Client m_client;
};

} // namespace dataflow::upstream

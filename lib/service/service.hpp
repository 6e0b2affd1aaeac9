#pragma once
/// `dataflow serve`: the HTTP service. cpp-httplib with an explicit worker pool, request ids,
/// one JSON error shape, health probes (startup, live, ready, status), Prometheus metrics,
/// structured request logs, a bound on concurrent analyses, and graceful draining.

#include "cache/cache.hpp"
#include "config/reload.hpp"
#include "service/auth.hpp"
#include "service/health.hpp"
#include "service/metrics.hpp"
#include "upstream/setup.hpp"
#include "util/background.hpp"
#include "util/clock.hpp"

#include <atomic>
#include <memory>
#include <mutex>
#include <regex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace httplib {
class Server;
}

namespace dataflow::service {

class CatalogService;
class ProbeScheduler;

struct ServiceParts {
    config::ConfigStore& config;
    config::Reloader* reloader = nullptr; ///< for POST /api/v1/config/reload and metrics
    cache::Cache& cache;
    upstream::Upstream& upstream;
    Registry& metrics;
    const util::Clock& clock;
};

class Service {
public:
    explicit Service(ServiceParts parts);
    ~Service();
    Service(const Service&) = delete;
    Service& operator=(const Service&) = delete;

    /// Binds the API and (unless metrics_port is 0) the metrics listener; port 0 picks a free
    /// port. Throws ConfigError when a port cannot be bound.
    void bind(const std::string& host, int port, int metrics_port);
    int api_port() const { return m_api_port; }
    int metrics_port() const { return m_metrics_port; }
    /// Starts serving on background threads; /health/startup passes from here on.
    void start();
    /// Readiness turns 503; requests are still served (with Connection: close).
    void begin_drain();
    bool draining() const { return m_draining.load(); }
    /// Stops accepting, waits for in-flight requests up to `timeout`; true when all finished.
    bool stop(std::chrono::milliseconds timeout);

    CatalogService& catalog() { return *m_catalog; }

private:
    void setup_routes();
    void apply_config(const config::Config& config);

    ServiceParts m_parts;
    std::unique_ptr<httplib::Server> m_api;
    std::unique_ptr<httplib::Server> m_metrics_server;
    /// Every route's path pattern and method, to answer 405 (with Allow) instead of 404.
    std::vector<std::pair<std::regex, std::string>> m_route_methods;
    std::unique_ptr<CatalogService> m_catalog;
    std::unique_ptr<ProbeScheduler> m_probes;
    std::thread m_api_thread;
    std::thread m_metrics_thread;
    int m_api_port = 0;
    int m_metrics_port = 0;
    std::atomic<bool> m_started{false};
    std::atomic<bool> m_draining{false};
    std::atomic<int> m_in_flight{0};
    std::atomic<int> m_analyses{0};
    std::atomic<long long> m_last_progress_ns{0};
    std::size_t m_config_subscription = 0;
    struct Instruments;
    std::unique_ptr<Instruments> m_instruments;
    /// Redis reachability, pinged every health.redis_check_interval by m_redis_monitor so
    /// probes never wait on Redis.
    struct RedisHealth {
        bool checked = false;
        bool ok = true;
        std::string why;
    };
    void monitor_redis();
    std::mutex m_redis_mutex;
    RedisHealth m_redis_health;
    util::BackgroundThread m_redis_monitor; ///< after what it reads: stopped before it goes
    HealthChecks m_ready_checks;
    HealthChecks m_status_checks;
};

} // namespace dataflow::service

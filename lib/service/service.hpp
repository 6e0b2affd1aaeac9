#pragma once
/// `dataflow serve`: the HTTP service. cpp-httplib with an explicit worker pool, the router
/// (request ids, one JSON error shape, auth, metrics, structured request logs), the routes by
/// area (routes_*.cpp), health probes, a bound on concurrent analyses, and graceful draining.

#include "service/connection.hpp"
#include "service/state.hpp"
#include "util/background.hpp"

#include <chrono>
#include <memory>
#include <string>
#include <thread>

namespace dataflow::service {

class Router;

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
    bool draining() const { return m_state->draining.load(); }
    /// Stops accepting, waits for in-flight requests up to `timeout`; true when all finished.
    bool stop(std::chrono::milliseconds timeout);

    CatalogService& catalog() { return m_state->catalog; }

private:
    void apply_config(const config::Config& config);
    void observe_upstream_and_scrapes();
    void monitor_redis();
    ConnectionLimits api_limits() const;
    ConnectionLimits probe_limits() const;

    std::unique_ptr<ServiceState> m_state;
    std::unique_ptr<Router> m_router;
    std::unique_ptr<GuardedServer> m_api;
    std::unique_ptr<GuardedServer> m_metrics_server; ///< /metrics and the health probes
    std::thread m_api_thread;
    std::thread m_metrics_thread;
    int m_api_port = 0;
    int m_metrics_port = 0;
    std::size_t m_config_subscription = 0;
    util::BackgroundThread m_redis_monitor; ///< after what it reads: stopped before it goes
};

} // namespace dataflow::service

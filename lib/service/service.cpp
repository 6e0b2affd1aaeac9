#include "service/service.hpp"

#include "service/router.hpp"
#include "service/routes.hpp"
#include "service/worker_pool.hpp"
#include "util/error.hpp"
#include "util/log.hpp"
#include "util/revision.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <future>
#include <httplib.h>
#include <sys/socket.h>

namespace dataflow::service {

// ------------------------------------------------------------------ instruments

Instruments::Instruments(Registry& r)
    : requests(r.counter("dataflow_http_requests_total", "HTTP requests served.",
                         {"route", "method", "code"})),
      duration(r.histogram("dataflow_http_request_duration_seconds",
                           "Time to serve an HTTP request.", {"route"}, http_buckets())),
      in_flight(r.gauge("dataflow_http_requests_in_flight", "HTTP requests being served now.")),
      analyses(r.counter("dataflow_analysis_total", "Analyses run.", {"source", "outcome"})),
      analysis_duration(r.histogram("dataflow_analysis_duration_seconds",
                                    "Time to analyse one catalogue.", {}, http_buckets())),
      analyzed(r.counter("dataflow_dataflows_analyzed_total", "Dataflows categorised.")),
      cache_requests(r.counter("dataflow_cache_requests_total", "Cache lookups and writes.",
                               {"backend", "result"})),
      upstream_requests(r.counter("dataflow_upstream_requests_total",
                                  "Requests sent to upstream SDMX APIs.",
                                  {"host", "op", "outcome"})),
      upstream_duration(r.histogram("dataflow_upstream_request_duration_seconds",
                                    "Time of one upstream request.", {"host", "op"},
                                    upstream_buckets())),
      breaker_state(r.gauge("dataflow_circuit_breaker_state",
                            "Circuit breaker state: 0 closed, 1 half-open, 2 open.", {"name"})),
      limiter_tokens(r.gauge("dataflow_rate_limiter_tokens",
                             "Upstream request tokens available now (negative: reserved).",
                             {"host"})),
      catalog_dataflows(
          r.gauge("dataflow_catalog_dataflows", "Dataflows in the served catalogue.")),
      catalog_age(r.gauge("dataflow_catalog_age_seconds",
                          "Time since the upstream last sent or confirmed (304) the served "
                          "catalogue.")),
      catalog_refreshes(r.counter("dataflow_catalog_refreshes_total",
                                  "Background catalogue refreshes by result: downloaded, "
                                  "not_modified (a 304: nothing parsed), reused (another "
                                  "replica's copy), failed.",
                                  {"result"})),
      catalog_changes(r.counter("dataflow_catalog_changes_total",
                                "Dataflows added, removed and changed in the change sets this "
                                "replica recorded (sum over replicas).",
                                {"kind"})),
      catalog_last_change(r.gauge("dataflow_catalog_last_change_timestamp_seconds",
                                  "When the newest change set of the change feed was detected "
                                  "(0: none).")),
      ready(r.gauge("dataflow_ready", "The last readiness answer: 1 ready, 0 not ready.")),
      readiness_transitions(r.counter("dataflow_readiness_transitions_total",
                                      "Times the readiness answer flipped between ready and not "
                                      "ready.")),
      reload_ok(r.gauge("dataflow_config_last_reload_successful",
                        "Whether the last configuration reload was applied (1) or "
                        "rejected (0).")),
      reload_time(r.gauge("dataflow_config_last_reload_success_timestamp_seconds",
                          "Time of the last valid configuration load.")),
      build_info(r.gauge("dataflow_build_info", "Build information.", {"version", "revision"})),
      redis_redirects(r.counter("dataflow_redis_redirects_total",
                                "Redis Cluster redirects followed (kind: moved, ask).", {"kind"})),
      redis_refreshes(r.counter("dataflow_redis_topology_refreshes_total",
                                "Redis topology reads: cluster slot maps, masters asked of the "
                                "sentinels.")),
      redis_failovers(r.counter("dataflow_redis_failovers_total",
                                "New Redis masters seen after a master failed or moved.")),
      redis_node_up(r.gauge("dataflow_redis_node_up",
                            "Redis nodes as last seen: 1 reachable, 0 not (no network at scrape "
                            "time).",
                            {"endpoint", "role"})) {}

// ------------------------------------------------------------------ Service

Service::Service(ServiceParts parts)
    : m_state(std::make_unique<ServiceState>(parts)),
      m_router(std::make_unique<Router>(RouterParts{
          parts.config, parts.clock, m_state->instruments.requests, m_state->instruments.duration,
          m_state->draining, m_state->in_flight, m_state->last_progress_ns})),
      m_api(std::make_unique<GuardedServer>([this] { return api_limits(); })) {
    apply_config(*parts.config.current());
    m_config_subscription = parts.config.subscribe(
        [this](const std::shared_ptr<const config::Config>& c) { apply_config(*c); });
    m_state->instruments.build_info.set({DATAFLOW_VERSION, util::build_revision()}, 1);
    observe_upstream_and_scrapes();
    add_health_routes(*m_router, *m_state);
    add_analysis_routes(*m_router, *m_state);
    add_catalog_routes(*m_router, *m_state);
    add_change_routes(*m_router, *m_state);
    add_category_routes(*m_router, *m_state);
    add_admin_routes(*m_router, *m_state);
    m_router->install(*m_api);
}

Service::~Service() {
    m_state->parts.config.unsubscribe(m_config_subscription);
    stop(std::chrono::milliseconds(0));
}

namespace {

double breaker_gauge(resilience::BreakerState state) {
    return state == resilience::BreakerState::closed      ? 0
           : state == resilience::BreakerState::half_open ? 1
                                                          : 2;
}

} // namespace

/// Upstream calls are counted as they happen; gauges are set when /metrics is scraped.
void Service::observe_upstream_and_scrapes() {
    auto& s = *m_state;
    s.parts.upstream.client().set_observer([&s](const std::string& host, upstream::OpClass op,
                                                const upstream::Response& r) {
        auto op_name = std::string(upstream::to_string(op));
        s.instruments.upstream_requests.inc(
            {host, op_name, std::string(upstream::to_string(r.outcome))});
        s.instruments.upstream_duration.observe({host, op_name},
                                                std::chrono::duration<double>(r.duration).count());
    });
    s.parts.metrics.on_scrape([&s] {
        auto& in = s.instruments;
        in.in_flight.set({}, s.in_flight.load());
        in.breaker_state.clear();
        for (const auto& b : s.parts.upstream.breakers().list()) {
            in.breaker_state.set({b.name}, breaker_gauge(b.state));
        }
        if (auto b = s.parts.cache.breaker_snapshot()) {
            in.breaker_state.set({b->name}, breaker_gauge(b->state));
        }
        in.limiter_tokens.clear();
        for (const auto& h : s.parts.upstream.limiter().status()) {
            in.limiter_tokens.set({h.host}, h.tokens);
        }
        auto state = s.catalog.current();
        in.catalog_dataflows.set({}, state ? static_cast<double>(state->catalog->dataflows.size())
                                           : 0.0);
        in.catalog_age.set({}, s.catalog.age_seconds());
        auto refreshes = s.catalog.refresh_stats();
        in.catalog_refreshes.set({"downloaded"}, static_cast<double>(refreshes.downloaded));
        in.catalog_refreshes.set({"not_modified"}, static_cast<double>(refreshes.not_modified));
        in.catalog_refreshes.set({"reused"}, static_cast<double>(refreshes.reused));
        in.catalog_refreshes.set({"failed"}, static_cast<double>(refreshes.failed));
        in.catalog_changes.set({"added"}, static_cast<double>(refreshes.added));
        in.catalog_changes.set({"removed"}, static_cast<double>(refreshes.removed));
        in.catalog_changes.set({"changed"}, static_cast<double>(refreshes.changed));
        auto feed = s.catalog.changes().history();
        in.catalog_last_change.set(
            {}, feed->changes.empty()
                    ? 0.0
                    : static_cast<double>(feed->changes.back().detected_at_ms) / 1000.0);
        if (int r = s.last_ready.load(); r >= 0) {
            in.ready.set({}, r);
        }
        in.readiness_transitions.set({}, static_cast<double>(s.readiness_transitions.load()));
        if (const auto* redis = s.parts.cache.redis_client()) {
            auto t = redis->counters();
            in.redis_redirects.set({"moved"}, static_cast<double>(t.moved));
            in.redis_redirects.set({"ask"}, static_cast<double>(t.ask));
            in.redis_refreshes.set({}, static_cast<double>(t.refreshes));
            in.redis_failovers.set({}, static_cast<double>(t.failovers));
            in.redis_node_up.clear();
            for (const auto& n : redis->nodes()) {
                in.redis_node_up.set({n.endpoint, n.role}, n.reachable ? 1 : 0);
            }
        }
        if (s.parts.reloader != nullptr) {
            auto st = s.parts.reloader->stats();
            bool rejected_last = st.rejected > 0 && st.last_rejection_time > st.last_good_time;
            in.reload_ok.set({}, rejected_last ? 0 : 1);
            in.reload_time.set(
                {}, std::chrono::duration<double>(st.last_good_time.time_since_epoch()).count());
        } else {
            in.reload_ok.set({}, 1);
        }
    });
}

void Service::apply_config(const config::Config& c) {
    if (auto level = util::parse_log_level(config::to_string(c.settings().log.level))) {
        spdlog::set_level(*level);
    }
    m_state->parts.upstream.reconfigure(c);
    m_state->catalog.configure(c);
    m_state->probes.configure(c);
}

namespace {

ConnectionLimits limits_of(const config::ServerSettings& server) {
    ConnectionLimits l;
    l.max_header_bytes = static_cast<std::size_t>(server.max_header_bytes);
    l.max_headers = static_cast<std::size_t>(server.max_headers);
    l.request_timeout = server.request_timeout;
    l.read_timeout = server.read_timeout;
    l.write_timeout = server.write_timeout;
    l.keep_alive_timeout = server.keep_alive_timeout;
    l.keep_alive_max_count = static_cast<std::size_t>(server.keep_alive_max_count);
    l.max_connections = static_cast<std::size_t>(server.max_connections);
    l.max_threads = static_cast<std::size_t>(server.max_threads);
    l.linger_bytes = std::max<std::uint64_t>(server.max_body_size, 64ULL << 20);
    return l;
}

/// The probe listener: a few workers of its own, so that a flood of the API never reaches
/// the kubelet's probes; its connections are short (no keep-alive needed by probes).
constexpr std::size_t k_probe_threads = 2;
constexpr std::size_t k_probe_max_threads = 8;
constexpr std::size_t k_probe_max_connections = 64;

} // namespace

ConnectionLimits Service::api_limits() const {
    return limits_of(m_state->parts.config.current()->settings().server);
}

ConnectionLimits Service::probe_limits() const {
    // Probes are tiny and quick: a connection that dawdles is not a probe and gives its worker
    // back within a second or two.
    auto l = api_limits();
    l.max_threads = k_probe_max_threads;
    l.max_connections = k_probe_max_connections;
    l.max_header_bytes = std::min<std::size_t>(l.max_header_bytes, 8 * 1024);
    l.request_timeout = std::min(l.request_timeout, std::chrono::milliseconds(2000));
    l.read_timeout = std::min(l.read_timeout, std::chrono::milliseconds(1000));
    l.keep_alive_timeout = std::min(l.keep_alive_timeout, std::chrono::milliseconds(1000));
    return l;
}

void Service::bind(const std::string& host, int port, int metrics_port) {
    auto config = m_state->parts.config.current();
    const auto& server = config->settings().server;
    auto threads = static_cast<std::size_t>(server.threads);
    auto max_threads = static_cast<std::size_t>(server.max_threads);
    auto max_connections = static_cast<std::size_t>(server.max_connections);
    // The listening socket: SO_REUSEADDR only (httplib's default SO_REUSEPORT would let a
    // second process bind the same port silently), and remember it to raise the backlog.
    auto listen_fd = std::make_shared<int>(-1);
    auto setup = [&](httplib::Server& s) {
        s.new_task_queue = [threads, max_threads, max_connections] {
            auto* pool = new WorkerPool(threads, max_threads);
            // Connections beyond a worker wait in the queue up to server.max_connections in
            // all; past that the accept loop answers 503 at once (GuardedServer::RejectScope).
            pool->set_overflow(max_connections > max_threads ? max_connections - max_threads : 0,
                               [](std::function<void()> job) {
                                   GuardedServer::RejectScope reject;
                                   job();
                               });
            return pool;
        };
        s.set_tcp_nodelay(true);
        s.set_socket_options([listen_fd](socket_t sock) {
            int yes = 1;
            ::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
            *listen_fd = sock;
        });
        s.set_keep_alive_max_count(static_cast<std::size_t>(server.keep_alive_max_count));
        s.set_keep_alive_timeout(server.keep_alive_timeout.count() / 1000);
        s.set_read_timeout(server.read_timeout);
        s.set_write_timeout(server.write_timeout);
        s.set_payload_max_length(server.max_body_size);
    };
    // cpp-httplib 0.11 listens with a backlog of 5: a burst of connections beyond it waits for
    // SYN retransmission (1 s and more). Listening again raises the backlog in place.
    auto raise_backlog = [listen_fd] {
        if (*listen_fd >= 0) {
            ::listen(*listen_fd, 1024);
            *listen_fd = -1;
        }
    };
    setup(*m_api);
    m_api_port =
        port == 0 ? m_api->bind_to_any_port(host) : (m_api->bind_to_port(host, port) ? port : -1);
    if (m_api_port < 0) {
        throw ConfigError(fmt::format("cannot listen on {}:{} (server.host, server.port): "
                                      "in use or not permitted",
                                      host, port));
    }
    raise_backlog();
    // The probe listener: the health probes always, /metrics when metrics.enabled.
    if (metrics_port != 0) {
        m_metrics_server = std::make_unique<GuardedServer>([this] { return probe_limits(); });
        setup(*m_metrics_server);
        m_metrics_server->new_task_queue = [] {
            auto* pool = new WorkerPool(k_probe_threads, k_probe_max_threads);
            pool->set_overflow(k_probe_max_connections - k_probe_max_threads,
                               [](std::function<void()> job) {
                                   GuardedServer::RejectScope reject;
                                   job();
                               });
            return pool;
        };
        m_router->install(*m_metrics_server, Router::Listener::probes);
        if (config->settings().metrics.enabled) {
            m_metrics_server->Get(
                "/metrics", [this](const httplib::Request&, httplib::Response& res) {
                    res.set_content(m_state->parts.metrics.expose(), k_metrics_content_type);
                });
        }
        m_metrics_port =
            metrics_port < 0
                ? m_metrics_server->bind_to_any_port(host)
                : (m_metrics_server->bind_to_port(host, metrics_port) ? metrics_port : -1);
        if (m_metrics_port < 0) {
            throw ConfigError(fmt::format("cannot listen on {}:{} (server.metrics_port): in use "
                                          "or not permitted",
                                          host, metrics_port));
        }
        raise_backlog();
    } else {
        m_metrics_port = m_api_port;
    }
}

void Service::start() {
    m_state->last_progress_ns = m_state->parts.clock.steady().time_since_epoch().count();
    m_api_thread = std::thread([this] { m_api->listen_after_bind(); });
    if (m_metrics_server) {
        m_metrics_thread = std::thread([this] { m_metrics_server->listen_after_bind(); });
    }
    // httplib's stop() does nothing before its listen loop runs: wait for it, so a signal that
    // arrives right after start still stops the server.
    auto until = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while ((!m_api->is_running() || (m_metrics_server && !m_metrics_server->is_running())) &&
           std::chrono::steady_clock::now() < until) {
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    m_state->probes.start();
    if (m_state->parts.cache.redis_client() != nullptr) {
        m_redis_monitor.start([this] { monitor_redis(); });
    }
    try {
        m_state->catalog.start();
    } catch (const Error& e) {
        spdlog::error("catalogue: {}", e.what());
    }
    m_state->started = true;
}

void Service::monitor_redis() {
    std::unique_lock lock(m_state->redis_mutex);
    while (!m_redis_monitor.stop_requested()) {
        lock.unlock();
        std::string why;
        bool ok = m_state->parts.cache.ping(why);
        auto interval = m_state->parts.config.current()->settings().health.redis_check_interval;
        lock.lock();
        if (ok != m_state->redis.ok || !m_state->redis.checked) {
            if (ok) {
                spdlog::info("redis: reachable");
            } else {
                spdlog::warn("redis: unreachable ({}); serving without the shared cache", why);
            }
        }
        m_state->redis = {true, ok, why};
        m_redis_monitor.wait_for(lock, interval);
    }
}

void Service::begin_drain() {
    m_state->draining = true;
}

bool Service::stop(std::chrono::milliseconds timeout) {
    if (!m_api_thread.joinable()) {
        return true;
    }
    m_state->draining = true;
    // Let in-flight requests finish (up to the timeout), then stop the listeners.
    auto deadline = std::chrono::steady_clock::now() + timeout;
    m_api->stop(); // stops accepting; the worker pool finishes what it has
    bool clean = true;
    while (m_state->in_flight.load() > 0) {
        if (std::chrono::steady_clock::now() >= deadline) {
            clean = false;
            break;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    m_state->parts.upstream.client().cancel();
    m_state->probes.stop();
    m_state->catalog.stop();
    m_redis_monitor.stop();
    // The listener returns once its workers are done (a slow upload may still be reading):
    // wait for it only until the deadline.
    if (clean) {
        auto done = std::make_shared<std::promise<void>>();
        auto finished = done->get_future();
        std::thread joiner([this, done] {
            m_api_thread.join();
            done->set_value();
        });
        auto left = deadline - std::chrono::steady_clock::now();
        if (finished.wait_for(std::max(left, std::chrono::steady_clock::duration::zero()) +
                              std::chrono::milliseconds(100)) == std::future_status::ready) {
            joiner.join();
        } else {
            joiner.detach();
            clean = false;
        }
    }
    if (!clean) {
        return false; // the caller exits the process: workers still use this object
    }
    if (m_metrics_server) {
        m_metrics_server->stop();
        m_metrics_thread.join();
    }
    return clean;
}

} // namespace dataflow::service

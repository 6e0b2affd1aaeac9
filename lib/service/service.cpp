#include "service/service.hpp"

#include "analysis/probe_codec.hpp"
#include "analysis/render.hpp"
#include "analysis/report.hpp"
#include "cache/single_flight.hpp"
#include "redis/pool.hpp"
#include "sdmx/reader.hpp"
#include "sdmx/source.hpp"
#include "service/catalog_service.hpp"
#include "service/probe_scheduler.hpp"
#include "service/requests.hpp"
#include "service/worker_pool.hpp"
#include "upstream/sdmx_rest.hpp"
#include "util/error.hpp"
#include "util/json_writer.hpp"
#include "util/log.hpp"
#include "util/revision.hpp"
#include "util/strings.hpp"
#include "util/time.hpp"
#include "util/utf8.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <cstdlib>
#include <filesystem>
#include <future>
#include <httplib.h>
#include <random>
#include <set>
#include <sys/socket.h>

namespace dataflow::service {

namespace fs = std::filesystem;
using httplib::Request;
using httplib::Response;

// ------------------------------------------------------------------ instruments

struct Service::Instruments {
    explicit Instruments(Registry& r)
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
          catalog_age(r.gauge("dataflow_catalog_age_seconds", "Age of the served catalogue.")),
          reload_ok(r.gauge("dataflow_config_last_reload_successful",
                            "Whether the last configuration reload was applied (1) or "
                            "rejected (0).")),
          reload_time(r.gauge("dataflow_config_last_reload_success_timestamp_seconds",
                              "Time of the last valid configuration load.")),
          build_info(
              r.gauge("dataflow_build_info", "Build information.", {"version", "revision"})) {}

    Family& requests;
    Family& duration;
    Family& in_flight;
    Family& analyses;
    Family& analysis_duration;
    Family& analyzed;
    Family& cache_requests;
    Family& upstream_requests;
    Family& upstream_duration;
    Family& breaker_state;
    Family& limiter_tokens;
    Family& catalog_dataflows;
    Family& catalog_age;
    Family& reload_ok;
    Family& reload_time;
    Family& build_info;
};

// ------------------------------------------------------------------ helpers

namespace {

std::string random_id() {
    thread_local std::mt19937_64 rng{std::random_device{}()};
    return fmt::format("{:016x}", rng());
}

bool valid_request_id(const std::string& id) {
    return !id.empty() && id.size() <= 128 && std::all_of(id.begin(), id.end(), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.';
    });
}

/// The trace id of a W3C traceparent header ("00-<32 hex>-<16 hex>-<2 hex>"), or empty.
std::string trace_id_of(const std::string& traceparent) {
    if (traceparent.size() != 55 || traceparent[2] != '-' || traceparent[35] != '-' ||
        traceparent[52] != '-') {
        return {};
    }
    auto id = traceparent.substr(3, 32);
    bool hex = std::all_of(id.begin(), id.end(), [](char c) {
        return std::isxdigit(static_cast<unsigned char>(c)) && !std::isupper(c);
    });
    return hex && id != std::string(32, '0') ? id : std::string();
}

void json_error(Response& res, int status, std::string_view type, std::string_view code,
                const std::string& detail, const std::string& request_id) {
    std::string body;
    util::JsonWriter w(body, 2);
    w.begin_object();
    w.field("success", false);
    w.field("error_type", type);
    w.field("error_code", code);
    w.field("detail", detail);
    w.field("request_id", request_id);
    w.end_object();
    body += '\n';
    res.status = status;
    res.set_content(body, "application/json");
}

/// Inserts fields at the start of a JSON object document.
std::string with_envelope(const std::string& doc, const std::string& fields) {
    auto brace = doc.find('{');
    auto rest = brace + 1 < doc.size() && doc[brace + 1] == '\n' ? brace + 2 : brace + 1;
    return doc.substr(0, brace + 1) + "\n" + fields + doc.substr(rest);
}

std::string_view error_code_of(ErrorKind kind) {
    switch (kind) {
    case ErrorKind::input:
        return "invalid_input";
    case ErrorKind::usage:
        return "invalid_request";
    case ErrorKind::config:
        return "config_error";
    case ErrorKind::unavailable:
        return "upstream_unavailable";
    case ErrorKind::rate_limited:
        return "rate_limited";
    case ErrorKind::internal:
        break;
    }
    return "internal_error";
}

std::string json_string(std::string_view s) {
    std::string out;
    util::append_json_string(out, s);
    return out;
}

int query_int(const Request& req, const char* name, int fallback, int min, int max) {
    if (!req.has_param(name)) {
        return fallback;
    }
    auto v = req.get_param_value(name);
    char* end = nullptr;
    long n = std::strtol(v.c_str(), &end, 10);
    if (v.empty() || *end != '\0') {
        throw UsageError(fmt::format("query parameter {}: '{}' is not an integer", name,
                                     util::printable(v.substr(0, 40))));
    }
    return static_cast<int>(std::clamp<long>(n, min, max));
}

bool query_bool(const Request& req, const char* name, bool fallback) {
    if (!req.has_param(name)) {
        return fallback;
    }
    auto v = req.get_param_value(name);
    if (v == "true" || v == "1" || v == "yes") {
        return true;
    }
    if (v == "false" || v == "0" || v == "no") {
        return false;
    }
    throw UsageError(fmt::format("query parameter {}: '{}' is not true or false", name,
                                 util::printable(v.substr(0, 40))));
}

std::vector<std::string> split_list(const std::string& s) {
    std::vector<std::string> out;
    std::size_t start = 0;
    while (start <= s.size()) {
        auto comma = s.find(',', start);
        auto item = util::trim(std::string_view(s).substr(start, comma - start));
        if (!item.empty()) {
            out.emplace_back(item);
        }
        if (comma == std::string::npos) {
            break;
        }
        start = comma + 1;
    }
    return out;
}

analysis::SortKey sort_key(const std::string& s) {
    auto key = analysis::parse_sort_key(s);
    if (!key) {
        throw UsageError("sort: '" + util::printable(s.substr(0, 40)) +
                         "' is not one of score, id, name, updated");
    }
    return *key;
}

/// The categoriser a configuration asks for (rules, match mode, languages).
/// The categoriser for a configuration. Building one compiles the rules into an automaton
/// (about a millisecond and a few MiB for the default rules), so it is built once per rule set,
/// match mode and languages, and shared by every request (categorize() is const).
std::shared_ptr<const analysis::Categorizer> categorizer_for(const config::Config& config) {
    static std::mutex mutex;
    static std::string cached_key;
    static std::shared_ptr<const analysis::Categorizer> cached;
    std::string key = config.rules()->fingerprint() + "|" + config.str("analysis.match");
    for (const auto& language : config.list("analysis.languages")) {
        key += "|" + language;
    }
    std::lock_guard lock(mutex);
    if (!cached || key != cached_key) {
        cached = std::make_shared<const analysis::Categorizer>(
            config.rules(),
            config.str("analysis.match") == "word" ? analysis::MatchMode::word
                                                   : analysis::MatchMode::substring,
            config.list("analysis.languages"));
        cached_key = std::move(key);
    }
    return cached;
}

/// HTTP methods as metric labels: a fixed set, so hostile request lines cannot add series.
std::string method_label(const std::string& method) {
    static constexpr std::string_view known[] = {"GET",  "POST",    "PUT",  "DELETE",
                                                 "HEAD", "OPTIONS", "PATCH"};
    for (auto k : known) {
        if (method == k) {
            return method;
        }
    }
    return "other";
}

/// Something the service does not have yet (the catalogue before its first load): 503.
class NotReady : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

} // namespace

// ------------------------------------------------------------------ Service

Service::Service(ServiceParts parts)
    : m_parts(parts), m_api(std::make_unique<httplib::Server>()),
      m_catalog(std::make_unique<CatalogService>(parts.cache, parts.upstream, parts.clock)),
      m_probes(std::make_unique<ProbeScheduler>(parts.cache, parts.upstream)),
      m_instruments(std::make_unique<Instruments>(parts.metrics)) {
    auto config = m_parts.config.current();
    apply_config(*config);
    m_config_subscription = m_parts.config.subscribe(
        [this](const std::shared_ptr<const config::Config>& c) { apply_config(*c); });
    m_instruments->build_info.set({DATAFLOW_VERSION, util::build_revision()}, 1);
    m_parts.upstream.client().set_observer([this](const std::string& host, upstream::OpClass op,
                                                  const upstream::Response& r) {
        auto op_name = std::string(upstream::to_string(op));
        m_instruments->upstream_requests.inc(
            {host, op_name, std::string(upstream::to_string(r.outcome))});
        m_instruments->upstream_duration.observe({host, op_name},
                                                 std::chrono::duration<double>(r.duration).count());
    });
    m_parts.metrics.on_scrape([this] {
        auto& in = *m_instruments;
        in.in_flight.set({}, m_in_flight.load());
        in.breaker_state.clear();
        for (const auto& b : m_parts.upstream.breakers().list()) {
            in.breaker_state.set({b.name}, b.state == resilience::BreakerState::closed      ? 0
                                           : b.state == resilience::BreakerState::half_open ? 1
                                                                                            : 2);
        }
        if (auto s = m_parts.cache.breaker_snapshot()) {
            in.breaker_state.set({s->name}, s->state == resilience::BreakerState::closed      ? 0
                                            : s->state == resilience::BreakerState::half_open ? 1
                                                                                              : 2);
        }
        in.limiter_tokens.clear();
        for (const auto& h : m_parts.upstream.limiter().status()) {
            in.limiter_tokens.set({h.host}, h.tokens);
        }
        auto state = m_catalog->current();
        in.catalog_dataflows.set({}, state ? static_cast<double>(state->catalog->dataflows.size())
                                           : 0.0);
        in.catalog_age.set({}, m_catalog->age_seconds());
        if (m_parts.reloader != nullptr) {
            auto st = m_parts.reloader->stats();
            bool rejected_last = st.rejected > 0 && st.last_rejection_time > st.last_good_time;
            in.reload_ok.set({}, rejected_last ? 0 : 1);
            in.reload_time.set(
                {}, std::chrono::duration<double>(st.last_good_time.time_since_epoch()).count());
        } else {
            in.reload_ok.set({}, 1);
        }
    });
    setup_routes();
}

Service::~Service() {
    m_parts.config.unsubscribe(m_config_subscription);
    stop(std::chrono::milliseconds(0));
}

void Service::apply_config(const config::Config& c) {
    if (auto level = util::parse_log_level(c.str("log.level"))) {
        spdlog::set_level(*level);
    }
    m_parts.upstream.reconfigure(c);
    m_catalog->configure(c);
    m_probes->configure(c);
}

void Service::bind(const std::string& host, int port, int metrics_port) {
    auto config = m_parts.config.current();
    auto threads = static_cast<std::size_t>(config->integer("server.threads"));
    auto max_threads = static_cast<std::size_t>(config->integer("server.max_threads"));
    // The listening socket: SO_REUSEADDR only (httplib's default SO_REUSEPORT would let a
    // second process bind the same port silently), and remember it to raise the backlog.
    auto listen_fd = std::make_shared<int>(-1);
    auto setup = [&](httplib::Server& s) {
        s.new_task_queue = [threads, max_threads] { return new WorkerPool(threads, max_threads); };
        s.set_tcp_nodelay(true);
        s.set_socket_options([listen_fd](socket_t sock) {
            int yes = 1;
            ::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
            *listen_fd = sock;
        });
        s.set_keep_alive_max_count(
            static_cast<std::size_t>(config->integer("server.keep_alive_max_count")));
        s.set_keep_alive_timeout(config->duration("server.keep_alive_timeout").count() / 1000);
        s.set_read_timeout(config->duration("server.read_timeout"));
        s.set_write_timeout(config->duration("server.write_timeout"));
        s.set_payload_max_length(config->size("server.max_body_size"));
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
    if (metrics_port != 0 && config->flag("metrics.enabled")) {
        m_metrics_server = std::make_unique<httplib::Server>();
        setup(*m_metrics_server);
        m_metrics_server->new_task_queue = [] { return new httplib::ThreadPool(2); };
        auto metrics = [this](const Request&, Response& res) {
            res.set_content(m_parts.metrics.expose(), k_metrics_content_type);
        };
        m_metrics_server->Get("/metrics", metrics);
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
    m_last_progress_ns = m_parts.clock.steady().time_since_epoch().count();
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
    m_probes->start();
    if (m_parts.cache.redis_pool() != nullptr) {
        m_redis_monitor.start([this] { monitor_redis(); });
    }
    try {
        m_catalog->start();
    } catch (const Error& e) {
        spdlog::error("catalogue: {}", e.what());
    }
    m_started = true;
}

void Service::monitor_redis() {
    std::unique_lock lock(m_redis_mutex);
    while (!m_redis_monitor.stop_requested()) {
        lock.unlock();
        std::string why;
        bool ok = m_parts.cache.ping(why);
        auto interval = m_parts.config.current()->duration("health.redis_check_interval");
        lock.lock();
        if (ok != m_redis_health.ok || !m_redis_health.checked) {
            if (ok) {
                spdlog::info("redis: reachable");
            } else {
                spdlog::warn("redis: unreachable ({}); serving without the shared cache", why);
            }
        }
        m_redis_health = {true, ok, why};
        m_redis_monitor.wait_for(lock, interval);
    }
}

void Service::begin_drain() {
    m_draining = true;
}

bool Service::stop(std::chrono::milliseconds timeout) {
    if (!m_api_thread.joinable()) {
        return true;
    }
    m_draining = true;
    // Let in-flight requests finish (up to the timeout), then stop the listeners.
    auto deadline = std::chrono::steady_clock::now() + timeout;
    m_api->stop(); // stops accepting; the worker pool finishes what it has
    bool clean = true;
    while (m_in_flight.load() > 0) {
        if (std::chrono::steady_clock::now() >= deadline) {
            clean = false;
            break;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    m_parts.upstream.client().cancel();
    m_probes->stop();
    m_catalog->stop();
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

// ------------------------------------------------------------------ routes

void Service::setup_routes() {
    struct Ctx {
        const Request& req;
        Response& res;
        std::string request_id;
        std::shared_ptr<const config::Config> config;
    };
    using Handler = std::function<void(Ctx&)>;
    enum class Scope { none, read, admin };

    auto handle = [this](const Request& req, Response& res, const std::string& route, Scope scope,
                         const Handler& handler) {
        auto start = std::chrono::steady_clock::now();
        ++m_in_flight;
        auto id = req.get_header_value("X-Request-ID");
        if (!valid_request_id(id)) {
            id = random_id();
        }
        res.set_header("X-Request-ID", id);
        auto config = m_parts.config.current();
        std::string trace;
        if (config->flag("tracing.enabled")) {
            trace = trace_id_of(req.get_header_value("traceparent"));
        }
        std::vector<util::LogFields::Field> fields{{"request_id", id, 0, false},
                                                   {"route", route, 0, false}};
        if (!trace.empty()) {
            fields.push_back({"trace_id", trace, 0, false});
        }
        util::LogFields log_fields(fields);
        if (m_draining) {
            res.set_header("Connection", "close");
        }
        const auto& origins = config->list("api.cors_origins");
        if (!origins.empty()) {
            auto origin = req.get_header_value("Origin");
            bool any = std::find(origins.begin(), origins.end(), "*") != origins.end();
            if (!origin.empty() &&
                (any || std::find(origins.begin(), origins.end(), origin) != origins.end())) {
                res.set_header("Access-Control-Allow-Origin", any ? "*" : origin);
                res.set_header("Vary", "Origin");
            }
        }
        try {
            if (scope != Scope::none) {
                AuthSettings auth;
                const auto& mode = config->str("auth.mode");
                auth.mode = mode == "token" ? AuthMode::token
                            : mode == "jwt" ? AuthMode::jwt
                                            : AuthMode::none;
                auth.read_tokens = config->list("auth.tokens");
                auth.admin_tokens = config->list("auth.admin_tokens");
                auth.jwt_secret = config->str("auth.jwt_secret");
                auth.jwt_issuer = config->str("auth.jwt_issuer");
                auth.jwt_audience = config->str("auth.jwt_audience");
                auto now = std::chrono::duration_cast<std::chrono::seconds>(
                               m_parts.clock.system().time_since_epoch())
                               .count();
                auto result = authenticate(auth, req.get_header_value("Authorization"), now);
                const char* needed = scope == Scope::admin ? "admin" : "read";
                if (!result.authenticated) {
                    res.set_header("WWW-Authenticate", "Bearer");
                    json_error(res, 401, "unauthorized", "unauthorized", result.error, id);
                } else if (result.scopes.count(needed) == 0) {
                    json_error(res, 403, "forbidden", "insufficient_scope",
                               fmt::format("this route needs the '{}' scope", needed), id);
                } else {
                    Ctx ctx{req, res, id, config};
                    handler(ctx);
                }
            } else {
                Ctx ctx{req, res, id, config};
                handler(ctx);
            }
        } catch (const NotReady& e) {
            res.set_header("Retry-After", "30");
            json_error(res, 503, "unavailable", "not_ready", e.what(), id);
        } catch (const Error& e) {
            const auto& info = e.info();
            json_error(res, info.http_status, info.type, error_code_of(e.kind()), e.what(), id);
            if (info.http_status >= 500) {
                spdlog::error("{}", e.what());
            }
        } catch (const std::bad_alloc&) {
            json_error(res, 503, "unavailable", "out_of_memory",
                       "the service is out of memory; try a smaller request", id);
        } catch (const std::exception& e) {
            spdlog::error("internal error: {}", e.what());
            json_error(res, 500, "internal_error", "internal_error",
                       "an internal error occurred; quote the request id when reporting it", id);
        }
        auto took = std::chrono::duration<double>(std::chrono::steady_clock::now() - start);
        if (res.status == -1) {
            res.status = 200;
        }
        m_instruments->requests.inc({route, method_label(req.method), std::to_string(res.status)});
        m_instruments->duration.observe({route}, took.count());
        m_last_progress_ns = m_parts.clock.steady().time_since_epoch().count();
        --m_in_flight;
        bool quiet = route.rfind("/health", 0) == 0 || route == "/livez" || route == "/readyz" ||
                     route == "/metrics";
        auto slow = config->duration("log.slow_request_threshold");
        auto level = slow.count() > 0 && took > slow ? spdlog::level::warn
                     : quiet                         ? spdlog::level::debug
                                                     : spdlog::level::info;
        // Probes at high rates: build the log fields only when the line is written.
        if (spdlog::should_log(level)) {
            util::LogFields done({{"method", req.method, 0, false},
                                  {"status", {}, static_cast<double>(res.status), true},
                                  {"duration_ms", {}, took.count() * 1000.0, true}});
            if (level == spdlog::level::warn) {
                spdlog::warn("slow request: {} {} {} in {:.0f} ms", req.method, route, res.status,
                             took.count() * 1000.0);
            } else {
                spdlog::log(level, "{} {} {}", req.method, route, res.status);
            }
        }
    };

    auto get = [this, handle](const std::string& pattern, const std::string& route, Scope scope,
                              Handler h) {
        m_route_methods.emplace_back(std::regex(pattern), "GET");
        m_api->Get(pattern, [handle, route, scope, h](const Request& req, Response& res) {
            handle(req, res, route, scope, h);
        });
    };
    auto post = [this, handle](const std::string& pattern, const std::string& route, Scope scope,
                               Handler h) {
        m_route_methods.emplace_back(std::regex(pattern), "POST");
        m_api->Post(pattern, [handle, route, scope, h](const Request& req, Response& res) {
            handle(req, res, route, scope, h);
        });
    };

    // Over server.max_concurrent_analyses, refuse an analysis before its body is read: bodies
    // of requests that would be refused anyway must not pile up in memory (threads x body
    // size). The check in the handler stays the authoritative one.
    m_api->set_pre_routing_handler([this](const Request& req, Response& res) {
        using R = httplib::Server::HandlerResponse;
        if (req.method != "POST" ||
            (req.path != "/api/analysis/dataflow" && req.path != "/api/analysis/dataflow/upload")) {
            return R::Unhandled;
        }
        auto config = m_parts.config.current();
        if (m_analyses.load() < config->integer("server.max_concurrent_analyses")) {
            return R::Unhandled;
        }
        auto id = random_id();
        res.set_header("X-Request-ID", id);
        res.set_header("Retry-After", "1");
        res.set_header("Connection", "close"); // the unread body goes with the connection
        json_error(res, 503, "unavailable", "busy",
                   "too many analyses in progress; retry in a second", id);
        m_instruments->requests.inc({req.path, "POST", "503"});
        return R::Handled;
    });
    auto allowed_methods = [this](const std::string& path) {
        std::string allow;
        for (const auto& [pattern, method] : m_route_methods) {
            if (std::regex_match(path, pattern) && allow.find(method) == std::string::npos) {
                allow += (allow.empty() ? "" : ", ") + method;
            }
        }
        return allow;
    };
    m_api->set_error_handler([this, allowed_methods](const Request& req, Response& res) {
        if (!res.body.empty()) {
            return;
        }
        auto id = random_id();
        res.set_header("X-Request-ID", id);
        if (res.status == 413) {
            json_error(res, 413, "payload_too_large", "payload_too_large",
                       "the request body is larger than server.max_body_size", id);
        } else if (std::string allow = allowed_methods(req.path);
                   res.status == 404 && !allow.empty()) {
            res.set_header("Allow", allow);
            json_error(res, 405, "method_not_allowed", "method_not_allowed",
                       fmt::format("{} is not allowed on this route; use {}",
                                   util::printable(req.method.substr(0, 20)), allow),
                       id);
        } else if (res.status == 404) {
            json_error(res, 404, "not_found", "not_found",
                       "no such route: " + req.method + " " +
                           util::printable(req.path.substr(0, 200)),
                       id);
        } else {
            json_error(res, res.status, "bad_request", "bad_request",
                       fmt::format("the request could not be handled ({})", res.status), id);
        }
        m_instruments->requests.inc(
            {"unmatched", method_label(req.method), std::to_string(res.status)});
    });

    // ---- health
    auto live = [this](Ctx& c) {
        auto stall = c.config->duration("health.stall_timeout");
        auto last = std::chrono::steady_clock::time_point(
            std::chrono::steady_clock::duration(m_last_progress_ns.load()));
        bool stalled = m_in_flight.load() > 1 && m_parts.clock.steady() - last > stall;
        std::vector<CheckResult> checks{
            {"ping", CheckState::ok, "", 0, true},
            {"workers", stalled ? CheckState::failed : CheckState::ok,
             stalled ? fmt::format("no request finished for more than {} s",
                                   std::chrono::duration_cast<std::chrono::seconds>(stall).count())
                     : "",
             0, true}};
        c.res.status = passing(checks) ? 200 : 503;
        c.res.set_content(c.req.has_param("verbose") ? verbose_text(checks, "livez")
                                                     : (passing(checks) ? "ok\n" : "failed\n"),
                          "text/plain; charset=utf-8");
    };
    get("/health/live", "/health/live", Scope::none, live);
    get("/livez", "/livez", Scope::none, live);
    get("/health/startup", "/health/startup", Scope::none, [this](Ctx& c) {
        c.res.status = m_started ? 200 : 503;
        c.res.set_content(m_started ? "ok\n" : "starting\n", "text/plain; charset=utf-8");
    });

    m_ready_checks.add("config", true, [this] {
        CheckResult r;
        if (m_parts.reloader != nullptr) {
            auto st = m_parts.reloader->stats();
            if (st.rejected > 0 && st.last_rejection_time > st.last_good_time) {
                r.state = CheckState::degraded;
                r.message = "the last reload was rejected; the previous configuration runs";
            }
        }
        return r;
    });
    m_ready_checks.add("shutdown", true, [this] {
        CheckResult r;
        if (m_draining) {
            r.state = CheckState::failed;
            r.message = "draining before shutdown";
        }
        return r;
    });
    m_ready_checks.add("catalog", false, [this] {
        CheckResult r;
        auto mode = m_catalog->mode();
        if (mode == "off") {
            r.message = "off";
            return r;
        }
        auto state = m_catalog->current();
        if (!state) {
            r.state = mode == "file" ? CheckState::failed : CheckState::degraded;
            r.message = "not loaded yet";
        } else if (state->stale) {
            r.state = CheckState::degraded;
            r.message = fmt::format("stale ({:.0f} s old): {}", m_catalog->age_seconds(),
                                    state->last_error);
        }
        return r;
    });
    m_ready_checks.add("redis", false, [this] {
        CheckResult r;
        if (m_parts.cache.redis_pool() == nullptr) {
            r.message = "not used (cache.backend = memory)";
            return r;
        }
        std::lock_guard lock(m_redis_mutex);
        if (!m_redis_health.checked) {
            r.message = "not checked yet";
        } else if (!m_redis_health.ok) {
            r.state = CheckState::degraded;
            r.message = fmt::format("unreachable ({}); serving without the shared cache",
                                    m_redis_health.why);
        }
        return r;
    });
    m_ready_checks.add("upstream", false, [this] {
        CheckResult r;
        for (const auto& b : m_parts.upstream.breakers().list()) {
            if (b.state != resilience::BreakerState::closed) {
                r.state = CheckState::degraded;
                r.message += (r.message.empty() ? "" : "; ") +
                             fmt::format("{} breaker {}", b.name, resilience::to_string(b.state));
            }
        }
        return r;
    });
    auto exclusions = [](const Request& req) {
        std::set<std::string> out;
        auto n = req.get_param_value_count("exclude");
        for (std::size_t i = 0; i < n; ++i) {
            out.insert(req.get_param_value("exclude", i));
        }
        return out;
    };
    auto ready = [this, exclusions](Ctx& c) {
        auto checks = m_ready_checks.run(exclusions(c.req));
        bool ok = passing(checks);
        c.res.status = ok ? 200 : 503;
        if (c.req.has_param("verbose")) {
            c.res.set_content(verbose_text(checks, "readyz"), "text/plain; charset=utf-8");
        } else {
            c.res.set_content(ok ? "ok\n" : "not ready\n", "text/plain; charset=utf-8");
        }
    };
    get("/health/ready", "/health/ready", Scope::none, ready);
    get("/readyz", "/readyz", Scope::none, ready);

    m_status_checks.add("memory", false, [] {
        CheckResult r;
        auto m = cgroup_memory();
        if (m.limit > 0) {
            double share = static_cast<double>(m.usage) / static_cast<double>(m.limit);
            r.message = fmt::format("{:.0f}% of the container limit", share * 100);
            if (share > 0.9) {
                r.state = CheckState::degraded;
            }
        } else {
            r.message = "no container limit";
        }
        return r;
    });
    get("/health/status", "/health/status", Scope::none, [this, exclusions](Ctx& c) {
        auto excluded = exclusions(c.req);
        auto checks = m_ready_checks.run(excluded);
        auto more = m_status_checks.run(excluded);
        checks.insert(checks.end(), more.begin(), more.end());
        bool ok = passing(checks);
        c.res.status = ok ? 200 : 503;
        if (c.req.has_param("verbose")) {
            c.res.set_content(verbose_text(checks, "status"), "text/plain; charset=utf-8");
            return;
        }
        std::string out;
        util::JsonWriter w(out, 2);
        w.begin_object();
        w.field("status", overall(checks));
        w.field("service", c.config->str("service_name"));
        w.field("version", DATAFLOW_VERSION);
        w.field("environment", c.config->str("environment"));
        w.field("namespace", c.config->str("namespace"));
        w.field("draining", m_draining.load());
        w.field("requests_in_flight", m_in_flight.load());
        w.field("cache_backend", c.config->str("cache.backend"));
        w.field("config_hash", c.config->hash());
        if (m_parts.reloader != nullptr) {
            auto st = m_parts.reloader->stats();
            w.key("config_reloads").begin_object();
            w.field("applied", static_cast<std::int64_t>(st.applied));
            w.field("unchanged", static_cast<std::int64_t>(st.unchanged));
            w.field("rejected", static_cast<std::int64_t>(st.rejected));
            w.field("last_good", util::format_rfc3339(st.last_good_time));
            w.end_object();
        }
        w.key("checks").begin_array();
        for (const auto& r : checks) {
            w.begin_object();
            w.field("name", r.name);
            w.field("state", to_string(r.state));
            w.field("message", r.message);
            w.field("latency_ms", r.latency_ms);
            w.field("required", r.required);
            w.end_object();
        }
        w.end_array();
        w.end_object();
        c.res.set_content(out + "\n", "application/json");
    });

    if (m_parts.config.current()->integer("server.metrics_port") == 0 ||
        !m_parts.config.current()->flag("metrics.enabled")) {
        get("/metrics", "/metrics", Scope::none, [this](Ctx& c) {
            if (!c.config->flag("metrics.enabled")) {
                json_error(c.res, 404, "not_found", "not_found", "metrics are disabled",
                           c.request_id);
                return;
            }
            c.res.set_content(m_parts.metrics.expose(), k_metrics_content_type);
        });
    }

    // ---- analysis
    auto run_analysis = [this](Ctx& c, std::string bytes, const std::string& source_name,
                               const AnalysisRequest& a, const std::string& source_label) {
        if (m_analyses.fetch_add(1) >= c.config->integer("server.max_concurrent_analyses")) {
            --m_analyses;
            c.res.set_header("Retry-After", "1");
            json_error(c.res, 503, "unavailable", "busy",
                       "too many analyses in progress; retry in a second", c.request_id);
            return;
        }
        struct Release {
            std::atomic<int>& n;
            ~Release() { --n; }
        } release{m_analyses};
        auto started = std::chrono::steady_clock::now();
        std::string outcome = "error";
        struct Count {
            Instruments& in;
            const std::string& label;
            std::string& outcome;
            ~Count() { in.analyses.inc({label, outcome}); }
        } count{*m_instruments, source_label, outcome};
        // Without probes an analysis depends only on its inputs: cache it (every replica shares
        // it with the Redis backend) under a content hash of all of them.
        std::string cache_key;
        if (!a.include_tests) {
            std::string cats;
            for (const auto& cat : a.categories) {
                cats += cat + ",";
            }
            std::string langs;
            for (const auto& l : c.config->list("analysis.languages")) {
                langs += l + ",";
            }
            auto options_text = fmt::format("{}|{}|{}|{}|{}|{}", cats, a.min_score, a.max_results,
                                            a.only_ready, c.config->str("analysis.match"), langs);
            cache_key = cache::make_key(
                "analysis", {bytes, source_name, c.config->rules()->fingerprint(), options_text});
            auto l = m_parts.cache.get(cache_key);
            if (l.state == cache::State::fresh) {
                m_instruments->cache_requests.inc({c.config->str("cache.backend"), "hit"});
                auto doc = l.entry.value;
                auto at = doc.find("\"cache_hit\": false");
                if (at != std::string::npos) {
                    doc.replace(at, 18, "\"cache_hit\": true");
                }
                outcome = "cached";
                auto envelope =
                    fmt::format("  \"success\": true,\n  \"message\": {},\n  \"timestamp\": {},\n  "
                                "\"request_id\": {},\n",
                                json_string(l.entry.content_type),
                                json_string(util::format_rfc3339(m_parts.clock.system())),
                                json_string(c.request_id));
                c.res.set_content(with_envelope(doc, envelope), "application/json");
                return;
            }
            m_instruments->cache_requests.inc({c.config->str("cache.backend"), "miss"});
        }
        auto catalog = sdmx::read_catalog(bytes, source_name);
        std::string().swap(bytes);
        auto categorizer_ptr = categorizer_for(*c.config);
        const auto& categorizer = *categorizer_ptr;
        analysis::AnalysisOptions options;
        options.categories = a.categories;
        options.min_score = a.min_score;
        options.limit = static_cast<std::size_t>(a.max_results);
        analysis::check_categories(*c.config->rules(), options.categories);
        analysis::ProbeResults probes;
        if (a.include_tests) {
            auto ranked = analysis::analyze(catalog, categorizer, options);
            auto n = static_cast<std::size_t>(c.config->integer("api.max_probes_per_request"));
            probes = m_probes->lookup_or_schedule(analysis::top_ids(ranked, n));
        }
        options.only_ready = a.only_ready;
        auto report = analysis::analyze(catalog, categorizer, options, probes);
        report.source_name = source_name;
        report.source_format = catalog.format;
        report.analysis_timestamp = util::format_rfc3339(m_parts.clock.system());
        report.analysis_duration_seconds =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
        m_instruments->analysis_duration.observe({}, report.analysis_duration_seconds);
        m_instruments->analyzed.inc({}, static_cast<double>(report.total_analyzed));
        outcome = "success";
        auto message = fmt::format("Successfully analyzed {} dataflows", report.total_analyzed);
        auto doc = analysis::render_json(report);
        if (!cache_key.empty()) {
            cache::Entry e;
            e.value = doc;
            e.content_type = message; // the message travels with the cached document
            e.stored_at_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                                 m_parts.clock.system().time_since_epoch())
                                 .count();
            e.fresh_until_ms = e.stored_at_ms + c.config->duration("cache.fresh_ttl").count();
            e.stale_until_ms = e.fresh_until_ms;
            e.tags = {"analysis", "rules:" + c.config->rules()->fingerprint()};
            m_parts.cache.set(cache_key, e);
        }
        auto envelope = fmt::format(
            "  \"success\": true,\n  \"message\": {},\n  \"timestamp\": {},\n  \"request_id\": "
            "{},\n",
            json_string(message), json_string(report.analysis_timestamp),
            json_string(c.request_id));
        c.res.set_content(with_envelope(doc, envelope), "application/json");
    };

    post("/api/analysis/dataflow", "/api/analysis/dataflow", Scope::read,
         [this, run_analysis](Ctx& c) {
             auto body = parse_analysis_body(c.req.body);
             if (body.xml_content) {
                 run_analysis(c, std::move(*body.xml_content), "xml_content", body.request, "body");
                 return;
             }
             const auto& root = c.config->str("api.file_root");
             if (root.empty()) {
                 throw UsageError("xml_file_path is disabled: the server reads no files unless "
                                  "api.file_root is configured; send xml_content instead");
             }
             const auto& rel = *body.xml_file_path;
             fs::path p(rel);
             std::error_code ec;
             auto root_real = fs::canonical(root, ec);
             auto file_real = fs::canonical(fs::path(root) / p, ec);
             auto inside = [&] {
                 auto r = root_real.string() + "/";
                 return !ec && file_real.string().compare(0, r.size(), r) == 0;
             };
             if (p.is_absolute() || rel.find("..") != std::string::npos || !inside()) {
                 throw UsageError("xml_file_path must name a file inside api.file_root (a "
                                  "relative path, no '..', no symlink out of it)");
             }
             sdmx::FileSource source(file_real.string());
             auto payload = source.fetch(sdmx::ReadLimits{
                 static_cast<std::size_t>(c.config->size("analysis.max_input_size"))});
             run_analysis(c, std::move(payload.bytes), rel, body.request, "file");
         });

    post("/api/analysis/dataflow/upload", "/api/analysis/dataflow/upload", Scope::read,
         [run_analysis](Ctx& c) {
             if (!c.req.has_file("file")) {
                 throw UsageError("send the catalogue as multipart/form-data field 'file'");
             }
             auto file = c.req.get_file_value("file");
             AnalysisRequest a;
             if (c.req.has_param("categories")) {
                 a.categories = split_list(c.req.get_param_value("categories"));
             }
             a.min_score =
                 query_int(c.req, "min_relevance_score", 0, -1'000'000'000, 1'000'000'000);
             a.max_results = query_int(c.req, "max_results", 100, 1, 1000);
             a.include_tests = query_bool(c.req, "include_tests", true);
             a.only_ready = query_bool(c.req, "only_tableau_ready", false);
             auto name = file.filename.empty() ? std::string("upload") : file.filename;
             run_analysis(c, std::move(file.content), util::printable(name.substr(0, 200)), a,
                          "upload");
         });

    get("/api/analysis/rules", "/api/analysis/rules", Scope::read, [](Ctx& c) {
        const auto& rules = *c.config->rules();
        std::string out;
        util::JsonWriter w(out, 2);
        w.begin_object();
        w.field("success", true);
        w.key("rules").begin_array();
        for (const auto& r : rules.rules()) {
            w.begin_object();
            w.field("rule_id", r.id);
            w.field("category", r.category);
            w.key("keywords").begin_array();
            for (const auto& k : r.keywords) {
                w.value(k);
            }
            w.end_array();
            w.field("priority", r.priority);
            w.field("is_active", true);
            w.end_object();
        }
        w.end_array();
        w.field("total_count", rules.rules().size());
        w.field("active_count", rules.rules().size());
        w.field("origin", rules.origin());
        w.field("fingerprint", rules.fingerprint());
        w.end_object();
        c.res.set_content(out + "\n", "application/json");
    });

    // ---- the served catalogue
    auto with_catalog = [this](Ctx&) -> std::shared_ptr<const CatalogState> {
        auto state = m_catalog->current();
        if (!state) {
            throw NotReady(m_catalog->mode() == "off"
                               ? "no catalogue is served (catalog.mode = off)"
                               : "the catalogue is not loaded yet; retry shortly");
        }
        return state;
    };
    get("/api/v1/dataflows", "/api/v1/dataflows", Scope::read, [this, with_catalog](Ctx& c) {
        auto state = with_catalog(c);
        analysis::AnalysisOptions options;
        if (c.req.has_param("category")) {
            options.categories = split_list(c.req.get_param_value("category"));
        }
        options.min_score = query_int(c.req, "min_score", 0, -1'000'000'000, 1'000'000'000);
        options.limit = static_cast<std::size_t>(query_int(c.req, "limit", 100, 0, 100000));
        options.sort = sort_key(c.req.get_param_value("sort"));
        options.query = c.req.get_param_value("q");
        auto categorizer_ptr = categorizer_for(*c.config);
        const auto& categorizer = *categorizer_ptr;
        analysis::check_categories(*c.config->rules(), options.categories);
        auto report = analysis::analyze(*state->catalog, categorizer, options);
        report.source_name = state->source;
        report.source_format = state->catalog->format;
        report.analysis_timestamp = util::format_rfc3339(m_parts.clock.system());
        auto envelope = fmt::format("  \"success\": true,\n  \"catalog_age_seconds\": {:.1f},\n"
                                    "  \"stale\": {},\n",
                                    m_catalog->age_seconds(), state->stale);
        c.res.set_content(with_envelope(analysis::render_json(report), envelope),
                          "application/json");
    });
    get(R"(/api/v1/dataflows/([A-Za-z0-9_@$\-]{1,255}))", "/api/v1/dataflows/{id}", Scope::read,
        [this, with_catalog](Ctx& c) {
            auto state = with_catalog(c);
            analysis::AnalysisOptions options;
            options.limit = 0;
            options.ids = {c.req.matches[1]};
            auto categorizer_ptr = categorizer_for(*c.config);
            const auto& categorizer = *categorizer_ptr;
            auto report = analysis::analyze(*state->catalog, categorizer, options);
            for (const auto& g : report.groups) {
                for (const auto& f : g.flows) {
                    auto body = fmt::format(
                        "{{\n  \"success\": true,\n  \"catalog_age_seconds\": {:.1f},\n  "
                        "\"stale\": {},\n  \"dataflow\": {}\n}}\n",
                        m_catalog->age_seconds(), state->stale,
                        analysis::render_flow_json(report, f, 0));
                    c.res.set_content(body, "application/json");
                    return;
                }
            }
            json_error(c.res, 404, "not_found", "unknown_dataflow",
                       "no dataflow '" + std::string(c.req.matches[1]) +
                           "' in the served catalogue",
                       c.request_id);
        });

    post("/api/analysis/dataflow/bulk", "/api/analysis/dataflow/bulk", Scope::read,
         [this, with_catalog](Ctx& c) {
             auto body = parse_bulk_body(c.req.body);
             bool include_tests = body.include_tests;
             const std::vector<std::string>& requested = body.ids;
             auto state = with_catalog(c);
             analysis::AnalysisOptions options;
             options.limit = 0;
             options.ids = requested;
             auto categorizer_ptr = categorizer_for(*c.config);
             const auto& categorizer = *categorizer_ptr;
             analysis::ProbeResults probes;
             if (include_tests) {
                 probes = m_probes->lookup_or_schedule(requested);
             } else {
                 for (const auto& id : requested) {
                     analysis::ProbeResult p;
                     p.dataflow_id = id;
                     p.outcome = analysis::ProbeOutcome::not_requested;
                     probes[id] = p;
                 }
             }
             auto report = analysis::analyze(*state->catalog, categorizer, options, probes);
             std::set<std::string> found;
             for (const auto& t : report.test_results) {
                 found.insert(t.flow.flow->id);
             }
             std::string out;
             util::JsonWriter w(out, 2);
             w.begin_object();
             w.field("success", true);
             w.field("message",
                     fmt::format("{} of {} dataflows found", found.size(), requested.size()));
             w.field("requested_count", requested.size());
             w.field("successful_count", found.size());
             w.field("failed_count", requested.size() - found.size());
             w.key("errors").begin_array();
             for (const auto& id : requested) {
                 if (found.count(id) == 0) {
                     w.value("unknown dataflow id: " + id);
                 }
             }
             w.end_array();
             w.field("request_id", c.request_id);
             w.end_object();
             // results: the test entries of the report, in the test-results JSON shape.
             auto tests = analysis::render_tests_json(report);
             auto results_at = tests.find("\"test_results\"");
             auto results_end = tests.find("\n  \"tests_performed\"");
             std::string results = tests.substr(results_at, results_end - results_at);
             if (!results.empty() && results.back() == ',') {
                 results.pop_back();
             }
             results.replace(0, std::string("\"test_results\"").size(), "\"results\"");
             out.insert(out.rfind('}'), ",\n  " + results + "\n");
             c.res.set_content(out + "\n", "application/json");
         });

    // ---- admin
    get("/api/v1/cache/stats", "/api/v1/cache/stats", Scope::admin, [this](Ctx& c) {
        auto s = m_parts.cache.stats();
        std::string out;
        util::JsonWriter w(out, 2);
        w.begin_object();
        w.field("success", true);
        w.field("backend", s.backend);
        w.field("reachable", s.reachable);
        w.field("entries", static_cast<std::int64_t>(s.entries));
        w.field("hits", static_cast<std::int64_t>(s.hits));
        w.field("misses", static_cast<std::int64_t>(s.misses));
        w.field("hit_ratio", s.hit_ratio());
        w.field("bytes_used", static_cast<std::int64_t>(s.bytes_used));
        w.end_object();
        c.res.set_content(out + "\n", "application/json");
    });
    post("/api/v1/cache/flush", "/api/v1/cache/flush", Scope::admin, [this](Ctx& c) {
        if (!c.config->flag("api.admin_enabled")) {
            throw UsageError("admin endpoints are disabled (api.admin_enabled = false)");
        }
        cache::FlushResult r;
        try {
            r = c.req.has_param("tag")
                    ? m_parts.cache.invalidate_tag(c.req.get_param_value("tag"), false)
                    : m_parts.cache.flush(false);
        } catch (const redis::Error& e) {
            throw UnavailableError(e.what());
        }
        c.res.set_content(fmt::format("{{\"success\": true, \"invalidated\": {}, \"exact\": {}}}\n",
                                      r.entries, r.exact),
                          "application/json");
    });
    post("/api/v1/catalog/refresh", "/api/v1/catalog/refresh", Scope::admin, [this](Ctx& c) {
        if (!c.config->flag("api.admin_enabled")) {
            throw UsageError("admin endpoints are disabled (api.admin_enabled = false)");
        }
        if (m_catalog->mode() != "upstream") {
            throw UsageError("the catalogue is not fetched from the upstream (catalog.mode = " +
                             m_catalog->mode() + ")");
        }
        m_catalog->refresh_soon();
        c.res.status = 202;
        c.res.set_content("{\"success\": true, \"message\": \"refresh scheduled\"}\n",
                          "application/json");
    });
    post("/api/v1/config/reload", "/api/v1/config/reload", Scope::admin, [this](Ctx& c) {
        if (!c.config->flag("api.admin_enabled")) {
            throw UsageError("admin endpoints are disabled (api.admin_enabled = false)");
        }
        if (m_parts.reloader == nullptr) {
            throw UsageError("configuration reload is not available");
        }
        auto outcome = m_parts.reloader->reload();
        const char* names[] = {"applied", "unchanged", "rejected"};
        c.res.status = outcome == config::ReloadOutcome::rejected ? 422 : 200;
        c.res.set_content(fmt::format("{{\"success\": {}, \"outcome\": \"{}\"}}\n",
                                      outcome != config::ReloadOutcome::rejected,
                                      names[static_cast<int>(outcome)]),
                          "application/json");
    });
}

} // namespace dataflow::service

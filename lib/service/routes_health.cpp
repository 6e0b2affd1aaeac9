// Health probes (kube-apiserver style) and /metrics on the API port.

#include "service/auth.hpp"
#include "service/routes.hpp"
#include "util/time.hpp"

#include <fmt/format.h>

#include <httplib.h>
#include <set>

namespace dataflow::service {

namespace {

constexpr const char* k_text = "text/plain; charset=utf-8";

std::set<std::string> exclusions(const Request& req) {
    auto list = req.params("exclude");
    return {list.begin(), list.end()};
}

void add_ready_checks(ServiceState& s) {
    s.ready_checks.add("config", true, [&s] {
        CheckResult r;
        if (s.parts.reloader != nullptr) {
            auto st = s.parts.reloader->stats();
            if (st.rejected > 0 && st.last_rejection_time > st.last_good_time) {
                r.state = CheckState::degraded;
                r.message = "the last reload was rejected; the previous configuration runs";
            }
        }
        return r;
    });
    s.ready_checks.add("shutdown", true, [&s] {
        CheckResult r;
        if (s.draining) {
            r.state = CheckState::failed;
            r.message = "draining before shutdown";
        }
        return r;
    });
    s.ready_checks.add("catalog", false, [&s] {
        CheckResult r;
        auto mode = s.catalog.mode();
        if (mode == config::CatalogMode::off) {
            r.message = "off";
            return r;
        }
        auto state = s.catalog.current();
        if (!state) {
            r.state = mode == config::CatalogMode::file ? CheckState::failed : CheckState::degraded;
            r.message = "not loaded yet";
        } else if (state->stale) {
            r.state = CheckState::degraded;
            r.message =
                fmt::format("stale ({:.0f} s old): {}", s.catalog.age_seconds(), state->last_error);
        }
        return r;
    });
    s.ready_checks.add("redis", false, [&s] {
        CheckResult r;
        if (s.parts.cache.redis_client() == nullptr) {
            r.message = "not used (cache.backend = memory)";
            return r;
        }
        auto health = s.redis_health();
        if (!health.checked) {
            r.message = "not checked yet";
        } else if (!health.ok) {
            r.state = CheckState::degraded;
            r.message =
                fmt::format("unreachable ({}); serving without the shared cache", health.why);
        }
        return r;
    });
    s.ready_checks.add("upstream", false, [&s] {
        CheckResult r;
        for (const auto& b : s.parts.upstream.breakers().list()) {
            if (b.state != resilience::BreakerState::closed) {
                r.state = CheckState::degraded;
                r.message += (r.message.empty() ? "" : "; ") +
                             fmt::format("{} breaker {}", b.name, resilience::to_string(b.state));
            }
        }
        return r;
    });
    s.status_checks.add("memory", false, [] {
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
}

Reply live(ServiceState& s, const Request& req) {
    auto stall = req.config->settings().health.stall_timeout;
    auto last = std::chrono::steady_clock::time_point(
        std::chrono::steady_clock::duration(s.last_progress_ns.load()));
    bool stalled = s.in_flight.load() > 1 && s.parts.clock.steady() - last > stall;
    std::vector<CheckResult> checks{
        {"ping", CheckState::ok, "", 0, true},
        {"workers", stalled ? CheckState::failed : CheckState::ok,
         stalled ? fmt::format("no request finished for more than {} s",
                               std::chrono::duration_cast<std::chrono::seconds>(stall).count())
                 : "",
         0, true}};
    bool ok = passing(checks);
    return Reply::text(req.has_param("verbose") ? verbose_text(checks, "livez")
                                                : (ok ? "ok\n" : "failed\n"),
                       ok ? 200 : 503);
}

/// Probes need no token, but what a check says (the Redis endpoint, an upstream's error) is
/// for those who may read the API: with auth on and no read token, "reason withheld", as the
/// kube-apiserver does. Returns whether they were withheld.
bool withhold_reasons(ServiceState& s, const Request& req, std::vector<CheckResult>& checks) {
    const auto& auth = req.config->settings().auth;
    if (auth.mode == config::AuthMode::none) {
        return false;
    }
    auto now =
        std::chrono::duration_cast<std::chrono::seconds>(s.parts.clock.system().time_since_epoch())
            .count();
    auto result = authenticate(auth, req.http.get_header_value("Authorization"), now);
    if (result.authenticated && result.scopes.count("read") > 0) {
        return false;
    }
    for (auto& c : checks) {
        if (!c.message.empty()) {
            c.message = "reason withheld";
        }
    }
    return true;
}

Reply ready(ServiceState& s, const Request& req) {
    auto checks = s.ready_checks.run(exclusions(req));
    withhold_reasons(s, req, checks);
    bool ok = passing(checks);
    if (!req.has_param("exclude")) {
        // Only the whole answer counts (a probe excluding checks asks another question).
        int before = s.last_ready.exchange(ok ? 1 : 0);
        if (before >= 0 && before != (ok ? 1 : 0)) {
            ++s.readiness_transitions;
        }
    }
    return Reply::text(req.has_param("verbose") ? verbose_text(checks, "readyz")
                                                : (ok ? "ok\n" : "not ready\n"),
                       ok ? 200 : 503);
}

void write_status(util::JsonWriter& w, ServiceState& s, const config::Config& config,
                  const std::vector<CheckResult>& checks, bool withheld) {
    w.field("status", overall(checks));
    w.field("service", config.settings().identity.service_name);
    w.field("version", DATAFLOW_VERSION);
    w.field("environment", config::to_string(config.settings().identity.environment));
    w.field("namespace", config.settings().identity.namespace_);
    w.field("draining", s.draining.load());
    w.field("requests_in_flight", s.in_flight.load());
    w.key("analyses").begin_object();
    w.field("running", s.admission.running());
    w.field("waiting", s.admission.waiting());
    w.field("queued_total", static_cast<std::int64_t>(s.admission.queued_total()));
    w.field("busy_total", static_cast<std::int64_t>(s.admission.refused_total()));
    w.end_object();
    auto answers = s.catalog_answers.stats();
    auto feed = s.feed_answers.stats();
    w.key("response_cache").begin_object();
    w.field("entries", answers.entries + feed.entries);
    w.field("bytes", answers.bytes + feed.bytes);
    w.field("hits", static_cast<std::int64_t>(answers.hits + feed.hits));
    w.field("misses", static_cast<std::int64_t>(answers.misses + feed.misses));
    w.end_object();
    w.field("cache_backend", config::to_string(config.settings().cache.backend));
    if (const auto* redis = s.parts.cache.redis_client()) {
        // As last seen: no network here. Reasons stay in the "redis" check; the nodes (their
        // endpoints) are withheld with the reasons.
        w.key("redis").begin_object();
        w.field("mode", redis::to_string(redis->mode()));
        if (!withheld) {
            w.key("nodes").begin_array();
            for (const auto& n : redis->nodes()) {
                w.begin_object();
                w.field("endpoint", n.endpoint);
                w.field("role", n.role);
                if (!n.slots.empty()) {
                    w.field("slots", n.slots);
                }
                w.field("reachable", n.reachable);
                w.end_object();
            }
            w.end_array();
        }
        auto t = redis->counters();
        w.field("redirects_moved", static_cast<std::int64_t>(t.moved));
        w.field("redirects_ask", static_cast<std::int64_t>(t.ask));
        w.field("topology_refreshes", static_cast<std::int64_t>(t.refreshes));
        w.field("failovers", static_cast<std::int64_t>(t.failovers));
        w.end_object();
    }
    w.field("config_hash", config.hash());
    if (s.parts.reloader != nullptr) {
        auto st = s.parts.reloader->stats();
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
}

Reply status(ServiceState& s, const Request& req) {
    auto excluded = exclusions(req);
    auto checks = s.ready_checks.run(excluded);
    auto more = s.status_checks.run(excluded);
    checks.insert(checks.end(), more.begin(), more.end());
    bool withheld = withhold_reasons(s, req, checks);
    int code = passing(checks) ? 200 : 503;
    if (req.has_param("verbose")) {
        return Reply::text(verbose_text(checks, "status"), code);
    }
    return Reply::json(
        [&](util::JsonWriter& w) { write_status(w, s, *req.config, checks, withheld); }, code);
}

} // namespace

void add_health_routes(Router& router, ServiceState& s) {
    add_ready_checks(s);
    auto live_route = [&s](Request& req) { return live(s, req); };
    router.probe("/health/live", live_route);
    router.probe("/livez", live_route);
    router.probe("/health/startup", [&s](Request&) {
        return s.started ? Reply::text("ok\n") : Reply::text("starting\n", 503);
    });
    auto ready_route = [&s](Request& req) { return ready(s, req); };
    router.probe("/health/ready", ready_route);
    router.probe("/readyz", ready_route);
    router.probe("/health/status", [&s](Request& req) { return status(s, req); });

    auto config = s.parts.config.current();
    if (config->settings().server.metrics_port == 0 || !config->settings().metrics.enabled) {
        router.get("/metrics", Scope::none, [&s](Request& req) {
            if (!req.config->settings().metrics.enabled) {
                throw HttpError(404, "not_found", "not_found", "metrics are disabled");
            }
            Reply r;
            r.content_type = k_metrics_content_type;
            r.body = s.parts.metrics.expose();
            return r;
        });
    }
}

} // namespace dataflow::service

#pragma once
/// What the service's routes share: the parts it was built from, its instruments, the served
/// catalogue and the background prober, and its live state (started, draining, requests in
/// flight, Redis reachability). Owned by Service; routes get a reference.

#include "cache/cache.hpp"
#include "config/reload.hpp"
#include "service/admission.hpp"
#include "service/catalog_service.hpp"
#include "service/health.hpp"
#include "service/metrics.hpp"
#include "service/probe_scheduler.hpp"
#include "service/rendered.hpp"
#include "upstream/setup.hpp"
#include "util/clock.hpp"

#include <algorithm>
#include <atomic>
#include <mutex>
#include <string>

namespace dataflow::service {

struct ServiceParts {
    config::ConfigStore& config;
    config::Reloader* reloader = nullptr; ///< for POST /api/v1/config/reload and metrics
    cache::Cache& cache;
    upstream::Upstream& upstream;
    Registry& metrics;
    const util::Clock& clock;
};

/// The service's metric families.
struct Instruments {
    explicit Instruments(Registry& registry);
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
    Family& catalog_refreshes;
    Family& catalog_changes;
    Family& catalog_last_change;
    Family& ready;
    Family& readiness_transitions;
    Family& reload_ok;
    Family& reload_time;
    Family& build_info;
    Family& redis_redirects; ///< cache.backend = redis: MOVED / ASK followed
    Family& redis_refreshes; ///< slot maps read, masters asked of the sentinels
    Family& redis_failovers; ///< new masters seen after a failure
    Family& redis_node_up;   ///< per node the client knows: 1 reachable, 0 not
};

struct ServiceState {
    explicit ServiceState(ServiceParts from)
        : parts(from), instruments(from.metrics), catalog(from.cache, from.upstream, from.clock),
          probes(from.cache, from.upstream) {
        // Only dataflows of the served catalogue are probed: any other id would spend the
        // upstream's budget (ISTAT bans an IP beyond ~5 requests a minute) on a client's say.
        probes.set_probeable([this](const std::string& id) {
            auto state = catalog.current();
            if (!state) {
                return false;
            }
            const auto& flows = state->catalog->dataflows;
            return std::any_of(flows.begin(), flows.end(),
                               [&](const sdmx::Dataflow& f) { return f.id == id; });
        });
    }

    ServiceParts parts;
    Instruments instruments;
    CatalogService catalog;
    ProbeScheduler probes;
    std::atomic<bool> started{false};
    std::atomic<bool> draining{false};
    std::atomic<int> in_flight{0};
    Admission admission; ///< analyses running and queued
    /// Rendered answers of the served catalogue's routes and of the change feed.
    RenderCache catalog_answers;
    RenderCache feed_answers;
    KeyMemo analysis_keys; ///< POST /api/analysis/dataflow bodies seen, by digest
    std::atomic<long long> last_progress_ns{0}; ///< steady clock: a request last finished
    std::atomic<int> last_ready{-1};            ///< the last readiness answer: -1 none yet, 0 or 1
    std::atomic<std::uint64_t> readiness_transitions{0};
    HealthChecks ready_checks;
    HealthChecks status_checks; ///< besides the ready checks

    /// Redis reachability, pinged every health.redis_check_interval in the background so
    /// probes never wait on Redis.
    struct RedisHealth {
        bool checked = false;
        bool ok = true;
        std::string why;
    };
    RedisHealth redis_health() const {
        std::lock_guard lock(redis_mutex);
        return redis;
    }
    mutable std::mutex redis_mutex;
    RedisHealth redis; ///< guarded by redis_mutex
};

} // namespace dataflow::service

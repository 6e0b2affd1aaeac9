#pragma once
/// Probes in the background for the service: requests never wait on upstream downloads. Cached
/// results are returned at once; missing ones are queued (once each) and measured one at a
/// time within the upstream budget, their results stored in the shared cache (live::CachedProber:
/// the same keys and keep rule as the CLI's probes).
///
/// Every probe spends the upstream's budget (ISTAT bans an address beyond about 5 requests a
/// minute), so what may be queued is bounded three ways: only ids the service says are
/// probeable (set_probeable: the served catalogue's dataflows), at most `max_new` new ids per
/// call, and at most k_max_queued ids waiting in all.

#include "analysis/report.hpp"
#include "config/config.hpp"
#include "live/probes.hpp"
#include "upstream/setup.hpp"
#include "util/background.hpp"
#include "util/clock.hpp"

#include <cstddef>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <set>

namespace dataflow::service {

class ProbeScheduler {
public:
    /// Says whether an id may be probed (e.g. it is a dataflow of the served catalogue).
    /// Called on request threads, without the scheduler's lock: it must be thread-safe.
    using Probeable = std::function<bool(const std::string& id)>;

    /// Most ids waiting for a probe, across all requests: at ISTAT's budget (about 5 a minute)
    /// 1000 is several hours of work, so more could never be measured while still wanted.
    static constexpr std::size_t k_max_queued = 1000;
    /// Default bound on the ids one call may newly queue (api.max_probes_per_request's default).
    static constexpr std::size_t k_default_max_new = 10;
    /// The error_message of an id that set_probeable() refuses.
    static constexpr const char* k_not_probeable_message =
        "not in the served catalogue; only its dataflows are probed";

    ProbeScheduler(cache::Cache& cache, upstream::Upstream& upstream,
                   const util::Clock& clock = util::SystemClock::instance());
    ~ProbeScheduler();

    void configure(const config::Config& config);
    void start();
    void stop();

    /// Restricts probes to the ids for which `probeable` returns true; the others are reported
    /// with outcome client_error (k_not_probeable_message) and never queued. Unset (or an empty
    /// function): every well-formed id is probeable. Thread-safe; may be called again (reload).
    void set_probeable(Probeable probeable);

    /// Cached results for `ids`; the others are reported as pending, and queued unless already
    /// queued, beyond `max_new` new ids in this call, or beyond k_max_queued in all (those are
    /// queued by a later call). Ids that are not well-formed or not probeable are reported as
    /// client_error and never queued.
    analysis::ProbeResults lookup_or_schedule(const std::vector<std::string>& ids,
                                              std::size_t max_new = k_default_max_new);
    std::size_t queued() const;

private:
    void run();
    void probe_one(const std::string& id);
    std::shared_ptr<live::CachedProber> prober() const;
    std::shared_ptr<const Probeable> probeable() const;

    cache::Cache& m_cache;
    upstream::Upstream& m_upstream;
    const util::Clock& m_clock;
    mutable std::mutex m_mutex;
    std::deque<std::string> m_queue;
    std::set<std::string> m_queued;
    std::shared_ptr<const Probeable> m_probeable; ///< null: every well-formed id
    /// Replaced by configure(); lookups use it on request threads, measure() only on the worker.
    std::shared_ptr<live::CachedProber> m_prober;
    util::BackgroundThread m_worker; ///< last: stopped before the state it reads goes
};

} // namespace dataflow::service

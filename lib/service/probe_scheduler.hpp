#pragma once
/// Probes in the background for the service: requests never wait on upstream downloads. Cached
/// results are returned at once; missing ones are queued (once each) and measured one at a
/// time within the upstream budget, their results stored in the shared cache (live::CachedProber:
/// the same keys and keep rule as the CLI's probes).

#include "analysis/report.hpp"
#include "config/config.hpp"
#include "live/probes.hpp"
#include "upstream/setup.hpp"
#include "util/background.hpp"
#include "util/clock.hpp"

#include <deque>
#include <memory>
#include <mutex>
#include <set>

namespace dataflow::service {

class ProbeScheduler {
public:
    ProbeScheduler(cache::Cache& cache, upstream::Upstream& upstream,
                   const util::Clock& clock = util::SystemClock::instance());
    ~ProbeScheduler();

    void configure(const config::Config& config);
    void start();
    void stop();

    /// Cached results for `ids`; the others are queued and reported as pending.
    analysis::ProbeResults lookup_or_schedule(const std::vector<std::string>& ids);
    std::size_t queued() const;

private:
    void run();
    void probe_one(const std::string& id);
    std::shared_ptr<live::CachedProber> prober() const;

    cache::Cache& m_cache;
    upstream::Upstream& m_upstream;
    const util::Clock& m_clock;
    mutable std::mutex m_mutex;
    std::deque<std::string> m_queue;
    std::set<std::string> m_queued;
    /// Replaced by configure(); lookups use it on request threads, measure() only on the worker.
    std::shared_ptr<live::CachedProber> m_prober;
    util::BackgroundThread m_worker; ///< last: stopped before the state it reads goes
};

} // namespace dataflow::service

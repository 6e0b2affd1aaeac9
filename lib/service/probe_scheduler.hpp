#pragma once
/// Probes in the background for the service: requests never wait on upstream downloads. Cached
/// results are returned at once; missing ones are queued (once each) and measured one at a
/// time within the upstream budget, their results stored in the shared cache.

#include "analysis/report.hpp"
#include "cache/single_flight.hpp"
#include "config/config.hpp"
#include "upstream/setup.hpp"
#include "util/background.hpp"

#include <deque>
#include <mutex>
#include <set>

namespace dataflow::service {

class ProbeScheduler {
public:
    ProbeScheduler(cache::Cache& cache, upstream::Upstream& upstream);
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
    std::string key_for(const std::string& id) const;

    cache::Cache& m_cache;
    upstream::Upstream& m_upstream;
    mutable std::mutex m_mutex;
    std::deque<std::string> m_queue;
    std::set<std::string> m_queued;
    std::shared_ptr<upstream::Prober> m_prober;
    cache::Policy m_policy;
    util::BackgroundThread m_worker; ///< last: stopped before the state it reads goes
};

} // namespace dataflow::service

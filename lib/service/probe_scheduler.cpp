#include "service/probe_scheduler.hpp"

#include "upstream/sdmx_rest.hpp"

#include <spdlog/spdlog.h>

namespace dataflow::service {

ProbeScheduler::ProbeScheduler(cache::Cache& cache, upstream::Upstream& upstream,
                               const util::Clock& clock)
    : m_cache(cache), m_upstream(upstream), m_clock(clock) {}

ProbeScheduler::~ProbeScheduler() {
    stop();
}

void ProbeScheduler::configure(const config::Config& c) {
    auto prober = std::make_shared<live::CachedProber>(
        upstream::Prober(m_upstream.client(), upstream::base_url(c), upstream::probe_settings(c)),
        &m_cache, m_clock, live::probe_policy(c));
    std::lock_guard lock(m_mutex);
    m_prober = std::move(prober);
}

void ProbeScheduler::start() {
    m_worker.start([this] { run(); });
}

void ProbeScheduler::stop() {
    m_worker.stop();
}

std::size_t ProbeScheduler::queued() const {
    std::lock_guard lock(m_mutex);
    return m_queue.size();
}

void ProbeScheduler::set_probeable(Probeable probeable) {
    auto p = probeable ? std::make_shared<const Probeable>(std::move(probeable)) : nullptr;
    std::lock_guard lock(m_mutex);
    m_probeable = std::move(p);
}

std::shared_ptr<const ProbeScheduler::Probeable> ProbeScheduler::probeable() const {
    std::lock_guard lock(m_mutex);
    return m_probeable;
}

std::shared_ptr<live::CachedProber> ProbeScheduler::prober() const {
    std::lock_guard lock(m_mutex);
    return m_prober;
}

analysis::ProbeResults ProbeScheduler::lookup_or_schedule(const std::vector<std::string>& ids,
                                                          std::size_t max_new) {
    analysis::ProbeResults out;
    std::vector<std::string> missing;
    auto prober = this->prober();
    auto probeable = this->probeable();
    auto refuse = [&out](const std::string& id, const char* why) {
        analysis::ProbeResult p; // never probed
        p.dataflow_id = id;
        p.outcome = analysis::ProbeOutcome::client_error;
        p.error_message = why;
        out[id] = p;
    };
    for (const auto& id : ids) {
        if (!upstream::is_flow_ref(id)) {
            refuse(id, "not an SDMX dataflow id; cannot be probed"); // no URL can carry it
            continue;
        }
        if (probeable && !(*probeable)(id)) {
            refuse(id, k_not_probeable_message);
            continue;
        }
        if (auto cached = prober->lookup(id)) {
            out[id] = std::move(cached->result);
            if (cached->fresh) {
                continue;
            }
        }
        missing.push_back(id); // stale ones are served and measured again
        if (out.count(id) == 0) {
            analysis::ProbeResult p;
            p.dataflow_id = id;
            p.pending = true;
            out[id] = p;
        }
    }
    if (!missing.empty()) {
        std::size_t added = 0;
        std::lock_guard lock(m_mutex);
        for (const auto& id : missing) {
            if (added >= max_new || m_queue.size() >= k_max_queued) {
                break; // still reported as pending: a later call queues them
            }
            if (m_queued.insert(id).second) {
                m_queue.push_back(id);
                ++added;
            }
        }
        if (added > 0) {
            m_worker.wake();
        }
    }
    return out;
}

void ProbeScheduler::run() {
    while (true) {
        std::string id;
        {
            std::unique_lock lock(m_mutex);
            if (!m_worker.wait(lock, [this] { return !m_queue.empty(); })) {
                return;
            }
            id = m_queue.front();
            m_queue.pop_front();
        }
        try {
            probe_one(id);
        } catch (const std::exception& e) {
            spdlog::error("probe {}: {}", id, e.what());
        }
        std::lock_guard lock(m_mutex);
        m_queued.erase(id);
    }
}

void ProbeScheduler::probe_one(const std::string& id) {
    // A fresh result stored meanwhile (another replica, a CLI run) is reused, not measured.
    auto [p, from_cache] = prober()->measure(id);
    if (!from_cache) {
        spdlog::info("probe {}: {}", id, analysis::to_string(p.outcome));
    }
}

} // namespace dataflow::service

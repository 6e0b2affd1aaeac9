#include "service/probe_scheduler.hpp"

#include "analysis/probe_codec.hpp"
#include "cache/setup.hpp"
#include "upstream/sdmx_rest.hpp"

#include <spdlog/spdlog.h>

namespace dataflow::service {

namespace {
constexpr std::size_t k_max_queue = 1000;
}

ProbeScheduler::ProbeScheduler(cache::Cache& cache, upstream::Upstream& upstream)
    : m_cache(cache), m_upstream(upstream) {}

ProbeScheduler::~ProbeScheduler() {
    stop();
}

void ProbeScheduler::configure(const config::Config& c) {
    std::lock_guard lock(m_mutex);
    m_prober = std::make_shared<upstream::Prober>(m_upstream.client(), upstream::base_url(c),
                                                  upstream::probe_settings(c));
    m_policy = cache::probe_policy(c);
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

std::string ProbeScheduler::key_for(const std::string& id) const {
    return cache::make_key("probe", {m_prober->url_for(id)});
}

analysis::ProbeResults ProbeScheduler::lookup_or_schedule(const std::vector<std::string>& ids) {
    analysis::ProbeResults out;
    std::vector<std::string> missing;
    for (const auto& id : ids) {
        if (!upstream::is_flow_ref(id)) {
            analysis::ProbeResult p; // not an id a URL can carry: never probed
            p.dataflow_id = id;
            p.outcome = analysis::ProbeOutcome::client_error;
            p.error_message = "not an SDMX dataflow id; cannot be probed";
            out[id] = p;
            continue;
        }
        std::string key;
        {
            std::lock_guard lock(m_mutex);
            key = key_for(id);
        }
        auto l = m_cache.get(key);
        if (l.hit()) {
            if (auto p = analysis::probe_from_json(l.entry.value)) {
                out[id] = *p;
                if (l.state == cache::State::fresh) {
                    continue;
                }
            }
        }
        missing.push_back(id);
        if (out.count(id) == 0) {
            analysis::ProbeResult p;
            p.dataflow_id = id;
            p.pending = true;
            out[id] = p;
        }
    }
    if (!missing.empty()) {
        std::lock_guard lock(m_mutex);
        for (const auto& id : missing) {
            if (m_queued.count(id) == 0 && m_queue.size() < k_max_queue) {
                m_queue.push_back(id);
                m_queued.insert(id);
            }
        }
        m_worker.wake();
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
    {
        analysis::ProbeResult p;
        std::string key;
        cache::Policy policy;
        {
            std::lock_guard lock(m_mutex);
            key = key_for(id);
            policy = m_policy;
        }
        auto l = m_cache.get(key);
        if (l.state != cache::State::fresh) {
            std::shared_ptr<upstream::Prober> prober;
            {
                std::lock_guard lock(m_mutex);
                prober = m_prober;
            }
            p = prober->probe(id);
            if (analysis::worth_caching(p.outcome)) {
                cache::Entry e;
                e.value = analysis::probe_to_json(p);
                e.content_type = "application/json";
                e.negative = !p.is_successful();
                e.tags = {"probe"};
                auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
                               std::chrono::system_clock::now().time_since_epoch())
                               .count();
                e.stored_at_ms = now;
                auto ttl = e.negative ? policy.negative_ttl : policy.fresh_ttl;
                e.fresh_until_ms = now + ttl.count();
                e.stale_until_ms = now + std::max(ttl, policy.stale_ttl).count();
                m_cache.set(key, e);
            }
            spdlog::info("probe {}: {}", id, analysis::to_string(p.outcome));
        }
    }
}

} // namespace dataflow::service

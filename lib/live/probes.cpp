#include "live/probes.hpp"

#include "analysis/probe_codec.hpp"
#include "cache/setup.hpp"
#include "live/keys.hpp"

namespace dataflow::live {

cache::Policy probe_policy(const config::Config& config) {
    return cache::probe_policy(config);
}

cache::Computed probe_entry(const analysis::ProbeResult& result) {
    return cache::Computed{analysis::probe_to_json(result),
                           "application/json",
                           !result.is_successful(),
                           {"probe"},
                           analysis::worth_caching(result.outcome)};
}

CachedProber::CachedProber(upstream::Prober prober, cache::Cache* cache, const util::Clock& clock,
                           cache::Policy policy)
    : m_prober(std::move(prober)), m_cache(cache),
      m_computer(cache != nullptr ? std::make_unique<cache::CachedComputer>(*cache, clock)
                                  : nullptr),
      m_policy(policy) {}

std::string CachedProber::key(const std::string& id) const {
    return probe_key(m_prober.url_for(id));
}

std::optional<CachedProbe> CachedProber::lookup(const std::string& id) const {
    if (m_cache == nullptr) {
        return std::nullopt;
    }
    auto l = m_cache->get(key(id));
    if (!l.hit()) {
        return std::nullopt;
    }
    auto decoded = analysis::probe_from_json(l.entry.value);
    if (!decoded) {
        return std::nullopt; // not ours, or an older layout: measure again
    }
    return CachedProbe{std::move(*decoded), l.state == cache::State::fresh, l.age_seconds};
}

Measured CachedProber::measure(const std::string& id) {
    if (!m_computer) {
        return Measured{m_prober.probe(id), false};
    }
    analysis::ProbeResult measured;
    bool probed = false;
    auto fetched = m_computer->get(key(id), m_policy, [&] {
        measured = m_prober.probe(id);
        probed = true;
        return probe_entry(measured);
    });
    if (probed && !fetched.cache_hit) {
        return Measured{std::move(measured), false};
    }
    if (auto decoded = analysis::probe_from_json(fetched.entry.value)) {
        return Measured{std::move(*decoded), true};
    }
    return Measured{m_prober.probe(id), false}; // an unreadable entry: measure again
}

} // namespace dataflow::live

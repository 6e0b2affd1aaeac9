#include "cache/single_flight.hpp"

#include <spdlog/spdlog.h>

#include <thread>

namespace dataflow::cache {

CachedComputer::CachedComputer(Cache& cache, const util::Clock& clock)
    : m_cache(cache), m_clock(clock) {}

namespace {

Fetched from_lookup(const Lookup& l) {
    Fetched f;
    f.entry = l.entry;
    f.cache_hit = true;
    f.stale = l.state == State::stale;
    f.age_seconds = l.age_seconds;
    return f;
}

} // namespace

Fetched CachedComputer::compute_and_store(const std::string& key, const Policy& policy,
                                          const std::function<Computed()>& compute,
                                          const Lookup& previous) {
    auto token = m_cache.try_lock(key, policy.lock_ttl);
    if (!token) {
        // Another replica is refreshing: serve stale, or wait (bounded) for its result.
        if (previous.state == State::stale && !policy.refresh) {
            auto f = from_lookup(previous);
            f.stale_reason = "another replica is refreshing it";
            return f;
        }
        auto until = m_clock.steady() + policy.lock_wait;
        while (m_clock.steady() < until) {
            m_clock.sleep_until(m_clock.steady() + std::chrono::milliseconds(50));
            auto l = m_cache.get(key);
            if (l.state == State::fresh &&
                (!policy.refresh || l.entry.stored_at_ms > previous.entry.stored_at_ms)) {
                return from_lookup(l);
            }
            token = m_cache.try_lock(key, policy.lock_ttl);
            if (token) {
                // The holder may have stored its result and released the lock between our
                // look and our lock: use that result rather than fetch a second time.
                auto after = m_cache.get(key);
                if (after.state == State::fresh &&
                    after.entry.stored_at_ms > previous.entry.stored_at_ms) {
                    m_cache.unlock(key, *token);
                    return from_lookup(after);
                }
                break;
            }
        }
        // Waited long enough: compute ourselves (the lock holder may have died).
    }
    struct Unlock {
        Cache& cache;
        const std::string& key;
        const std::optional<std::string>& token;
        ~Unlock() {
            if (token) {
                cache.unlock(key, *token);
            }
        }
    } unlock{m_cache, key, token};
    Computed c;
    try {
        c = compute();
    } catch (const std::exception& e) {
        if (previous.hit()) {
            spdlog::warn("refreshing {} failed ({}); serving the copy from {:.0f} s ago", key,
                         e.what(), previous.age_seconds);
            auto f = from_lookup(previous);
            f.stale = true;
            f.stale_reason = std::string("the refresh failed: ") + e.what();
            return f;
        }
        throw;
    }
    Entry e;
    e.value = std::move(c.value);
    e.content_type = std::move(c.content_type);
    e.negative = c.negative;
    e.tags = std::move(c.tags);
    e.stored_at_ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(m_clock.system().time_since_epoch())
            .count();
    auto fresh = c.negative ? policy.negative_ttl : policy.fresh_ttl;
    auto stale = c.negative ? policy.negative_ttl : policy.stale_ttl;
    e.fresh_until_ms = e.stored_at_ms + fresh.count();
    e.stale_until_ms = e.stored_at_ms + std::max(stale, fresh).count();
    if (c.store) {
        m_cache.set(key, e);
    }
    Fetched f;
    f.entry = std::move(e);
    return f;
}

Fetched CachedComputer::get(const std::string& key, const Policy& policy,
                            const std::function<Computed()>& compute) {
    Lookup l;
    if (!policy.refresh) {
        l = m_cache.get(key);
        if (l.state == State::fresh) {
            return from_lookup(l);
        }
    }
    std::shared_future<Fetched> future;
    std::promise<Fetched> promise;
    bool owner = false;
    {
        std::lock_guard lock(m_mutex);
        auto it = m_in_flight.find(key);
        if (it == m_in_flight.end()) {
            future = promise.get_future().share();
            m_in_flight.emplace(key, future);
            owner = true;
        } else {
            future = it->second;
        }
    }
    if (!owner) {
        return future.get(); // one computation per key in this process
    }
    try {
        if (policy.refresh) {
            l = m_cache.get(key); // kept for stale-if-error
        }
        auto result = compute_and_store(key, policy, compute, l);
        promise.set_value(result);
    } catch (...) {
        promise.set_exception(std::current_exception());
    }
    {
        std::lock_guard lock(m_mutex);
        m_in_flight.erase(key);
    }
    return future.get();
}

} // namespace dataflow::cache

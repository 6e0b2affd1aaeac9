#include "cache/single_flight.hpp"

#include <spdlog/spdlog.h>

#include <stdexcept>
#include <thread>

namespace dataflow::cache {

CachedComputer::CachedComputer(Cache& cache, const util::Clock& clock)
    : m_cache(cache), m_clock(clock) {}

namespace {

Fetched from_lookup(const Lookup& l, bool value_loaded) {
    Fetched f;
    f.entry = l.entry;
    f.cache_hit = true;
    f.stale = l.state == State::stale;
    f.age_seconds = l.age_seconds;
    f.value_loaded = value_loaded;
    return f;
}

/// The times of an entry stored at `now` under `policy`.
void set_times(Entry& e, const Policy& policy, std::int64_t now) {
    auto fresh = e.negative ? policy.negative_ttl : policy.fresh_ttl;
    auto stale = e.negative ? policy.negative_ttl : policy.stale_ttl;
    e.stored_at_ms = now;
    e.fresh_until_ms = now + fresh.count();
    e.stale_until_ms = now + std::max(stale, fresh).count();
}

/// The same version of a value (whatever its times).
bool same_version(const Entry& a, const Entry& b) {
    return a.born_ms == b.born_ms && a.etag == b.etag && a.last_modified == b.last_modified &&
           a.content_type == b.content_type && a.negative == b.negative;
}

std::logic_error unchanged_without_entry(const std::string& key) {
    return std::logic_error("cache: the computation of " + key +
                            " reported its cached value unchanged, but nothing is cached");
}

} // namespace

std::int64_t CachedComputer::now_ms() const {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               m_clock.system().time_since_epoch())
        .count();
}

Lookup CachedComputer::lookup(const std::string& key, const Mode& mode) {
    return mode.headers_only ? m_cache.head(key) : m_cache.get(key);
}

std::optional<Fetched> CachedComputer::wait_for_other(const std::string& key, const Policy& policy,
                                                      const Mode& mode, const Lookup& previous,
                                                      std::optional<std::string>& token) {
    auto until = m_clock.steady() + policy.lock_wait;
    while (m_clock.steady() < until) {
        m_clock.sleep_until(m_clock.steady() + std::chrono::milliseconds(50));
        auto l = lookup(key, mode);
        if (l.state == State::fresh &&
            (!policy.refresh || l.entry.stored_at_ms > previous.entry.stored_at_ms)) {
            return from_lookup(l, !mode.headers_only);
        }
        token = m_cache.try_lock(key, policy.lock_ttl);
        if (token) {
            // The holder may have stored its result and released the lock between our look
            // and our lock: use that result rather than fetch a second time.
            auto after = lookup(key, mode);
            if (after.state == State::fresh &&
                after.entry.stored_at_ms > previous.entry.stored_at_ms) {
                m_cache.unlock(key, *token);
                token.reset();
                return from_lookup(after, !mode.headers_only);
            }
            return std::nullopt;
        }
    }
    return std::nullopt;
}

Fetched CachedComputer::compute_and_store(const std::string& key, const Policy& policy,
                                          const Mode& mode, const Lookup& previous) {
    auto token = m_cache.try_lock(key, policy.lock_ttl);
    if (!token) {
        // Another replica is refreshing: serve stale, or wait (bounded) for its result.
        if (previous.state == State::stale && !policy.refresh) {
            auto f = from_lookup(previous, !mode.headers_only);
            f.stale_reason = "another replica is refreshing it";
            return f;
        }
        if (auto theirs = wait_for_other(key, policy, mode, previous, token)) {
            return std::move(*theirs);
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
    try {
        return produce(key, policy, mode, previous);
    } catch (const std::exception& e) {
        if (previous.hit()) {
            spdlog::warn("refreshing {} failed ({}); serving the copy from {:.0f} s ago", key,
                         e.what(), previous.age_seconds);
            auto f = from_lookup(previous, !mode.headers_only);
            f.stale = true;
            f.stale_reason = std::string("the refresh failed: ") + e.what();
            return f;
        }
        throw;
    }
}

Fetched CachedComputer::produce(const std::string& key, const Policy& policy, const Mode& mode,
                                const Lookup& previous) {
    auto c = mode.compute(previous.hit() ? &previous.entry : nullptr);
    if (!c.unchanged) {
        return store(key, policy, std::move(c));
    }
    if (!previous.hit()) {
        throw unchanged_without_entry(key);
    }
    return confirm(key, policy, mode, previous);
}

Fetched CachedComputer::confirm(const std::string& key, const Policy& policy, const Mode& mode,
                                const Lookup& previous) {
    auto f = from_lookup(previous, !mode.headers_only);
    f.stale = false;
    f.age_seconds = 0.0;
    f.confirmed = true;
    auto& e = f.entry;
    set_times(e, policy, now_ms());
    if (m_cache.touch(key, e.stored_at_ms, e.fresh_until_ms, e.stale_until_ms)) {
        return f;
    }
    // Not touched (written by an older version, gone meanwhile, or the backend failed): store
    // the full entry, if its value is still the one confirmed.
    if (!f.value_loaded) {
        auto full = m_cache.get(key);
        if (full.hit() && same_version(full.entry, e)) {
            e.value = std::move(full.entry.value);
            f.value_loaded = true;
        }
    }
    if (f.value_loaded) {
        m_cache.set(key, e);
    }
    return f;
}

Fetched CachedComputer::store(const std::string& key, const Policy& policy, Computed c) {
    Fetched f;
    auto& e = f.entry;
    e.value = std::move(c.value);
    e.content_type = std::move(c.content_type);
    e.negative = c.negative;
    e.tags = std::move(c.tags);
    e.etag = std::move(c.etag);
    e.last_modified = std::move(c.last_modified);
    set_times(e, policy, now_ms());
    e.born_ms = e.stored_at_ms; // a new value
    if (c.store) {
        m_cache.set(key, e);
    }
    return f;
}

Fetched CachedComputer::fetch(const std::string& key, const Policy& policy, const Mode& mode) {
    Lookup l;
    if (!policy.refresh) {
        l = lookup(key, mode);
        if (l.state == State::fresh) {
            return from_lookup(l, !mode.headers_only);
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
            l = lookup(key, mode); // kept for stale-if-error
        }
        promise.set_value(compute_and_store(key, policy, mode, l));
    } catch (...) {
        promise.set_exception(std::current_exception());
    }
    {
        std::lock_guard lock(m_mutex);
        m_in_flight.erase(key);
    }
    return future.get();
}

Fetched CachedComputer::get(const std::string& key, const Policy& policy,
                            const std::function<Computed()>& compute) {
    Revalidate plain = [&compute](const Entry*) { return compute(); };
    auto f = fetch(key, policy, Mode{false, plain});
    if (!f.value_loaded) {
        // Shared with a revalidate() of the same key in flight, which read only the header.
        load_value(key, policy, plain, f);
    }
    return f;
}

Fetched CachedComputer::revalidate(const std::string& key, const Policy& policy,
                                   const Revalidate& compute,
                                   const std::function<bool(const Entry&)>& needs_value) {
    auto f = fetch(key, policy, Mode{true, compute});
    if (!f.value_loaded && needs_value(f.entry)) {
        load_value(key, policy, compute, f);
    }
    return f;
}

void CachedComputer::load_value(const std::string& key, const Policy& policy,
                                const Revalidate& compute, Fetched& f) {
    auto l = m_cache.get(key);
    if (l.hit()) {
        if (l.entry.stored_at_ms != f.entry.stored_at_ms) {
            // Written or touched by another since our look: serve it as it is now.
            f.stale = l.state == State::stale;
            f.age_seconds = l.age_seconds;
            if (!f.stale) {
                f.stale_reason.clear();
            }
        }
        f.entry = std::move(l.entry);
        f.value_loaded = true;
        return;
    }
    // The entry vanished (expired, evicted, flushed) between the look and the read: fetch the
    // value once more, as if nothing were cached.
    spdlog::info("cache: {} vanished before its value was read; fetching it again", key);
    auto c = compute(nullptr);
    if (c.unchanged) {
        throw unchanged_without_entry(key);
    }
    f = store(key, policy, std::move(c));
}

} // namespace dataflow::cache

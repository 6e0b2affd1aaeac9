#include "cache/memory_cache.hpp"

namespace dataflow::cache {

namespace {
constexpr std::size_t k_overhead = 96; ///< per entry: node, list link, map slot
}

MemoryCache::MemoryCache(std::uint64_t budget_bytes, const util::Clock& clock)
    : m_clock(clock), m_budget(budget_bytes) {
    m_stats.backend = "memory";
    m_stats.latency_counts.assign(std::size(k_latency_buckets_ms) + 1, 0);
}

std::int64_t MemoryCache::now_ms() const {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               m_clock.system().time_since_epoch())
        .count();
}

void MemoryCache::set_budget(std::uint64_t budget_bytes) {
    std::lock_guard lock(m_mutex);
    m_budget = budget_bytes;
    evict_locked();
}

void MemoryCache::erase_locked(std::unordered_map<std::string, Node>::iterator it) {
    for (const auto& tag : it->second.entry.tags) {
        auto t = m_tags.find(tag);
        if (t != m_tags.end()) {
            t->second.erase(it->first);
            if (t->second.empty()) {
                m_tags.erase(t);
            }
        }
    }
    m_bytes -= it->second.bytes;
    m_lru.erase(it->second.lru);
    m_entries.erase(it);
}

void MemoryCache::evict_locked() {
    while (m_bytes > m_budget && !m_lru.empty()) {
        erase_locked(m_entries.find(m_lru.back()));
        ++m_stats.evictions;
    }
}

MemoryCache::Node* MemoryCache::find_live_locked(const std::string& key, Lookup& l) {
    auto it = m_entries.find(key);
    if (it == m_entries.end()) {
        ++m_stats.misses;
        return nullptr;
    }
    auto now = now_ms();
    l.state = state_at(it->second.entry, now);
    if (l.state == State::miss) {
        erase_locked(it);
        ++m_stats.misses;
        return nullptr;
    }
    m_lru.splice(m_lru.begin(), m_lru, it->second.lru);
    const auto& e = it->second.entry;
    l.age_seconds = static_cast<double>(now - e.stored_at_ms) / 1000.0;
    ++m_stats.hits;
    m_stats.stale_hits += l.state == State::stale ? 1 : 0;
    m_stats.negative_hits += e.negative ? 1 : 0;
    return &it->second;
}

Lookup MemoryCache::get(const std::string& key) {
    std::lock_guard lock(m_mutex);
    Lookup l;
    if (auto* node = find_live_locked(key, l)) {
        l.entry = node->entry;
    }
    return l;
}

Lookup MemoryCache::head(const std::string& key) {
    std::lock_guard lock(m_mutex);
    Lookup l;
    if (auto* node = find_live_locked(key, l)) {
        l.entry = header_of(node->entry);
    }
    return l;
}

bool MemoryCache::touch(const std::string& key, std::int64_t stored_at_ms,
                        std::int64_t fresh_until_ms, std::int64_t stale_until_ms) {
    std::lock_guard lock(m_mutex);
    auto it = m_entries.find(key);
    if (it == m_entries.end()) {
        return false;
    }
    auto& e = it->second.entry;
    auto now = now_ms();
    if (state_at(e, now) == State::miss) {
        erase_locked(it);
        return false;
    }
    e.stored_at_ms = stored_at_ms;
    e.fresh_until_ms = fresh_until_ms;
    e.stale_until_ms = stale_until_ms;
    ++m_stats.touches;
    if (state_at(e, now) == State::miss) {
        erase_locked(it); // touched into the past: gone, as set() of it would leave nothing
    } else {
        m_lru.splice(m_lru.begin(), m_lru, it->second.lru);
    }
    return true;
}

void MemoryCache::set(const std::string& key, const Entry& entry) {
    std::lock_guard lock(m_mutex);
    if (auto it = m_entries.find(key); it != m_entries.end()) {
        erase_locked(it);
    }
    std::size_t bytes = key.size() + entry.value.size() + entry.content_type.size() + k_overhead;
    for (const auto& t : entry.tags) {
        bytes += t.size();
    }
    if (bytes > m_budget || state_at(entry, now_ms()) == State::miss) {
        return; // larger than the whole budget, or already expired
    }
    m_lru.push_front(key);
    m_entries.emplace(key, Node{entry, bytes, m_lru.begin()});
    m_bytes += bytes;
    for (const auto& t : entry.tags) {
        m_tags[t].insert(key);
    }
    ++m_stats.sets;
    evict_locked();
}

FlushResult MemoryCache::invalidate_tag(const std::string& tag, bool dry_run) {
    std::lock_guard lock(m_mutex);
    auto t = m_tags.find(tag);
    if (t == m_tags.end()) {
        return {};
    }
    FlushResult r{t->second.size(), true};
    if (!dry_run) {
        auto keys = t->second;
        for (const auto& k : keys) {
            if (auto it = m_entries.find(k); it != m_entries.end()) {
                erase_locked(it);
            }
        }
    }
    return r;
}

FlushResult MemoryCache::flush(bool dry_run) {
    std::lock_guard lock(m_mutex);
    FlushResult r{m_entries.size(), true};
    if (!dry_run) {
        m_entries.clear();
        m_lru.clear();
        m_tags.clear();
        m_bytes = 0;
        ++m_stats.generation;
    }
    return r;
}

Stats MemoryCache::stats() {
    std::lock_guard lock(m_mutex);
    Stats s = m_stats;
    s.bytes_used = m_bytes;
    s.entries = m_entries.size();
    return s;
}

std::optional<std::string> MemoryCache::try_lock(const std::string& key,
                                                 std::chrono::milliseconds ttl) {
    std::lock_guard lock(m_mutex);
    auto now = m_clock.steady();
    auto it = m_locks.find(key);
    if (it != m_locks.end() && it->second.second > now) {
        return std::nullopt;
    }
    auto token = std::to_string(++m_lock_counter);
    m_locks[key] = {token, now + ttl};
    return token;
}

void MemoryCache::unlock(const std::string& key, const std::string& token) {
    std::lock_guard lock(m_mutex);
    auto it = m_locks.find(key);
    if (it != m_locks.end() && it->second.first == token) {
        m_locks.erase(it);
    }
}

} // namespace dataflow::cache

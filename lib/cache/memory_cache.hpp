#pragma once
/// The in-memory backend: bounded by a byte budget, least recently used entries evicted first,
/// entries dropped after their hard TTL. Thread-safe. Also the near cache of the Redis backend.

#include "cache/cache.hpp"
#include "util/clock.hpp"

#include <list>
#include <map>
#include <mutex>
#include <set>
#include <unordered_map>

namespace dataflow::cache {

class MemoryCache final : public Cache {
public:
    MemoryCache(std::uint64_t budget_bytes, const util::Clock& clock);

    Lookup get(const std::string& key) override;
    void set(const std::string& key, const Entry& entry) override;
    FlushResult invalidate_tag(const std::string& tag, bool dry_run) override;
    FlushResult flush(bool dry_run) override;
    Stats stats() override;
    std::optional<std::string> try_lock(const std::string& key,
                                        std::chrono::milliseconds ttl) override;
    void unlock(const std::string& key, const std::string& token) override;
    /// O(1): the header is copied, never the value.
    Lookup head(const std::string& key) override;
    /// O(1): the times change in place (the byte size does not), and the entry becomes the
    /// most recently used.
    bool touch(const std::string& key, std::int64_t stored_at_ms, std::int64_t fresh_until_ms,
               std::int64_t stale_until_ms) override;

    void set_budget(std::uint64_t budget_bytes);

private:
    struct Node {
        Entry entry;
        std::size_t bytes = 0;
        std::list<std::string>::iterator lru;
    };
    std::int64_t now_ms() const;
    void erase_locked(std::unordered_map<std::string, Node>::iterator it);
    void evict_locked();
    /// The live node at `key` (counting a hit, made the most recent) or nullptr (a miss: an
    /// expired node is dropped); `l` gets the state and age.
    Node* find_live_locked(const std::string& key, Lookup& l);

    const util::Clock& m_clock;
    mutable std::mutex m_mutex;
    std::uint64_t m_budget;
    std::uint64_t m_bytes = 0;
    std::unordered_map<std::string, Node> m_entries;
    std::list<std::string> m_lru; ///< most recent first
    std::map<std::string, std::set<std::string>> m_tags;
    std::map<std::string, std::pair<std::string, std::chrono::steady_clock::time_point>> m_locks;
    std::uint64_t m_lock_counter = 0;
    Stats m_stats;
};

} // namespace dataflow::cache

#pragma once
/// The Redis backend: entries shared by every replica. Keys are
/// "<prefix>:v1:g<generation>:<kind>:<sha256>"; flushing bumps the generation (O(1), old entries
/// expire on their own); tags are sets that expire no earlier than their members; pattern work
/// uses SCAN in batches — never KEYS, FLUSHDB or FLUSHALL. Every key written has a TTL (the
/// namespace generation aside: one small counter); a tag set is pruned of members whose entry
/// has expired once it passes k_max_tag_members, and if that is not enough its surplus entries
/// are evicted, so no set (and no tag, such as "analysis") grows without bound. A circuit breaker
/// guards every call: when Redis is down reads are misses, writes are dropped, and the in-memory
/// near cache keeps serving what this process has seen.

#include "cache/memory_cache.hpp"
#include "redis/client.hpp"
#include "redis/script.hpp"
#include "resilience/circuit_breaker.hpp"

#include <atomic>
#include <memory>

namespace dataflow::cache {

/// Version of the key layout and entry encoding; bumping it orphans every old entry.
inline constexpr int k_schema_version = 1;
/// Most members a tag set holds. A write that takes a set past it prunes the set: members whose
/// entry has expired are removed, then, if more than k_tag_prune_to remain, random members are
/// evicted with their entries (an entry left out of its tag set could not be invalidated).
/// Pruning reads the whole set, so it runs at most once per k_max_tag_members - k_tag_prune_to
/// writes of the tag. 10,000 keeps a day of probes at ISTAT's budget (about 5 a minute).
inline constexpr std::size_t k_max_tag_members = 10'000;
inline constexpr std::size_t k_tag_prune_to = k_max_tag_members * 3 / 4;

class RedisCache final : public Cache {
public:
    RedisCache(redis::Settings settings, std::string prefix, std::uint64_t near_budget_bytes,
               resilience::BreakerSettings breaker, const util::Clock& clock);

    Lookup get(const std::string& key) override;
    void set(const std::string& key, const Entry& entry) override;
    FlushResult invalidate_tag(const std::string& tag, bool dry_run) override;
    FlushResult flush(bool dry_run) override;
    Stats stats() override;
    std::optional<std::string> try_lock(const std::string& key,
                                        std::chrono::milliseconds ttl) override;
    void unlock(const std::string& key, const std::string& token) override;
    /// GETRANGE of the first k_max_header_bytes: the value is neither read nor sent.
    Lookup head(const std::string& key) override;
    /// One script: if the stored entry starts with the fixed header prefix, SETRANGE of its
    /// times, PEXPIRE to the new hard TTL, and its tag sets' TTLs extended as set() does; the
    /// near cache is touched too. O(1) in the value's size.
    bool touch(const std::string& key, std::int64_t stored_at_ms, std::int64_t fresh_until_ms,
               std::int64_t stale_until_ms) override;

    /// PING through the breaker; false (with the reason) when Redis is unavailable.
    bool ping(std::string& error) override;
    redis::Client* redis_client() override { return m_redis.get(); }
    std::optional<resilience::BreakerSnapshot> breaker_snapshot() const override {
        return m_breaker.snapshot();
    }
    redis::Client& client() { return *m_redis; }
    resilience::CircuitBreaker& breaker() { return m_breaker; }
    /// "<prefix>:v1:" — every key of ours starts with it.
    const std::string& root() const { return m_root; }

private:
    /// Runs `f` through the breaker; false when Redis is unavailable (breaker open or error).
    template <typename F>
    bool guarded(F&& f);
    std::int64_t generation();
    /// get() (`header_only` false) or head().
    Lookup read(const std::string& key, bool header_only);
    std::string data_key(const std::string& key, std::int64_t gen) const;
    std::string tag_key(const std::string& tag, std::int64_t gen) const;
    std::int64_t now_ms() const;
    void record_latency(std::chrono::steady_clock::duration d);
    /// Removes the members of tag set `tag_key` whose entry has expired, then evicts random
    /// members with their entries down to k_tag_prune_to. Returns the entries evicted.
    std::size_t prune_tag(const std::string& tag_key);
    /// UNLINK of each key (pipelined, one command per key); returns how many existed.
    std::uint64_t unlink_each(const std::vector<std::string>& keys);
    /// Counts keys matching `pattern` with SCAN on every master, at most `max_batches` batches.
    FlushResult scan_count(const std::string& pattern, int max_batches);

    std::unique_ptr<redis::Client> m_redis;
    std::string m_root;
    MemoryCache m_near;
    resilience::CircuitBreaker m_breaker;
    redis::Script m_touch_script;
    const util::Clock& m_clock;
    std::mutex m_mutex;
    std::int64_t m_generation = -1;
    std::chrono::steady_clock::time_point m_generation_read{};
    Stats m_stats;
    std::string m_last_error;
};

} // namespace dataflow::cache

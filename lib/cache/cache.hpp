#pragma once
/// The cache the service and the CLI share: one interface, a bounded in-memory backend and a
/// Redis backend. Values are bytes with a content type; entries carry a soft TTL (fresh) and a
/// hard TTL (may be served stale while one caller refreshes, or when the refresh fails).
/// Negative entries ("no data", a probe that timed out) have their own, shorter lifetime.

#include "redis/client.hpp"
#include "resilience/circuit_breaker.hpp"

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace dataflow::cache {

struct Entry {
    std::string value;
    std::string content_type = "application/octet-stream";
    std::int64_t stored_at_ms = 0;   ///< Unix ms
    std::int64_t fresh_until_ms = 0; ///< soft TTL
    std::int64_t stale_until_ms = 0; ///< hard TTL: gone after it
    bool negative = false;
    std::vector<std::string> tags;
    std::string etag;          ///< HTTP validators of the upstream response the value came from
    std::string last_modified; ///< (empty when unknown)
    /// When this value was first stored (a download): a touch keeps it, a new value has
    /// stored_at_ms. It names the value's version across replicas.
    std::int64_t born_ms = 0;
};

enum class State { miss, fresh, stale };

/// The result of get(), or of head() with an empty entry.value.
struct Lookup {
    State state = State::miss;
    Entry entry;
    double age_seconds = 0.0;
    bool hit() const { return state != State::miss; }
};

/// Latency histogram bucket upper bounds in milliseconds (the last bucket is +Inf).
inline constexpr double k_latency_buckets_ms[] = {0.1, 0.25, 0.5, 1, 2.5, 5, 10, 25, 50, 100};

struct Stats {
    std::string backend;  ///< "memory" or "redis"
    std::string endpoint; ///< redis: host:port (never credentials)
    bool reachable = true;
    std::string error;     ///< why not reachable
    double latency_ms = 0; ///< a PING, redis only
    std::uint64_t hits = 0;
    std::uint64_t misses = 0;
    std::uint64_t stale_hits = 0;
    std::uint64_t negative_hits = 0;
    std::uint64_t sets = 0;
    std::uint64_t touches = 0; ///< times extended in place (touch), not counted as sets
    std::uint64_t evictions = 0;
    std::uint64_t errors = 0;
    std::uint64_t bytes_used = 0; ///< memory backend (or near cache)
    std::uint64_t entries = 0;    ///< memory backend: exact; redis: keys under our prefix
    bool entries_exact = true;    ///< false: a bounded SCAN stopped early (a lower bound)
    std::optional<std::uint64_t> redis_used_memory;
    std::int64_t generation = 0;
    std::vector<std::uint64_t> latency_counts; ///< per k_latency_buckets_ms, plus +Inf
    double latency_sum_ms = 0;
    std::string breaker_state; ///< redis: closed / open / half_open
    std::string redis_mode;    ///< standalone / cluster / sentinel
    std::vector<redis::NodeStatus> redis_nodes;
    redis::TopologyCounters redis_topology;
    double hit_ratio() const {
        auto total = hits + misses;
        return total == 0 ? 0.0 : static_cast<double>(hits) / static_cast<double>(total);
    }
};

struct FlushResult {
    std::uint64_t entries = 0; ///< affected (a lower bound when not exact)
    bool exact = true;
};

class Cache {
public:
    virtual ~Cache() = default;
    /// Never throws: a backend failure is a miss.
    virtual Lookup get(const std::string& key) = 0;
    /// Never throws: a backend failure drops the write. TTLs are in the entry.
    virtual void set(const std::string& key, const Entry& entry) = 0;
    /// Removes the entries carrying `tag`; returns how many.
    virtual FlushResult invalidate_tag(const std::string& tag, bool dry_run) = 0;
    /// Removes everything of ours (O(1): a new generation); `dry_run` only counts.
    virtual FlushResult flush(bool dry_run) = 0;
    virtual Stats stats() = 0;
    /// A short lock so one caller refreshes a key while others serve stale (across pods for
    /// Redis). Returns a token to unlock with, or nullopt when someone else holds it.
    virtual std::optional<std::string> try_lock(const std::string& key,
                                                std::chrono::milliseconds ttl) = 0;
    virtual void unlock(const std::string& key, const std::string& token) = 0;

    /// Like get(), but the entry's header only: entry.value is left empty (and not read, so a
    /// multi-megabyte value costs nothing). Never throws. The default reads the whole entry.
    virtual Lookup head(const std::string& key);
    /// Sets the times of the live entry at `key` in place (value, validators, born_ms and tags
    /// kept) and its hard expiry to `stale_until_ms`. False when there is no live entry, the
    /// backend failed or the entry cannot be touched (written by an older version): then set()
    /// the full entry instead. Never throws. The default is get() and set().
    virtual bool touch(const std::string& key, std::int64_t stored_at_ms,
                       std::int64_t fresh_until_ms, std::int64_t stale_until_ms);

    /// Whether the backend answers (Redis: a PING through its breaker); false with the reason
    /// when it does not. An in-process backend always does.
    virtual bool ping(std::string& /*error*/) { return true; }
    /// The Redis client behind a shared backend, for the others that use the same Redis (the
    /// cluster-wide rate limiter); nullptr for an in-process backend.
    virtual redis::Client* redis_client() { return nullptr; }
    /// The circuit breaker guarding a remote backend; nullopt when there is none.
    virtual std::optional<resilience::BreakerSnapshot> breaker_snapshot() const {
        return std::nullopt;
    }
};

/// A cache key stable across processes, hosts and versions: "<kind>:<sha256 of the parts>".
/// Parts are length-prefixed before hashing, so ("ab","c") and ("a","bc") differ.
std::string make_key(std::string_view kind, const std::vector<std::string_view>& parts);

/// Every encoded entry starts with k_header_prefix, then its three times in a fixed region
/// (k_fixed_length bytes at k_fixed_offset): `<stored>,"fresh":<fresh>,"stale":<stale>`, each
/// time right-aligned in k_time_width characters padded with spaces (JSON allows whitespace
/// before a value). A touch rewrites that region in place (Redis SETRANGE) without reading or
/// copying the value.
inline constexpr std::string_view k_header_prefix = R"({"v":1,"stored":)";
inline constexpr std::size_t k_time_width = 16;
inline constexpr std::size_t k_fixed_offset = k_header_prefix.size();
inline constexpr std::size_t k_fixed_length =
    3 * k_time_width + 2 * std::string_view(R"(,"fresh":)").size();
/// The longest header decode() accepts (the bytes before the newline).
inline constexpr std::size_t k_max_header_bytes = 64 * 1024;

/// The fixed region for these times (clamped to 0 ..< 10^16 ms, the width of a field).
std::string fixed_region(std::int64_t stored_at_ms, std::int64_t fresh_until_ms,
                         std::int64_t stale_until_ms);

/// Serialises an entry for storage: a JSON header line, then the raw value bytes.
std::string encode(const Entry& entry);
/// The inverse; nullopt for anything that is not an encoded entry (never executes anything).
/// Headers of older versions (any field order, no validators) still decode.
std::optional<Entry> decode(std::string_view bytes);
/// The header alone (entry.value empty) of `bytes`, which may stop anywhere after the header's
/// newline (a GETRANGE of the first bytes); nullopt as for decode().
std::optional<Entry> decode_header(std::string_view bytes);
/// A copy of `entry` without its value.
Entry header_of(const Entry& entry);

/// The state of an entry at `now_ms`.
State state_at(const Entry& entry, std::int64_t now_ms);

} // namespace dataflow::cache

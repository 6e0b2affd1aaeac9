#include "cache/redis_cache.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <charconv>
#include <random>

namespace dataflow::cache {

using Type = redis::Value::Type;

namespace {

/// KEYS[1] the entry; ARGV: the header prefix, the new fixed region, the new TTL (ms), (unused),
/// the last byte of a header (k_max_header_bytes). The stored string must hold the prefix and,
/// where the new region has anything but digits and spaces, the same bytes (so an entry of another
/// layout is never overwritten); then its times are rewritten in place. Returns 0 when not
/// touched, else {1, tags...}: the caller extends the tag sets (other keys, which in a cluster
/// live in other slots, so a script may not touch them).
constexpr const char* k_touch_script = R"lua(
local prefix, region, ttl = ARGV[1], ARGV[2], tonumber(ARGV[3])
local header = redis.call('GETRANGE', KEYS[1], 0, tonumber(ARGV[5]))
if #header <= #prefix + #region or string.sub(header, 1, #prefix) ~= prefix
    or string.sub(header, #prefix + #region + 1, #prefix + #region + 1) ~= ',' then
  return 0
end
for i = 1, #region do
  local want, have = string.byte(region, i), string.byte(header, #prefix + i)
  local want_time = want == 32 or (want >= 48 and want <= 57)
  local have_time = have == 32 or (have >= 48 and have <= 57)
  if want_time ~= have_time or (not want_time and want ~= have) then
    return 0
  end
end
local nl = string.find(header, '\n', 1, true)
if not nl then
  return 0
end
local ok, decoded = pcall(cjson.decode, string.sub(header, 1, nl - 1))
if not ok or type(decoded) ~= 'table' then
  return 0
end
redis.call('SETRANGE', KEYS[1], #prefix, region)
redis.call('PEXPIRE', KEYS[1], ttl)
local out = {1}
if type(decoded['tags']) == 'table' then
  for _, tag in ipairs(decoded['tags']) do
    if type(tag) == 'string' then
      out[#out + 1] = tag
    end
  end
end
return out
)lua";

/// The breaker's name (a metric label): the node, or the topology.
std::string breaker_name(const redis::Settings& s) {
    switch (s.mode) {
    case redis::Mode::cluster:
        return "redis/cluster";
    case redis::Mode::sentinel:
        return "redis/sentinel/" + s.sentinel_master;
    case redis::Mode::standalone:
        break;
    }
    return "redis/" + redis::Endpoint{s.host, s.port}.str();
}

} // namespace

RedisCache::RedisCache(redis::Settings settings, std::string prefix,
                       std::uint64_t near_budget_bytes, resilience::BreakerSettings breaker,
                       const util::Clock& clock)
    : m_redis(redis::make_client(settings, clock)),
      m_root(prefix + ":v" + std::to_string(k_schema_version) + ":"),
      m_near(near_budget_bytes, clock), m_breaker(breaker_name(settings), breaker, clock),
      m_touch_script(k_touch_script), m_clock(clock) {
    m_stats.backend = "redis";
    m_stats.endpoint = m_redis->endpoint();
    m_stats.latency_counts.assign(std::size(k_latency_buckets_ms) + 1, 0);
}

std::int64_t RedisCache::now_ms() const {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               m_clock.system().time_since_epoch())
        .count();
}

void RedisCache::record_latency(std::chrono::steady_clock::duration d) {
    double ms = std::chrono::duration<double, std::milli>(d).count();
    std::lock_guard lock(m_mutex);
    std::size_t i = 0;
    while (i < std::size(k_latency_buckets_ms) && ms > k_latency_buckets_ms[i]) {
        ++i;
    }
    ++m_stats.latency_counts[i];
    m_stats.latency_sum_ms += ms;
}

template <typename F>
bool RedisCache::guarded(F&& f) {
    auto permit = m_breaker.acquire();
    if (!permit.allowed) {
        return false;
    }
    auto start = std::chrono::steady_clock::now();
    try {
        f();
        auto took = std::chrono::steady_clock::now() - start;
        record_latency(took);
        m_breaker.record(permit, resilience::CallResult::success,
                         std::chrono::duration_cast<std::chrono::milliseconds>(took));
        return true;
    } catch (const std::exception& e) {
        // Any failure (a Redis error, an odd reply, memory) gives the permit back, so a
        // half-open trial can never stay in flight for good.
        m_breaker.record(permit, resilience::CallResult::failure,
                         std::chrono::duration_cast<std::chrono::milliseconds>(
                             std::chrono::steady_clock::now() - start));
        std::lock_guard lock(m_mutex);
        ++m_stats.errors;
        if (m_last_error != e.what()) {
            spdlog::warn("cache: {}; serving without Redis", e.what());
            m_last_error = e.what();
        }
        return false;
    }
}

std::int64_t RedisCache::generation() {
    {
        std::lock_guard lock(m_mutex);
        // Another replica's flush is seen within a second.
        if (m_generation >= 0 && m_clock.steady() - m_generation_read < std::chrono::seconds(1)) {
            return m_generation;
        }
    }
    auto v = m_redis->command({"GET", m_root + "generation"});
    std::int64_t gen = 0;
    if (v.type == Type::string) {
        std::from_chars(v.str.data(), v.str.data() + v.str.size(), gen);
    }
    std::lock_guard lock(m_mutex);
    m_generation = gen;
    m_generation_read = m_clock.steady();
    return gen;
}

std::string RedisCache::data_key(const std::string& key, std::int64_t gen) const {
    return m_root + "g" + std::to_string(gen) + ":" + key;
}

std::string RedisCache::tag_key(const std::string& tag, std::int64_t gen) const {
    return m_root + "g" + std::to_string(gen) + ":tag:" + tag;
}

Lookup RedisCache::read(const std::string& key, bool header_only) {
    Lookup l;
    bool ok = guarded([&] {
        auto k = data_key(key, generation());
        auto v = header_only
                     ? m_redis->command({"GETRANGE", k, "0", std::to_string(k_max_header_bytes)})
                     : m_redis->command({"GET", k});
        if (v.type != Type::string || v.str.empty()) {
            return; // GETRANGE of a missing key is ""
        }
        auto entry = header_only ? decode_header(v.str) : decode(v.str);
        if (!entry) {
            spdlog::debug("cache: ignoring an entry of another format at {}", key);
            return;
        }
        auto now = now_ms();
        l.state = state_at(*entry, now);
        if (l.state != State::miss) {
            l.age_seconds = static_cast<double>(now - entry->stored_at_ms) / 1000.0;
            l.entry = std::move(*entry);
        }
    });
    if (!ok) {
        // Redis is down: what this process has seen
        return header_only ? m_near.head(key) : m_near.get(key);
    }
    std::lock_guard lock(m_mutex);
    if (l.hit()) {
        ++m_stats.hits;
        m_stats.stale_hits += l.state == State::stale ? 1 : 0;
        m_stats.negative_hits += l.entry.negative ? 1 : 0;
    } else {
        ++m_stats.misses;
    }
    return l;
}

Lookup RedisCache::get(const std::string& key) {
    return read(key, false);
}

Lookup RedisCache::head(const std::string& key) {
    return read(key, true);
}

bool RedisCache::touch(const std::string& key, std::int64_t stored_at_ms,
                       std::int64_t fresh_until_ms, std::int64_t stale_until_ms) {
    m_near.touch(key, stored_at_ms, fresh_until_ms, stale_until_ms);
    // A time already past expires the entry at once (PEXPIRE of a negative TTL would too, but
    // must not reach the tag sets).
    auto ttl = std::max<std::int64_t>(stale_until_ms - now_ms(), 1);
    bool touched = false;
    bool ok = guarded([&] {
        auto gen = generation();
        auto v = m_touch_script.run(*m_redis, {data_key(key, gen)},
                                    {std::string(k_header_prefix),
                                     fixed_region(stored_at_ms, fresh_until_ms, stale_until_ms),
                                     std::to_string(ttl), tag_key("", gen),
                                     std::to_string(k_max_header_bytes)});
        if (v.is_error() || (v.type != Type::integer && v.type != Type::array)) {
            throw redis::Error("Redis " + m_redis->endpoint() + ": touch failed: " + v.str);
        }
        touched = v.type == Type::array && !v.elements.empty() && v.elements[0].integer == 1;
        if (touched && v.elements.size() > 1) {
            // Tag sets expire no earlier than their members (as set() does).
            std::vector<std::vector<std::string>> extend;
            for (std::size_t i = 1; i < v.elements.size(); ++i) {
                auto t = tag_key(v.elements[i].str, gen);
                extend.push_back({"PEXPIRE", t, std::to_string(ttl), "NX"});
                extend.push_back({"PEXPIRE", t, std::to_string(ttl), "GT"});
            }
            m_redis->pipeline(extend);
        }
    });
    if (ok && touched) {
        std::lock_guard lock(m_mutex);
        ++m_stats.touches;
    }
    return ok && touched;
}

void RedisCache::set(const std::string& key, const Entry& entry) {
    m_near.set(key, entry);
    auto ttl = entry.stale_until_ms - now_ms();
    if (ttl <= 0) {
        return;
    }
    guarded([&] {
        auto gen = generation();
        auto k = data_key(key, gen);
        std::vector<std::vector<std::string>> cmds{
            {"SET", k, encode(entry), "PX", std::to_string(ttl)}};
        std::vector<std::string> tags;
        for (const auto& tag : entry.tags) {
            auto t = tag_key(tag, gen);
            cmds.push_back({"SADD", t, k});
            // Tag sets expire no earlier than their members (the longest TTL of any member).
            cmds.push_back({"PEXPIRE", t, std::to_string(ttl), "NX"});
            cmds.push_back({"PEXPIRE", t, std::to_string(ttl), "GT"});
            cmds.push_back({"SCARD", t});
            tags.push_back(std::move(t));
        }
        auto replies = m_redis->pipeline(cmds);
        for (const auto& r : replies) {
            if (r.is_error()) {
                throw redis::Error("Redis " + m_redis->endpoint() + ": " + r.str);
            }
        }
        for (std::size_t i = 0; i < tags.size(); ++i) {
            const auto& size = replies[1 + 4 * i + 3];
            if (size.integer > static_cast<long long>(k_max_tag_members)) {
                prune_tag(tags[i]);
            }
        }
        std::lock_guard lock(m_mutex);
        ++m_stats.sets;
    });
}

std::size_t RedisCache::prune_tag(const std::string& t) {
    // Members whose entry has expired: EXISTS per member, pipelined per SSCAN batch.
    std::string cursor = "0";
    do {
        auto v = m_redis->command({"SSCAN", t, cursor, "COUNT", "1000"});
        if (v.type != Type::array || v.elements.size() != 2) {
            throw redis::Error("Redis " + m_redis->endpoint() + ": unexpected SSCAN reply");
        }
        cursor = v.elements[0].str;
        const auto& members = v.elements[1].elements;
        std::vector<std::vector<std::string>> exists;
        for (const auto& m : members) {
            exists.push_back({"EXISTS", m.str});
        }
        auto found = m_redis->pipeline(exists);
        std::vector<std::string> dead{"SREM", t};
        for (std::size_t i = 0; i < members.size() && i < found.size(); ++i) {
            if (found[i].type == Type::integer && found[i].integer == 0) {
                dead.push_back(members[i].str);
            }
        }
        if (dead.size() > 2) {
            m_redis->command(dead);
        }
    } while (cursor != "0");
    // Still too many live entries: evict random ones, entries and members together.
    auto size = m_redis->command({"SCARD", t}).integer;
    if (size <= static_cast<long long>(k_tag_prune_to)) {
        return 0;
    }
    auto popped = m_redis->command(
        {"SPOP", t, std::to_string(size - static_cast<long long>(k_tag_prune_to))});
    std::vector<std::string> evict;
    for (const auto& m : popped.elements) {
        evict.push_back(m.str);
    }
    unlink_each(evict);
    spdlog::info("cache: tag set {} holds over {} entries; evicted {}", t, k_max_tag_members,
                 evict.size());
    return evict.size();
}

FlushResult RedisCache::invalidate_tag(const std::string& tag, bool dry_run) {
    FlushResult result;
    bool ok = guarded([&] {
        auto t = tag_key(tag, generation());
        std::string cursor = "0";
        do {
            auto v = m_redis->command({"SSCAN", t, cursor, "COUNT", "500"});
            if (v.type != Type::array || v.elements.size() != 2) {
                throw redis::Error("Redis " + m_redis->endpoint() + ": unexpected SSCAN reply");
            }
            cursor = v.elements[0].str;
            std::vector<std::string> del;
            for (const auto& m : v.elements[1].elements) {
                del.push_back(m.str);
            }
            result.entries += dry_run ? del.size() : unlink_each(del);
        } while (cursor != "0");
        if (!dry_run) {
            m_redis->command({"UNLINK", t});
        }
    });
    if (!dry_run) {
        m_near.invalidate_tag(tag, false);
    }
    result.exact = ok;
    return result;
}

std::uint64_t RedisCache::unlink_each(const std::vector<std::string>& keys) {
    // One UNLINK per key, pipelined: in a cluster the keys live in different slots.
    std::vector<std::vector<std::string>> cmds;
    for (const auto& k : keys) {
        cmds.push_back({"UNLINK", k});
    }
    std::uint64_t removed = 0;
    for (const auto& r : cmds.empty() ? std::vector<redis::Value>{} : m_redis->pipeline(cmds)) {
        removed += r.type == Type::integer && r.integer > 0 ? 1 : 0;
    }
    return removed;
}

FlushResult RedisCache::scan_count(const std::string& pattern, int max_batches) {
    // Every master holds a share of the keys (one master unless in a cluster).
    FlushResult r;
    int batches = 0;
    for (const auto& master : m_redis->masters()) {
        std::string cursor = "0";
        do {
            auto v = master->command({"SCAN", cursor, "MATCH", pattern, "COUNT", "1000"});
            if (v.type != Type::array || v.elements.size() != 2) {
                throw redis::Error("Redis " + master->endpoint() + ": unexpected SCAN reply" +
                                   (v.is_error() ? ": " + v.str : std::string()));
            }
            cursor = v.elements[0].str;
            r.entries += v.elements[1].elements.size();
        } while (cursor != "0" && ++batches < max_batches);
        if (cursor != "0") {
            r.exact = false;
            break;
        }
    }
    return r;
}

FlushResult RedisCache::flush(bool dry_run) {
    FlushResult result;
    bool ok = guarded([&] {
        auto gen = generation();
        result = scan_count(m_root + "g" + std::to_string(gen) + ":*", 1000);
        if (!dry_run) {
            auto v = m_redis->command({"INCR", m_root + "generation"});
            std::lock_guard lock(m_mutex);
            m_generation = v.integer;
            m_generation_read = m_clock.steady();
        }
    });
    if (!ok) {
        throw redis::Error("Redis " + m_redis->endpoint() + " is unavailable; nothing was flushed");
    }
    if (!dry_run) {
        m_near.flush(false);
    }
    return result;
}

Stats RedisCache::stats() {
    Stats s;
    {
        std::lock_guard lock(m_mutex);
        s = m_stats;
    }
    auto near = m_near.stats();
    s.bytes_used = near.bytes_used;
    s.evictions = near.evictions;
    s.breaker_state = std::string(resilience::to_string(m_breaker.snapshot().state));
    try {
        auto start = std::chrono::steady_clock::now();
        auto pong = m_redis->command({"PING"});
        s.latency_ms =
            std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
                .count();
        if (pong.is_error()) {
            throw redis::Error(pong.str);
        }
        std::uint64_t total = 0;
        for (const auto& master : m_redis->masters()) {
            auto info = master->command({"INFO", "memory"});
            auto at = info.str.find("used_memory:");
            if (at != std::string::npos) {
                std::uint64_t used = 0;
                auto text = std::string_view(info.str).substr(at + 12);
                std::from_chars(text.data(), text.data() + text.size(), used);
                total += used;
                s.redis_used_memory = total; // summed over the masters
            }
        }
        s.generation = generation();
        // Our keys only (never DBSIZE of a database others may share): a bounded SCAN.
        auto count = scan_count(m_root + "*", 100);
        s.entries = count.entries;
        s.entries_exact = count.exact;
    } catch (const redis::Error& e) {
        s.reachable = false;
        s.error = e.what();
    }
    s.redis_mode = std::string(redis::to_string(m_redis->mode()));
    s.redis_nodes = m_redis->nodes();
    s.redis_topology = m_redis->counters();
    s.endpoint = m_redis->endpoint();
    return s;
}

bool RedisCache::ping(std::string& error) {
    bool ok = guarded([&] {
        auto v = m_redis->command({"PING"});
        if (v.is_error()) {
            throw redis::Error("Redis " + m_redis->endpoint() + ": " + v.str);
        }
    });
    if (!ok) {
        std::lock_guard lock(m_mutex);
        error = m_last_error.empty() ? "circuit breaker open" : m_last_error;
    }
    return ok;
}

std::optional<std::string> RedisCache::try_lock(const std::string& key,
                                                std::chrono::milliseconds ttl) {
    thread_local std::mt19937_64 rng{std::random_device{}()};
    auto token = fmt::format("{:016x}{:016x}", rng(), rng());
    std::optional<std::string> result;
    bool ok = guarded([&] {
        auto v = m_redis->command(
            {"SET", m_root + "lock:" + key, token, "NX", "PX", std::to_string(ttl.count())});
        if (v.type == Type::status && v.str == "OK") {
            result = token;
        }
    });
    if (!ok) {
        return m_near.try_lock(key, ttl); // without Redis, at least one refresh per process
    }
    return result;
}

void RedisCache::unlock(const std::string& key, const std::string& token) {
    static const std::string script =
        "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) "
        "else return 0 end";
    m_near.unlock(key, token);
    guarded([&] { m_redis->command({"EVAL", script, "1", m_root + "lock:" + key, token}); });
}

} // namespace dataflow::cache

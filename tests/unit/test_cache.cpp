// The cache interface, the memory backend (LRU by bytes, TTL on a manual clock, tags, flush),
// entry encoding, keys, and the cached computer (single-flight, stale-if-error).

#include "cache/memory_cache.hpp"
#include "cache/single_flight.hpp"
#include "util/clock.hpp"

#include <doctest/doctest.h>

#include <atomic>
#include <thread>

using namespace dataflow;
using namespace std::chrono_literals;
using cache::Entry;
using cache::MemoryCache;
using cache::State;

namespace {

std::int64_t ms_of(const util::Clock& c) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(c.system().time_since_epoch())
        .count();
}

Entry entry(const util::Clock& c, std::string value, std::chrono::milliseconds fresh,
            std::chrono::milliseconds stale, std::vector<std::string> tags = {}) {
    Entry e;
    e.value = std::move(value);
    e.stored_at_ms = ms_of(c);
    e.fresh_until_ms = e.stored_at_ms + fresh.count();
    e.stale_until_ms = e.stored_at_ms + stale.count();
    e.tags = std::move(tags);
    return e;
}

/// Another replica's refresh as seen from this one: it holds the lock; when this replica next
/// tries the lock, the holder has just stored its result and released it (the window between
/// a look at the cache and a try at the lock).
class HolderFinishesBeforeTryLock : public cache::Cache {
public:
    HolderFinishesBeforeTryLock(MemoryCache& inner, std::string holder_token, Entry result)
        : m_inner(inner), m_token(std::move(holder_token)), m_result(std::move(result)) {}
    cache::Lookup get(const std::string& key) override { return m_inner.get(key); }
    void set(const std::string& key, const Entry& e) override { m_inner.set(key, e); }
    cache::FlushResult invalidate_tag(const std::string& tag, bool dry_run) override {
        return m_inner.invalidate_tag(tag, dry_run);
    }
    cache::FlushResult flush(bool dry_run) override { return m_inner.flush(dry_run); }
    cache::Stats stats() override { return m_inner.stats(); }
    std::optional<std::string> try_lock(const std::string& key,
                                        std::chrono::milliseconds ttl) override {
        if (++m_tries == 2) { // the first try fails (held); before the second, the holder ends
            m_inner.set(key, m_result);
            m_inner.unlock(key, m_token);
        }
        return m_inner.try_lock(key, ttl);
    }
    void unlock(const std::string& key, const std::string& token) override {
        m_inner.unlock(key, token);
    }

private:
    MemoryCache& m_inner;
    std::string m_token;
    Entry m_result;
    int m_tries = 0;
};

} // namespace

TEST_SUITE("cache") {
    TEST_CASE("keys are stable content hashes, parts are unambiguous") {
        auto a = cache::make_key("analysis", {"catalogue bytes", "rules-hash", "limit=100"});
        CHECK(a == cache::make_key("analysis", {"catalogue bytes", "rules-hash", "limit=100"}));
        CHECK(a.rfind("analysis:", 0) == 0);
        CHECK(a.size() == 9 + 64);
        CHECK(cache::make_key("k", {"ab", "c"}) != cache::make_key("k", {"a", "bc"}));
        // A fixed value: the same in every process, on every host, in every version
        // (sha256 of "22:https://x/dataflow/IT1").
        CHECK(cache::make_key("catalog", {"https://x/dataflow/IT1"}) ==
              "catalog:3f2b26e64b0ff3adfd065d099cad8734806aa935ec89008ec4cdde4162e8f200");
    }

    TEST_CASE("entries encode as a JSON header and raw bytes, and nothing else decodes") {
        util::ManualClock clock;
        auto e = entry(clock, std::string("bin\0ary\n{", 9), 1s, 2s, {"catalog:IT1"});
        e.content_type = "application/xml";
        e.negative = true;
        auto bytes = cache::encode(e);
        CHECK(bytes.find('\n') != std::string::npos);
        auto back = cache::decode(bytes);
        REQUIRE(back);
        CHECK(back->value == e.value);
        CHECK(back->content_type == "application/xml");
        CHECK(back->negative);
        CHECK(back->tags == std::vector<std::string>{"catalog:IT1"});
        CHECK(back->fresh_until_ms == e.fresh_until_ms);
        CHECK_FALSE(cache::decode("\x80\x04\x95pickle"));
        CHECK_FALSE(cache::decode("{\"v\":2}\nx"));
        CHECK_FALSE(cache::decode("{\"v\":1,\"ct\":5}\nx"));
        CHECK_FALSE(cache::decode("no header"));
    }

    TEST_CASE("fresh, then stale, then gone, negative entries count apart") {
        util::ManualClock clock;
        MemoryCache c(1 << 20, clock);
        c.set("k", entry(clock, "v", 10s, 60s));
        CHECK(c.get("k").state == State::fresh);
        clock.advance(11s);
        auto stale = c.get("k");
        CHECK(stale.state == State::stale);
        CHECK(stale.age_seconds == doctest::Approx(11.0));
        clock.advance(50s);
        CHECK(c.get("k").state == State::miss);
        auto neg = entry(clock, "", 5s, 5s);
        neg.negative = true;
        c.set("n", neg);
        CHECK(c.get("n").entry.negative);
        auto s = c.stats();
        CHECK(s.hits == 3);
        CHECK(s.stale_hits == 1);
        CHECK(s.negative_hits == 1);
        CHECK(s.misses == 1);
        CHECK(s.entries == 1);
    }

    TEST_CASE("LRU eviction by bytes") {
        util::ManualClock clock;
        MemoryCache c(3200, clock); // three entries of ~1 KiB each
        std::string kb(900, 'x');
        c.set("a", entry(clock, kb, 1h, 1h));
        c.set("b", entry(clock, kb, 1h, 1h));
        c.set("c", entry(clock, kb, 1h, 1h));
        CHECK(c.get("a").hit()); // a is now the most recent
        c.set("d", entry(clock, kb, 1h, 1h));
        CHECK(c.get("a").hit());
        CHECK_FALSE(c.get("b").hit()); // the least recently used went
        CHECK(c.get("c").hit());
        CHECK(c.get("d").hit());
        auto s = c.stats();
        CHECK(s.evictions == 1);
        CHECK(s.bytes_used <= 3200);
        // An entry larger than the whole budget is not stored (and evicts nothing).
        c.set("huge", entry(clock, std::string(5000, 'y'), 1h, 1h));
        CHECK_FALSE(c.get("huge").hit());
        CHECK(c.get("d").hit());
        c.set_budget(1100);
        CHECK(c.stats().entries == 1);
    }

    TEST_CASE("tags and flush") {
        util::ManualClock clock;
        MemoryCache c(1 << 20, clock);
        c.set("a", entry(clock, "1", 1h, 1h, {"catalog:IT1", "rules:x"}));
        c.set("b", entry(clock, "2", 1h, 1h, {"catalog:IT1"}));
        c.set("c", entry(clock, "3", 1h, 1h, {"rules:y"}));
        CHECK(c.invalidate_tag("catalog:IT1", true).entries == 2);
        CHECK(c.get("a").hit());
        CHECK(c.invalidate_tag("catalog:IT1", false).entries == 2);
        CHECK_FALSE(c.get("a").hit());
        CHECK_FALSE(c.get("b").hit());
        CHECK(c.get("c").hit());
        CHECK(c.invalidate_tag("rules:x", false).entries == 0);
        CHECK(c.flush(true).entries == 1);
        CHECK(c.flush(false).entries == 1);
        CHECK_FALSE(c.get("c").hit());
    }

    TEST_CASE("locks: one holder at a time, released by its owner, expire") {
        util::ManualClock clock;
        MemoryCache c(1 << 20, clock);
        auto t = c.try_lock("k", 1s);
        REQUIRE(t);
        CHECK_FALSE(c.try_lock("k", 1s));
        c.unlock("k", "not-the-token");
        CHECK_FALSE(c.try_lock("k", 1s));
        c.unlock("k", *t);
        auto t2 = c.try_lock("k", 1s);
        REQUIRE(t2);
        clock.advance(2s);
        CHECK(c.try_lock("k", 1s)); // the holder died: the lock expired
    }
}

TEST_SUITE("cached computer") {
    TEST_CASE("computes once, then serves from the cache") {
        util::ManualClock clock;
        MemoryCache c(1 << 20, clock);
        cache::CachedComputer cc(c, clock);
        int calls = 0;
        auto compute = [&] {
            ++calls;
            return cache::Computed{"value", "text/plain", false, {}};
        };
        cache::Policy p;
        p.fresh_ttl = 10s;
        p.stale_ttl = 1h;
        auto first = cc.get("k", p, compute);
        CHECK_FALSE(first.cache_hit);
        auto second = cc.get("k", p, compute);
        CHECK(second.cache_hit);
        CHECK(second.entry.value == "value");
        CHECK(calls == 1);
        // Stale: refreshed (we hold the lock).
        clock.advance(11s);
        auto third = cc.get("k", p, compute);
        CHECK_FALSE(third.cache_hit);
        CHECK(calls == 2);
        // --refresh ignores a fresh entry.
        p.refresh = true;
        cc.get("k", p, compute);
        CHECK(calls == 3);
    }

    TEST_CASE("a forced refresh that waited on another replica's lock reuses its result") {
        // The TSan flake of cluster/one refresh at a time: the holder stored and unlocked between
        // this replica's look and its lock, and this replica fetched a second time.
        util::ManualClock clock;
        MemoryCache inner(1 << 20, clock);
        inner.set("k", entry(clock, "old", 10s, 1h));
        auto holder = inner.try_lock("k", 30s);
        REQUIRE(holder);
        clock.advance(1s);
        HolderFinishesBeforeTryLock c(inner, *holder, entry(clock, "new", 10s, 1h));
        cache::CachedComputer cc(c, clock);
        int calls = 0;
        cache::Policy p;
        p.fresh_ttl = 10s;
        p.stale_ttl = 1h;
        p.lock_wait = 5s;
        p.refresh = true;
        auto f = cc.get("k", p, [&] {
            ++calls;
            return cache::Computed{"mine", "text/plain", false, {}};
        });
        CHECK(calls == 0);
        CHECK(f.entry.value == "new");
        CHECK(f.cache_hit);
        CHECK(inner.try_lock("k", 1s)); // and the lock it took was given back
    }

    TEST_CASE("a failed refresh serves the stale copy, no copy, the error") {
        util::ManualClock clock;
        MemoryCache c(1 << 20, clock);
        cache::CachedComputer cc(c, clock);
        cache::Policy p;
        p.fresh_ttl = 10s;
        p.stale_ttl = 1h;
        cc.get("k", p, [] { return cache::Computed{"old", "text/plain", false, {}}; });
        clock.advance(20s);
        auto f =
            cc.get("k", p, []() -> cache::Computed { throw std::runtime_error("upstream down"); });
        CHECK(f.cache_hit);
        CHECK(f.stale);
        CHECK(f.entry.value == "old");
        CHECK(f.stale_reason.find("upstream down") != std::string::npos);
        CHECK_THROWS_AS(
            cc.get("other", p, []() -> cache::Computed { throw std::runtime_error("down"); }),
            std::runtime_error);
    }

    TEST_CASE("negative results live for negative_ttl") {
        util::ManualClock clock;
        MemoryCache c(1 << 20, clock);
        cache::CachedComputer cc(c, clock);
        cache::Policy p;
        p.negative_ttl = 5s;
        int calls = 0;
        auto compute = [&] {
            ++calls;
            return cache::Computed{"", "text/plain", true, {}};
        };
        cc.get("k", p, compute);
        CHECK(cc.get("k", p, compute).entry.negative);
        clock.advance(6s);
        cc.get("k", p, compute);
        CHECK(calls == 2);
    }

    TEST_CASE("single-flight: concurrent callers share one computation") {
        MemoryCache c(1 << 20, util::SystemClock::instance());
        cache::CachedComputer cc(c, util::SystemClock::instance());
        std::atomic<int> calls{0};
        std::atomic<bool> release{false};
        auto compute = [&] {
            ++calls;
            while (!release) {
                std::this_thread::sleep_for(1ms);
            }
            return cache::Computed{"v", "text/plain", false, {}};
        };
        std::vector<std::thread> threads;
        std::atomic<int> values{0};
        for (int i = 0; i < 8; ++i) {
            threads.emplace_back([&] {
                if (cc.get("k", cache::Policy{}, compute).entry.value == "v") {
                    ++values;
                }
            });
        }
        std::this_thread::sleep_for(50ms);
        release = true;
        for (auto& t : threads) {
            t.join();
        }
        CHECK(calls == 1);
        CHECK(values == 8);
    }
}

// The Redis backend, pool, locks and the cluster-wide rate limiter against a real redis-server
// on a random loopback port.

#include "cache/redis_cache.hpp"
#include "cache/single_flight.hpp"
#include "redis/pool.hpp"
#include "resilience/redis_rate_limiter.hpp"
#include "support/redis_server.hpp"
#include "util/clock.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <thread>

using namespace dataflow;
using namespace std::chrono_literals;
using cache::State;
using redis::Value;

namespace {

redis::Settings settings_for(const test::RedisServer& server) {
    redis::Settings s;
    s.host = "127.0.0.1";
    s.port = server.port();
    s.pool_size = 4;
    return s;
}

cache::Entry entry(std::string value, std::chrono::milliseconds fresh,
                   std::chrono::milliseconds stale, std::vector<std::string> tags = {}) {
    cache::Entry e;
    e.value = std::move(value);
    e.stored_at_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                         std::chrono::system_clock::now().time_since_epoch())
                         .count();
    e.fresh_until_ms = e.stored_at_ms + fresh.count();
    e.stale_until_ms = e.stored_at_ms + stale.count();
    e.tags = std::move(tags);
    return e;
}

resilience::BreakerSettings quick_breaker() {
    resilience::BreakerSettings b;
    b.failure_threshold = 3;
    b.open_duration = 200ms;
    return b;
}

template <typename P>
bool eventually(P predicate, std::chrono::milliseconds limit = 10s) {
    auto deadline = std::chrono::steady_clock::now() + limit;
    while (!predicate()) {
        if (std::chrono::steady_clock::now() > deadline) {
            return false;
        }
        std::this_thread::sleep_for(20ms);
    }
    return true;
}

} // namespace

TEST_SUITE("redis cache") {
    TEST_CASE("set, get, fresh, stale, negative, keys under the prefix with a TTL") {
        test::RedisServer server;
        cache::RedisCache c(settings_for(server), "df", 1 << 20, quick_breaker(),
                            util::SystemClock::instance());
        c.set("analysis:abc", entry("payload", 1h, 2h, {"catalog:IT1"}));
        auto l = c.get("analysis:abc");
        CHECK(l.state == State::fresh);
        CHECK(l.entry.value == "payload");
        c.set("stale:x", entry("old", -1s, 1h));
        CHECK(c.get("stale:x").state == State::stale);
        auto neg = entry("", 1h, 1h);
        neg.negative = true;
        c.set("probe:y", neg);
        CHECK(c.get("probe:y").entry.negative);
        CHECK(c.get("nothing:here").state == State::miss);

        auto ttl = c.pool().command({"PTTL", "df:v1:g0:analysis:abc"});
        CHECK(ttl.integer > 3'500'000); // the hard TTL: 2 h
        auto tag_ttl = c.pool().command({"PTTL", "df:v1:g0:tag:catalog:IT1"});
        CHECK(tag_ttl.integer >= ttl.integer - 1000); // tag sets outlive their members
        auto s = c.stats();
        CHECK(s.reachable);
        CHECK(s.hits == 3);
        CHECK(s.misses == 1);
        CHECK(s.stale_hits == 1);
        CHECK(s.negative_hits == 1);
        CHECK(s.entries == 4); // three entries and one tag set
        CHECK(s.redis_used_memory.value_or(0) > 0);
        CHECK(s.breaker_state == "closed");
    }

    TEST_CASE("two instances share entries (same key in every process)") {
        test::RedisServer server;
        cache::RedisCache a(settings_for(server), "df", 1 << 20, quick_breaker(),
                            util::SystemClock::instance());
        cache::RedisCache b(settings_for(server), "df", 1 << 20, quick_breaker(),
                            util::SystemClock::instance());
        auto key = cache::make_key("catalog", {"https://esploradati.istat.it/SDMXWS/rest", "IT1"});
        a.set(key, entry("catalogue", 1h, 2h));
        CHECK(b.get(key).entry.value == "catalogue");
        // A garbage value (e.g. a pickle written by someone else) is a miss, never executed.
        a.pool().command({"SET", "df:v1:g0:" + key, "\x80\x04\x95pickle"});
        CHECK(b.get(key).state == State::miss);
    }

    TEST_CASE("tags, generation flush, and foreign keys left alone") {
        test::RedisServer server;
        cache::RedisCache c(settings_for(server), "df", 1 << 20, quick_breaker(),
                            util::SystemClock::instance());
        // Another replica, on a clock the test moves: it reads the generation before the flush
        // and keeps it for a second.
        util::ManualClock other_clock;
        cache::RedisCache other(settings_for(server), "df", 1 << 20, quick_breaker(), other_clock);
        c.pool().command({"SET", "other-tenant:key", "keep me"});
        c.pool().command({"SET", "dfx:v1:g0:k", "keep me too"});
        for (int i = 0; i < 3000; ++i) {
            c.set("a:" + std::to_string(i), entry("v", 1h, 1h, {i % 2 ? "odd" : "even"}));
        }
        auto stats = c.stats();
        CHECK(stats.entries == 3002); // 3000 entries + 2 tag sets, counted by SCAN
        CHECK(stats.entries_exact);
        auto dry = c.invalidate_tag("odd", true);
        CHECK(dry.entries == 1500);
        CHECK(c.get("a:1").hit());
        CHECK(c.invalidate_tag("odd", false).entries == 1500);
        CHECK_FALSE(c.get("a:1").hit());
        CHECK(c.get("a:2").hit());
        CHECK(other.get("a:2").hit()); // reads and keeps generation 0
        auto flush = c.flush(false);
        CHECK(flush.entries == 1501); // 1500 entries + the "even" tag set
        CHECK_FALSE(c.get("a:2").hit());
        CHECK(c.stats().generation == 1);
        // The other replica still uses the generation it read less than a second ago...
        other_clock.advance(999ms);
        CHECK(other.get("a:2").hit());
        other.set("stale-gen", entry("old", 1h, 1h));
        CHECK_FALSE(c.get("stale-gen").hit());
        // ... and sees the flush once that second is over: old entries gone, new ones shared.
        other_clock.advance(2ms);
        CHECK_FALSE(other.get("a:2").hit());
        other.set("b", entry("new", 1h, 1h));
        CHECK(c.get("b").hit());
        CHECK(c.get("b").entry.value == "new");
        CHECK(c.pool().command({"GET", "other-tenant:key"}).str == "keep me");
        CHECK(c.pool().command({"GET", "dfx:v1:g0:k"}).str == "keep me too");
    }

    TEST_CASE("the pool under concurrent threads") {
        test::RedisServer server;
        cache::RedisCache c(settings_for(server), "df", 1 << 20, quick_breaker(),
                            util::SystemClock::instance());
        std::atomic<int> ok{0};
        std::vector<std::thread> threads;
        for (int t = 0; t < 8; ++t) {
            threads.emplace_back([&, t] {
                for (int i = 0; i < 200; ++i) {
                    std::string k = "t";
                    k += std::to_string(t);
                    k += ':';
                    k += std::to_string(i);
                    c.set(k, entry(k, 1h, 1h));
                    if (c.get(k).entry.value == k) {
                        ++ok;
                    }
                }
            });
        }
        for (auto& t : threads) {
            t.join();
        }
        CHECK(ok == 1600);
        CHECK(c.stats().errors == 0);
    }

    TEST_CASE("Redis killed and restarted: misses, the breaker opens, then all resumes") {
        test::RedisServer server;
        cache::RedisCache c(settings_for(server), "df", 1 << 20, quick_breaker(),
                            util::SystemClock::instance());
        c.set("k", entry("v", 1h, 1h));
        CHECK(c.get("k").hit());
        server.stop();
        // Reads come from the near cache; writes are dropped; nothing throws.
        CHECK(c.get("k").entry.value == "v");
        CHECK_FALSE(c.get("never-seen").hit());
        c.set("while-down", entry("x", 1h, 1h));
        for (int i = 0; i < 5; ++i) {
            c.get("never-seen");
        }
        CHECK(c.breaker().snapshot().state != resilience::BreakerState::closed);
        auto s = c.stats();
        CHECK_FALSE(s.reachable);
        CHECK(s.errors > 0);
        server.start();
        CHECK(eventually([&] {
            c.set("after", entry("y", 1h, 1h));
            try {
                return c.pool().command({"GET", "df:v1:g0:after"}).type == Value::Type::string;
            } catch (const redis::Error&) {
                return false;
            }
        }));
        CHECK(c.breaker().snapshot().state == resilience::BreakerState::closed);
        CHECK(c.stats().reachable);
        CHECK(c.pool().reconnects() >= 1);
    }

    TEST_CASE("a wrong password is a clear error that never shows the password") {
        test::RedisServer server("s3cret-pass");
        auto s = settings_for(server);
        s.password = "WRONG-canary-password";
        cache::RedisCache c(s, "df", 1 << 20, quick_breaker(), util::SystemClock::instance());
        auto stats = c.stats();
        CHECK_FALSE(stats.reachable);
        CHECK(stats.error.find("AUTH (redis.password) refused") != std::string::npos);
        CHECK(stats.error.find("WRONG-canary") == std::string::npos);
        CHECK(stats.error.find("s3cret") == std::string::npos);
        s.password = "s3cret-pass";
        cache::RedisCache good(s, "df", 1 << 20, quick_breaker(), util::SystemClock::instance());
        good.set("k", entry("v", 1h, 1h));
        CHECK(good.get("k").hit());
        CHECK(good.stats().reachable);
        // db selection
        auto s2 = settings_for(server);
        s2.password = "s3cret-pass";
        s2.db = 3;
        cache::RedisCache db3(s2, "df", 1 << 20, quick_breaker(), util::SystemClock::instance());
        CHECK_FALSE(db3.get("k").hit());
    }

    TEST_CASE("single-flight across two instances: one computes, the other waits for it") {
        test::RedisServer server;
        cache::RedisCache a(settings_for(server), "df", 1 << 20, quick_breaker(),
                            util::SystemClock::instance());
        cache::RedisCache b(settings_for(server), "df", 1 << 20, quick_breaker(),
                            util::SystemClock::instance());
        cache::CachedComputer ca(a, util::SystemClock::instance());
        cache::CachedComputer cb(b, util::SystemClock::instance());
        std::atomic<int> calls{0};
        std::atomic<bool> computing{false};
        std::atomic<bool> release{false};
        auto slow = [&] {
            ++calls;
            computing = true;
            // Holds the lock until the other instance is known to be waiting (bounded).
            auto give_up = std::chrono::steady_clock::now() + 20s;
            while (!release && std::chrono::steady_clock::now() < give_up) {
                std::this_thread::sleep_for(5ms);
            }
            return cache::Computed{"computed once", "text/plain", false, {}};
        };
        cache::Policy p;
        cache::Fetched fa, fb;
        std::thread ta([&] { fa = ca.get("shared", p, slow); });
        // b asks only once a holds the lock and computes, and a finishes only once b has
        // missed: ordered by events, not by a head start.
        REQUIRE(eventually([&] { return computing.load(); }));
        auto misses_before = b.stats().misses;
        std::thread tb([&] { fb = cb.get("shared", p, slow); });
        bool b_waiting = eventually([&] { return b.stats().misses > misses_before; });
        release = true;
        ta.join();
        tb.join();
        CHECK(b_waiting);
        CHECK(calls == 1);
        CHECK(fa.entry.value == "computed once");
        CHECK(fb.entry.value == "computed once");
        CHECK(fb.cache_hit);
        // The lock is released by its owner only.
        auto token = a.try_lock("x", 10s);
        REQUIRE(token);
        b.unlock("x", "someone-else");
        CHECK_FALSE(b.try_lock("x", 10s));
        a.unlock("x", *token);
        CHECK(b.try_lock("x", 10s));
    }
}

TEST_SUITE("cluster rate limiter") {
    TEST_CASE("three limiters on one Redis never exceed the shared budget") {
        test::RedisServer server;
        redis::Pool pool(settings_for(server), util::SystemClock::instance());
        std::vector<std::unique_ptr<resilience::RedisRateLimiter>> limiters;
        for (int i = 0; i < 3; ++i) {
            limiters.push_back(std::make_unique<resilience::RedisRateLimiter>(
                pool, "df", resilience::RateLimit{600, 1},
                std::map<std::string, resilience::RateLimit>{}, 3, util::SystemClock::instance()));
        }
        // Each replica wants more than the budget: 600/min = one per 100 ms for all together.
        std::mutex m;
        std::vector<std::chrono::steady_clock::time_point> sent;
        std::vector<std::thread> threads;
        for (int i = 0; i < 3; ++i) {
            threads.emplace_back([&, i] {
                for (int n = 0; n < 6; ++n) {
                    auto r = limiters[i]->reserve("esploradati.istat.it", 5s);
                    REQUIRE(r.granted);
                    {
                        // The slot the budget granted: what the limiter decides, not when this
                        // thread happened to be woken.
                        std::lock_guard lock(m);
                        sent.push_back(r.send_at);
                    }
                    std::this_thread::sleep_until(r.send_at);
                }
            });
        }
        for (auto& t : threads) {
            t.join();
        }
        std::sort(sent.begin(), sent.end());
        REQUIRE(sent.size() == 18);
        auto span = sent.back() - sent.front();
        // Slots are scheduled on Redis' clock and handed back as "wait this long", so each is
        // off by that reply's trip: a few ms, more under a sanitizer. The budget is what
        // counts: 18 slots at 10/s with a burst of 1 span 1.7 s, no two slots coincide, and no
        // second holds more than 10 + 1.
        CHECK(span >= 1600ms);
        for (std::size_t i = 1; i < sent.size(); ++i) {
            CHECK(sent[i] - sent[i - 1] >= 50ms);
        }
        for (std::size_t i = 0; i < sent.size(); ++i) {
            auto in_window = std::count_if(sent.begin() + static_cast<std::ptrdiff_t>(i),
                                           sent.end(), [&](auto t) { return t - sent[i] < 1s; });
            CHECK(in_window <= 11);
        }
        for (const auto& l : limiters) {
            CHECK_FALSE(l->degraded());
        }
    }

    TEST_CASE("a 429 seen by one replica stops all of them, without Redis, a local share") {
        test::RedisServer server;
        redis::Pool pool(settings_for(server), util::SystemClock::instance());
        resilience::RedisRateLimiter a(pool, "df", {600, 5}, {}, 2, util::SystemClock::instance());
        resilience::RedisRateLimiter b(pool, "df", {600, 5}, {}, 2, util::SystemClock::instance());
        CHECK(a.reserve("h", 0ms).granted);
        a.back_off("h", 60s);
        auto r = b.reserve("h", 1s);
        CHECK_FALSE(r.granted);
        CHECK(r.backing_off);
        CHECK(r.retry_at - std::chrono::steady_clock::now() > 55s);
        // Redis gone: each falls back to its share (600/2 per minute, burst 5).
        server.stop();
        auto local = b.reserve("other-host", 0ms);
        CHECK(local.granted);
        CHECK(b.degraded());
        // The script is reloaded after a restart (SCRIPT LOAD cache lost).
        server.start();
        CHECK(eventually([&] { return b.reserve("h2", 0ms).granted && !b.degraded(); }));
    }
}

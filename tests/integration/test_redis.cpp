// The Redis backend, pool, locks and the cluster-wide rate limiter against a real redis-server
// on a random loopback port.

#include "analysis/render.hpp"
#include "analysis/report.hpp"
#include "cache/redis_cache.hpp"
#include "cache/single_flight.hpp"
#include "config/config.hpp"
#include "live/keys.hpp"
#include "live/pipeline.hpp"
#include "redis/pool.hpp"
#include "resilience/redis_rate_limiter.hpp"
#include "sdmx/reader.hpp"
#include "support/redis_server.hpp"
#include "support/support.hpp"
#include "util/clock.hpp"
#include "util/json_writer.hpp"

#include <doctest/doctest.h>
#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <charconv>
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

/// Every key under `pattern` (SCAN, never KEYS).
std::vector<std::string> scan_keys(redis::Client& pool, const std::string& pattern) {
    std::vector<std::string> out;
    std::string cursor = "0";
    do {
        auto v = pool.command({"SCAN", cursor, "MATCH", pattern, "COUNT", "1000"});
        REQUIRE(v.elements.size() == 2);
        cursor = v.elements[0].str;
        for (const auto& k : v.elements[1].elements) {
            out.push_back(k.str);
        }
    } while (cursor != "0");
    return out;
}

std::int64_t used_memory(redis::Client& pool) {
    auto info = pool.command({"INFO", "memory"}).str;
    auto at = info.find("used_memory:");
    REQUIRE(at != std::string::npos);
    std::int64_t used = 0;
    std::from_chars(info.data() + at + 12, info.data() + info.size(), used);
    return used;
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

        auto ttl = c.client().command({"PTTL", "df:v1:g0:analysis:abc"});
        CHECK(ttl.integer > 3'500'000); // the hard TTL: 2 h
        auto tag_ttl = c.client().command({"PTTL", "df:v1:g0:tag:catalog:IT1"});
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

    TEST_CASE("every key under the prefix has a TTL and tag sets stay within their bound") {
        test::RedisServer server;
        cache::RedisCache c(settings_for(server), "df", 1 << 20, quick_breaker(),
                            util::SystemClock::instance());
        auto& pool = c.client();
        auto tag_set = [](const std::string& tag) { return "df:v1:g0:tag:" + tag; };
        // Short-lived entries fill most of a tag set, then expire; one long-lived member keeps
        // the set (and its dead members) alive.
        c.set("keep", entry("v", 1h, 2h, {"analysis"}));
        const std::size_t short_lived = cache::k_max_tag_members * 6 / 10;
        for (std::size_t i = 0; i < short_lived; ++i) {
            c.set("s:" + std::to_string(i), entry("v", 200ms, 200ms, {"analysis"}));
        }
        REQUIRE(eventually(
            [&] { return !c.get("s:0").hit() && scan_keys(pool, "df:v1:g0:s:*").empty(); }));
        // Dead members stay until the set passes its bound.
        CHECK(pool.command({"SCARD", tag_set("analysis")}).integer ==
              static_cast<long long>(short_lived + 1));
        // Live entries take the set past the bound: the dead members go, every live one stays.
        const std::size_t live = cache::k_max_tag_members * 6 / 10;
        for (std::size_t i = 0; i < live; ++i) {
            c.set("a:" + std::to_string(i), entry("v", 1h, 2h, {"analysis", "rules:x"}));
        }
        auto size = pool.command({"SCARD", tag_set("analysis")}).integer;
        CHECK(size == static_cast<long long>(live + 1));
        CHECK(c.get("keep").hit());
        CHECK(c.get("a:0").hit());
        // All live and over the bound: surplus entries are evicted with their members, so the
        // set never passes the bound and invalidating the tag still reaches every entry kept.
        for (std::size_t i = live; i < cache::k_max_tag_members + 2000; ++i) {
            c.set("a:" + std::to_string(i), entry("v", 1h, 2h, {"analysis", "rules:x"}));
            if (i % 1000 == 0) {
                CHECK(pool.command({"SCARD", tag_set("analysis")}).integer <=
                      static_cast<long long>(cache::k_max_tag_members));
            }
        }
        CHECK(pool.command({"SCARD", tag_set("analysis")}).integer <=
              static_cast<long long>(cache::k_max_tag_members));
        CHECK(pool.command({"SCARD", tag_set("rules:x")}).integer <=
              static_cast<long long>(cache::k_max_tag_members));
        auto data_keys = scan_keys(pool, "df:v1:g0:a:*");
        CHECK(data_keys.size() <= cache::k_max_tag_members);
        CHECK(data_keys.size() >= cache::k_tag_prune_to - 1);
        std::size_t untagged = 0;
        for (const auto& k : data_keys) {
            untagged += pool.command({"SISMEMBER", tag_set("analysis"), k}).integer == 1 ? 0 : 1;
        }
        CHECK(untagged == 0);
        // A refresh lock has a TTL too; then every key under the prefix has one.
        REQUIRE(c.try_lock("analysis:x", 10s));
        auto keys = scan_keys(pool, "df:*");
        CHECK(keys.size() > cache::k_tag_prune_to);
        std::size_t without_ttl = 0;
        for (const auto& k : keys) {
            auto ttl = pool.command({"PTTL", k}).integer;
            if (ttl <= 0) {
                ++without_ttl;
                MESSAGE("no TTL: " << k << " (" << ttl << ")");
            }
        }
        CHECK(without_ttl == 0);
        // Tag sets live as long as their longest member.
        CHECK(pool.command({"PTTL", tag_set("analysis")}).integer > 3'500'000);
        // Invalidating the tag deletes every entry left (an entry evicted through its other
        // tag may remain a dead member here: not counted, as UNLINK finds nothing).
        auto entries_left =
            scan_keys(pool, "df:v1:g0:a:*").size() + scan_keys(pool, "df:v1:g0:keep").size();
        CHECK(c.invalidate_tag("analysis", false).entries == entries_left);
        CHECK(scan_keys(pool, "df:v1:g0:a:*").empty());
    }

    TEST_CASE("Redis memory per cached analysis of the bundled catalogue") {
        test::RedisServer server;
        cache::RedisCache c(settings_for(server), "df", 1 << 20, quick_breaker(),
                            util::SystemClock::instance());
        // What POST /api/analysis/dataflow stores for the bundled ISTAT catalogue (456 flows)
        // with the default filters (max_results 100, include_tests false): the count and the
        // report's members, rendered as routes_analysis.cpp does.
        auto bytes = test::read_file(test::bundled_catalog());
        auto catalog = sdmx::read_catalog(bytes, "istat-dataflows-2020.xml");
        REQUIRE(catalog.dataflows.size() == 456);
        config::Config config;
        auto categorizer = live::categorizer_for(config);
        analysis::AnalysisOptions options;
        options.limit = 100;
        auto report = analysis::analyze(catalog, *categorizer, options);
        report.cache_hit = true;
        auto members = util::JsonWriter::render_members(
            2, 1, [&](util::JsonWriter& w) { analysis::write_report_members(w, report); });
        auto value = std::to_string(report.total_analyzed) + "\n" + members.text;
        const int n = 100;
        auto before = used_memory(c.client());
        for (int i = 0; i < n; ++i) {
            // A different body each time (one document sent as n variants): n distinct keys.
            auto key = live::analysis_key(bytes, "request-" + std::to_string(i),
                                          config.rules()->fingerprint(), options,
                                          config::to_string(config.settings().analysis.match),
                                          config.settings().analysis.languages);
            auto e = entry(value, 1h, 1h, {"analysis", "rules:" + config.rules()->fingerprint()});
            e.content_type = "application/vnd.dataflow.analysis.v1";
            c.set(key, e);
        }
        auto after = used_memory(c.client());
        REQUIRE(scan_keys(c.client(), "df:v1:g0:analysis:*").size() == static_cast<std::size_t>(n));
        auto per_entry = (after - before) / n;
        MESSAGE("Redis used_memory per cached analysis (bundled catalogue, 456 flows, max_results "
                "100): "
                << per_entry << " bytes (value " << value.size() << " bytes; " << n
                << " entries: " << before << " -> " << after << " bytes)");
        // An entry costs its value and header, plus little: no copy kept anywhere else.
        CHECK(per_entry >= static_cast<std::int64_t>(value.size()));
        CHECK(per_entry < static_cast<std::int64_t>(value.size()) * 2);
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
        a.client().command({"SET", "df:v1:g0:" + key, "\x80\x04\x95pickle"});
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
        c.client().command({"SET", "other-tenant:key", "keep me"});
        c.client().command({"SET", "dfx:v1:g0:k", "keep me too"});
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
        CHECK(c.client().command({"GET", "other-tenant:key"}).str == "keep me");
        CHECK(c.client().command({"GET", "dfx:v1:g0:k"}).str == "keep me too");
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
                return c.client().command({"GET", "df:v1:g0:after"}).type == Value::Type::string;
            } catch (const redis::Error&) {
                return false;
            }
        }));
        CHECK(c.breaker().snapshot().state == resilience::BreakerState::closed);
        CHECK(c.stats().reachable);
        CHECK(c.client().reconnects() >= 1);
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

TEST_SUITE("redis cache: conditional refresh") {
    TEST_CASE("head reads a multi-megabyte entry's header only, touch rewrites its times") {
        test::RedisServer server;
        cache::RedisCache c(settings_for(server), "df", 16 << 20, quick_breaker(),
                            util::SystemClock::instance());
        std::string value(8 << 20, '\0');
        for (std::size_t i = 0; i < value.size(); ++i) {
            value[i] = static_cast<char>((i * 131) % 251);
        }
        auto e = entry(value, 1h, 2h, {"catalog"});
        e.content_type = "application/xml";
        e.etag = "\"v1\"";
        e.last_modified = "Wed, 21 Oct 2015 07:28:00 GMT";
        e.born_ms = e.stored_at_ms;
        c.set("catalog:big", e);
        const std::string data_key = "df:v1:g0:catalog:big";
        const std::string tag_key = "df:v1:g0:tag:catalog";

        auto h = c.head("catalog:big");
        CHECK(h.state == State::fresh);
        CHECK(h.entry.value.empty());
        CHECK(h.entry.etag == "\"v1\"");
        CHECK(h.entry.last_modified == "Wed, 21 Oct 2015 07:28:00 GMT");
        CHECK(h.entry.born_ms == e.born_ms);
        CHECK(h.entry.fresh_until_ms == e.fresh_until_ms);
        CHECK(h.entry.tags == std::vector<std::string>{"catalog"});
        CHECK_FALSE(c.head("nothing:here").hit());

        auto now = entry("", 1h, 1h).stored_at_ms; // the time of the 304
        auto started = std::chrono::steady_clock::now();
        bool touched = c.touch("catalog:big", now, now + 3 * 3'600'000, now + 5 * 3'600'000);
        auto took = std::chrono::steady_clock::now() - started;
        CHECK(touched);
        MESSAGE("touch of an 8 MiB entry: "
                << std::chrono::duration<double, std::milli>(took).count() << " ms round trip");
        CHECK(c.stats().touches == 1);
        CHECK(c.client().command({"PTTL", data_key}).integer > 4 * 3'600'000);
        CHECK(c.client().command({"PTTL", tag_key}).integer > 4 * 3'600'000);
        auto raw = c.client().command({"GET", data_key});
        REQUIRE(raw.type == Value::Type::string);
        auto back = cache::decode(raw.str);
        REQUIRE(back);
        CHECK(back->value == value); // byte for byte
        CHECK(back->stored_at_ms == now);
        CHECK(back->fresh_until_ms == now + 3 * 3'600'000);
        CHECK(back->stale_until_ms == now + 5 * 3'600'000);
        CHECK(back->born_ms == e.born_ms);
        CHECK(back->etag == e.etag);
        CHECK(back->tags == e.tags);
        CHECK(raw.str.size() == cache::encode(e).size()); // rewritten in place
        CHECK(c.head("catalog:big").entry.stale_until_ms == now + 5 * 3'600'000);

        // A touch never shortens a tag set another member needs; an entry can be touched
        // shorter itself.
        CHECK(c.touch("catalog:big", now, now + 1000, now + 600'000));
        CHECK(c.client().command({"PTTL", data_key}).integer <= 600'000);
        CHECK(c.client().command({"PTTL", tag_key}).integer > 4 * 3'600'000);

        // The near cache was touched too: with Redis gone it serves the new times.
        server.stop();
        auto near = c.head("catalog:big");
        CHECK(near.hit());
        CHECK(near.entry.stale_until_ms == now + 600'000);
        CHECK(near.entry.value.empty());
        CHECK_FALSE(c.touch("catalog:big", now, now + 1000, now + 2000)); // never throws
    }

    TEST_CASE("touch is false for a missing key, an older layout, and after a flush") {
        test::RedisServer server;
        cache::RedisCache c(settings_for(server), "df", 1 << 20, quick_breaker(),
                            util::SystemClock::instance());
        auto now = entry("", 1h, 1h).stored_at_ms;
        CHECK_FALSE(c.touch("missing", now, now + 1000, now + 2000));
        CHECK_FALSE(c.client().command({"EXISTS", "df:v1:g0:missing"}).integer);
        // As written by the version before the fixed header: readable, but not touchable.
        auto old = fmt::format(R"({{"v":1,"ct":"text/plain","stored":{},"fresh":{},"stale":{},)"
                               R"("neg":false,"tags":["catalog"]}})"
                               "\nold value",
                               now, now + 3'600'000, now + 3'600'000);
        c.client().command({"SET", "df:v1:g0:old", old, "PX", "3600000"});
        auto l = c.get("old");
        CHECK(l.state == State::fresh);
        CHECK(l.entry.value == "old value");
        CHECK(c.head("old").entry.stale_until_ms == now + 3'600'000);
        CHECK_FALSE(c.touch("old", now, now + 7'200'000, now + 7'200'000));
        CHECK(c.client().command({"GET", "df:v1:g0:old"}).str == old);
        CHECK(c.client().command({"PTTL", "df:v1:g0:old"}).integer <= 3'600'000);
        // A foreign value under our key is left alone too.
        c.client().command({"SET", "df:v1:g0:foreign", "\x80\x04\x95pickle", "PX", "3600000"});
        CHECK_FALSE(c.touch("foreign", now, now + 1000, now + 2000));
        // After a flush (a new generation), the old entry is not ours any more.
        c.set("k", entry("v", 1h, 1h));
        CHECK(c.touch("k", now, now + 1000, now + 3'600'000));
        c.flush(false);
        CHECK_FALSE(c.touch("k", now, now + 1000, now + 3'600'000));
        CHECK_FALSE(c.head("k").hit());
        CHECK(c.stats().errors == 0);
    }

    TEST_CASE("revalidate across two replicas: a 304 extends the shared entry in place") {
        test::RedisServer server;
        cache::RedisCache a(settings_for(server), "df", 1 << 20, quick_breaker(),
                            util::SystemClock::instance());
        cache::RedisCache b(settings_for(server), "df", 1 << 20, quick_breaker(),
                            util::SystemClock::instance());
        cache::CachedComputer ca(a, util::SystemClock::instance());
        cache::CachedComputer cb(b, util::SystemClock::instance());
        cache::Policy p;
        p.fresh_ttl = 1ms; // stale at once
        p.stale_ttl = 1h;
        auto first = ca.revalidate(
            "catalog", p,
            [](const cache::Entry*) {
                cache::Computed c;
                c.value = std::string(1 << 20, 'x');
                c.etag = "\"v1\"";
                c.tags = {"catalog"};
                return c;
            },
            [](const cache::Entry&) { return false; });
        std::this_thread::sleep_for(5ms);
        p.fresh_ttl = 1h;
        std::string seen_etag;
        auto gets_before = b.stats().hits;
        auto r = cb.revalidate(
            "catalog", p,
            [&](const cache::Entry* previous) {
                REQUIRE(previous != nullptr);
                seen_etag = previous->etag;
                cache::Computed c;
                c.unchanged = true;
                return c;
            },
            [](const cache::Entry&) { return false; });
        CHECK(seen_etag == "\"v1\"");
        CHECK(r.confirmed);
        CHECK_FALSE(r.value_loaded);
        CHECK(r.entry.born_ms == first.entry.born_ms);
        CHECK(b.stats().hits == gets_before + 1); // one head()
        CHECK(b.stats().sets == 0);
        CHECK(b.stats().touches == 1);
        auto l = a.get("catalog");
        CHECK(l.state == State::fresh);
        CHECK(l.entry.value == std::string(1 << 20, 'x'));
        CHECK(l.entry.born_ms == first.entry.born_ms);
        CHECK(l.entry.stored_at_ms == r.entry.stored_at_ms);
    }
}

TEST_SUITE("cluster rate limiter") {
    TEST_CASE("three limiters on one Redis never exceed the shared budget") {
        test::RedisServer server;
        auto pool_client = redis::make_client(settings_for(server), util::SystemClock::instance());
        auto& pool = *pool_client;
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

    TEST_CASE("one limiter shared by 8 threads keeps the budget while its script is reloaded") {
        test::RedisServer server;
        auto pool_client = redis::make_client(settings_for(server), util::SystemClock::instance());
        auto& pool = *pool_client;
        // 60 a minute with a burst of 40: 40 at once, then one a second.
        resilience::RedisRateLimiter limiter(pool, "df", {60, 40}, {}, 1,
                                             util::SystemClock::instance());
        std::atomic<int> granted{0};
        std::atomic<int> threads_done{0};
        auto started = std::chrono::steady_clock::now();
        std::vector<std::thread> threads;
        for (int t = 0; t < 8; ++t) {
            threads.emplace_back([&] {
                // Every thread's first call finds no script loaded: they load it concurrently.
                for (int i = 0; i < 10; ++i) {
                    granted += limiter.reserve("esploradati.istat.it", 0ms).granted ? 1 : 0;
                }
                ++threads_done;
            });
        }
        // Meanwhile Redis forgets the script (NOSCRIPT, reloaded by whichever thread meets it)
        // and the limits are re-applied, as a configuration reload does.
        std::thread churn([&] {
            while (threads_done < 8) {
                pool.command({"SCRIPT", "FLUSH"});
                limiter.configure({60, 40}, {}, 1);
                std::this_thread::yield();
            }
        });
        for (auto& t : threads) {
            t.join();
        }
        churn.join();
        auto elapsed_s = std::chrono::duration_cast<std::chrono::seconds>(
                             std::chrono::steady_clock::now() - started)
                             .count();
        CHECK_FALSE(limiter.degraded()); // every call was answered by Redis
        CHECK(granted >= 40);
        CHECK(granted <= 40 + static_cast<int>(elapsed_s) + 1);
    }

    TEST_CASE("a 429 seen by one replica stops all of them, without Redis, a local share") {
        test::RedisServer server;
        auto pool_client = redis::make_client(settings_for(server), util::SystemClock::instance());
        auto& pool = *pool_client;
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

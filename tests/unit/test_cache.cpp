// The cache interface, the memory backend (LRU by bytes, TTL on a manual clock, tags, flush),
// entry encoding, keys, and the cached computer (single-flight, stale-if-error).

#include "cache/memory_cache.hpp"
#include "cache/single_flight.hpp"
#include "util/clock.hpp"

#include <doctest/doctest.h>

#include <atomic>
#include <limits>
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

/// Counts the calls a CachedComputer makes, to show which reads and writes happen; can make
/// get() miss (the entry vanished after a head()) or touch() fail (an entry of an older layout).
class CountingCache : public cache::Cache {
public:
    explicit CountingCache(MemoryCache& inner) : m_inner(inner) {}
    cache::Lookup get(const std::string& key) override {
        ++gets;
        return get_misses ? cache::Lookup{} : m_inner.get(key);
    }
    void set(const std::string& key, const Entry& e) override {
        ++sets;
        m_inner.set(key, e);
    }
    cache::Lookup head(const std::string& key) override {
        ++heads;
        return m_inner.head(key);
    }
    bool touch(const std::string& key, std::int64_t stored, std::int64_t fresh,
               std::int64_t stale) override {
        ++touches;
        return !touch_fails && m_inner.touch(key, stored, fresh, stale);
    }
    cache::FlushResult invalidate_tag(const std::string& tag, bool dry_run) override {
        return m_inner.invalidate_tag(tag, dry_run);
    }
    cache::FlushResult flush(bool dry_run) override { return m_inner.flush(dry_run); }
    cache::Stats stats() override { return m_inner.stats(); }
    std::optional<std::string> try_lock(const std::string& key,
                                        std::chrono::milliseconds ttl) override {
        return m_inner.try_lock(key, ttl);
    }
    void unlock(const std::string& key, const std::string& token) override {
        m_inner.unlock(key, token);
    }

    int gets = 0;
    int sets = 0;
    int heads = 0;
    int touches = 0;
    bool get_misses = false;
    bool touch_fails = false;

private:
    MemoryCache& m_inner;
};

cache::Computed downloaded(std::string value, std::string etag) {
    cache::Computed c;
    c.value = std::move(value);
    c.content_type = "application/xml";
    c.tags = {"catalog"};
    c.etag = std::move(etag);
    c.last_modified = "Wed, 21 Oct 2015 07:28:00 GMT";
    return c;
}

cache::Computed not_modified() {
    cache::Computed c;
    c.unchanged = true;
    return c;
}

bool never(const Entry&) {
    return false;
}

bool always(const Entry&) {
    return true;
}

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

    TEST_CASE("entries keep their validators and birth, older headers still decode") {
        util::ManualClock clock;
        auto e = entry(clock, "value", 1s, 2s, {"catalog"});
        e.etag = "\"abc\"";
        e.last_modified = "Wed, 21 Oct 2015 07:28:00 GMT";
        e.born_ms = e.stored_at_ms - 5000;
        auto back = cache::decode(cache::encode(e));
        REQUIRE(back);
        CHECK(back->etag == "\"abc\"");
        CHECK(back->last_modified == "Wed, 21 Oct 2015 07:28:00 GMT");
        CHECK(back->born_ms == e.born_ms);
        CHECK(back->stored_at_ms == e.stored_at_ms);
        CHECK(back->stale_until_ms == e.stale_until_ms);
        CHECK(back->value == "value");
        // As written before validators (fields in another order, none of the new ones).
        auto old = cache::decode(R"({"v":1,"ct":"text/plain","stored":5,"fresh":6,"stale":7,)"
                                 R"("neg":false,"tags":["a"]})"
                                 "\nold value");
        REQUIRE(old);
        CHECK(old->value == "old value");
        CHECK(old->stored_at_ms == 5);
        CHECK(old->fresh_until_ms == 6);
        CHECK(old->stale_until_ms == 7);
        CHECK(old->tags == std::vector<std::string>{"a"});
        CHECK(old->etag.empty());
        CHECK(old->last_modified.empty());
        CHECK(old->born_ms == 0);
        // The header alone, from the first bytes of an entry.
        auto bytes = cache::encode(e);
        auto header = cache::decode_header(std::string_view(bytes).substr(0, bytes.find('\n') + 2));
        REQUIRE(header);
        CHECK(header->value.empty());
        CHECK(header->etag == e.etag);
        CHECK_FALSE(cache::decode_header(std::string_view(bytes).substr(0, bytes.find('\n'))));
    }

    TEST_CASE("the header starts with a fixed-width region of times, rewritable in place") {
        util::ManualClock clock;
        auto e = entry(clock, std::string("v\nalue", 6), 1h, 2h);
        auto bytes = cache::encode(e);
        CHECK(bytes.rfind(cache::k_header_prefix, 0) == 0);
        CHECK(cache::k_fixed_offset == cache::k_header_prefix.size());
        CHECK(cache::k_fixed_length == 66);
        auto region = bytes.substr(cache::k_fixed_offset, cache::k_fixed_length);
        CHECK(region == cache::fixed_region(e.stored_at_ms, e.fresh_until_ms, e.stale_until_ms));
        CHECK(region.substr(0, cache::k_time_width) ==
              std::string(16 - std::to_string(e.stored_at_ms).size(), ' ') +
                  std::to_string(e.stored_at_ms));
        CHECK(region.substr(cache::k_time_width, 9) == R"(,"fresh":)");
        CHECK(bytes[cache::k_fixed_offset + cache::k_fixed_length] == ',');
        // A region of other times, written over the old one (as Redis SETRANGE does): the same
        // entry with the new times.
        bytes.replace(cache::k_fixed_offset, cache::k_fixed_length,
                      cache::fixed_region(7, 8'000'000'000'000, 9'000'000'000'000));
        auto back = cache::decode(bytes);
        REQUIRE(back);
        CHECK(back->stored_at_ms == 7);
        CHECK(back->fresh_until_ms == 8'000'000'000'000);
        CHECK(back->stale_until_ms == 9'000'000'000'000);
        CHECK(back->value == e.value);
        // Times out of range are clamped, never widen the region.
        CHECK(cache::fixed_region(-5, std::numeric_limits<std::int64_t>::max(), 0).size() ==
              cache::k_fixed_length);
        auto clamped = entry(clock, "v", 1s, 1s);
        clamped.stored_at_ms = -5;
        auto c = cache::decode(cache::encode(clamped));
        REQUIRE(c);
        CHECK(c->stored_at_ms == 0);
    }

    TEST_CASE("memory head reads no value, touch extends an entry in place") {
        util::ManualClock clock;
        MemoryCache c(1 << 20, clock);
        auto e = entry(clock, std::string(1000, 'x'), 10s, 60s, {"catalog"});
        e.etag = "e1";
        e.born_ms = e.stored_at_ms;
        c.set("k", e);
        auto bytes_before = c.stats().bytes_used;
        auto h = c.head("k");
        CHECK(h.state == State::fresh);
        CHECK(h.entry.value.empty());
        CHECK(h.entry.etag == "e1");
        CHECK(h.entry.fresh_until_ms == e.fresh_until_ms);
        CHECK(h.entry.tags == std::vector<std::string>{"catalog"});
        clock.advance(50s);
        CHECK(c.head("k").state == State::stale);
        auto now = ms_of(clock);
        CHECK(c.touch("k", now, now + 10'000, now + 60'000));
        auto l = c.get("k");
        CHECK(l.state == State::fresh);
        CHECK(l.entry.value == e.value);
        CHECK(l.entry.born_ms == e.born_ms);
        CHECK(l.entry.etag == "e1");
        CHECK(l.entry.stored_at_ms == now);
        CHECK(l.age_seconds == doctest::Approx(0.0));
        auto s = c.stats();
        CHECK(s.bytes_used == bytes_before);
        CHECK(s.touches == 1);
        CHECK(s.sets == 1);
        // It lives by its new times: stale after 10 s, gone after 60 s, though the old entry
        // would have gone 10 s from the touch.
        clock.advance(11s);
        CHECK(c.head("k").state == State::stale);
        clock.advance(48s);
        CHECK(c.get("k").state == State::stale);
        CHECK(c.invalidate_tag("catalog", true).entries == 1); // tag index intact
        clock.advance(2s);
        CHECK(c.head("k").state == State::miss);
        CHECK(c.stats().entries == 0);
        CHECK(c.stats().bytes_used == 0);
    }

    TEST_CASE("touch of a missing or expired key is false, and creates nothing") {
        util::ManualClock clock;
        MemoryCache c(1 << 20, clock);
        auto now = ms_of(clock);
        CHECK_FALSE(c.touch("nothing", now, now + 1000, now + 2000));
        c.set("k", entry(clock, "v", 1s, 2s));
        clock.advance(3s);
        now = ms_of(clock);
        CHECK_FALSE(c.touch("k", now, now + 1000, now + 2000));
        CHECK_FALSE(c.get("k").hit());
        CHECK(c.stats().entries == 0);
        // The defaults of the interface (get + set) behave the same.
        MemoryCache inner(1 << 20, clock);
        HolderFinishesBeforeTryLock plain(inner, "", entry(clock, "x", 1s, 1s));
        CHECK_FALSE(plain.touch("k", now, now + 1000, now + 2000));
        inner.set("k", entry(clock, "v", 1s, 2s));
        CHECK(plain.head("k").entry.value.empty());
        CHECK(plain.touch("k", now, now + 5000, now + 9000));
        CHECK(inner.get("k").entry.fresh_until_ms == now + 5000);
        CHECK(inner.get("k").entry.value == "v");
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

TEST_SUITE("cached computer: revalidation") {
    /// A catalogue cached 20 s ago (fresh for 10 s, kept for an hour), written by revalidate().
    struct Fixture {
        util::ManualClock clock;
        MemoryCache inner{1 << 20, clock};
        CountingCache c{inner};
        cache::CachedComputer cc{c, clock};
        cache::Policy p;
        std::int64_t born = 0;
        Fixture() {
            p.fresh_ttl = 10s;
            p.stale_ttl = 1h;
            auto first = cc.revalidate(
                "k", p,
                [](const Entry* previous) {
                    CHECK(previous == nullptr);
                    return downloaded("catalogue", "e1");
                },
                never);
            CHECK(first.value_loaded); // computed: in hand
            CHECK(first.entry.value == "catalogue");
            CHECK_FALSE(first.cache_hit);
            born = first.entry.born_ms;
            CHECK(born == first.entry.stored_at_ms);
            CHECK(born == ms_of(clock));
            clock.advance(20s);
            c.gets = c.sets = c.heads = c.touches = 0;
        }
    };

    TEST_CASE("a fresh entry is served from its header alone, its value only when needed") {
        Fixture f;
        f.clock.advance(-15s); // 5 s old: fresh
        int calls = 0;
        auto compute = [&](const Entry*) {
            ++calls;
            return downloaded("new", "e2");
        };
        auto r = f.cc.revalidate("k", f.p, compute, never);
        CHECK(calls == 0);
        CHECK(r.cache_hit);
        CHECK_FALSE(r.stale);
        CHECK_FALSE(r.value_loaded);
        CHECK(r.entry.value.empty());
        CHECK(r.entry.etag == "e1");
        CHECK(f.c.gets == 0);
        CHECK(f.c.heads == 1);
        // Needed: read once.
        auto full = f.cc.revalidate("k", f.p, compute, [](const Entry& e) {
            CHECK(e.value.empty());
            return e.content_type == "application/xml";
        });
        CHECK(calls == 0);
        CHECK(full.value_loaded);
        CHECK(full.entry.value == "catalogue");
        CHECK(full.entry.etag == "e1");
        CHECK(f.c.gets == 1);
    }

    TEST_CASE("unchanged upstream: the entry is touched in place, its value never read") {
        Fixture f;
        const Entry* seen = nullptr;
        std::string seen_etag;
        auto r = f.cc.revalidate(
            "k", f.p,
            [&](const Entry* previous) {
                seen = previous;
                REQUIRE(previous != nullptr);
                seen_etag = previous->etag;
                CHECK(previous->value.empty()); // a header: the 304 needs only the validators
                CHECK(previous->last_modified == "Wed, 21 Oct 2015 07:28:00 GMT");
                return not_modified();
            },
            never);
        CHECK(seen != nullptr);
        CHECK(seen_etag == "e1");
        CHECK(r.confirmed);
        CHECK(r.cache_hit);
        CHECK_FALSE(r.stale);
        CHECK_FALSE(r.value_loaded);
        CHECK(r.age_seconds == doctest::Approx(0.0));
        auto now = ms_of(f.clock);
        CHECK(r.entry.stored_at_ms == now);
        CHECK(r.entry.fresh_until_ms == now + 10'000);
        CHECK(r.entry.stale_until_ms == now + 3'600'000);
        CHECK(r.entry.born_ms == f.born);
        CHECK(r.entry.etag == "e1");
        // O(1): one look at the header, one touch; no read, no write of the value.
        CHECK(f.c.heads == 1);
        CHECK(f.c.touches == 1);
        CHECK(f.c.gets == 0);
        CHECK(f.c.sets == 0);
        auto stored = f.inner.get("k");
        CHECK(stored.state == State::fresh);
        CHECK(stored.entry.value == "catalogue");
        CHECK(stored.entry.born_ms == f.born);
        CHECK(stored.entry.stored_at_ms == now);
        CHECK(stored.entry.tags == std::vector<std::string>{"catalog"});
        CHECK(stored.entry.content_type == "application/xml");
        // Now fresh again: served without asking the upstream.
        int calls = 0;
        f.cc.revalidate(
            "k", f.p,
            [&](const Entry*) {
                ++calls;
                return not_modified();
            },
            never);
        CHECK(calls == 0);
    }

    TEST_CASE("unchanged, but the entry cannot be touched: the full entry is set again") {
        Fixture f;
        f.c.touch_fails = true; // as for an entry written in an older layout
        auto r = f.cc.revalidate(
            "k", f.p, [](const Entry*) { return not_modified(); }, never);
        CHECK(r.confirmed);
        CHECK(r.value_loaded); // read to be written back
        CHECK(r.entry.value == "catalogue");
        CHECK(f.c.gets == 1);
        CHECK(f.c.sets == 1);
        auto stored = f.inner.get("k");
        CHECK(stored.state == State::fresh);
        CHECK(stored.entry.value == "catalogue");
        CHECK(stored.entry.born_ms == f.born);
        CHECK(stored.entry.stored_at_ms == ms_of(f.clock));
    }

    TEST_CASE("a changed upstream: the new value is stored, born now, with its validators") {
        Fixture f;
        auto r = f.cc.revalidate(
            "k", f.p, [](const Entry*) { return downloaded("v2", "e2"); }, never);
        CHECK_FALSE(r.confirmed);
        CHECK_FALSE(r.cache_hit);
        CHECK(r.value_loaded);
        CHECK(r.entry.value == "v2");
        auto now = ms_of(f.clock);
        CHECK(r.entry.born_ms == now);
        CHECK(r.entry.stored_at_ms == now);
        CHECK(f.c.sets == 1);
        CHECK(f.c.touches == 0);
        auto stored = f.inner.get("k");
        CHECK(stored.entry.value == "v2");
        CHECK(stored.entry.etag == "e2");
        CHECK(stored.entry.born_ms == now);
    }

    TEST_CASE("a failed revalidation serves the stale copy, its value read only if needed") {
        Fixture f;
        auto failing = [](const Entry*) -> cache::Computed {
            throw std::runtime_error("upstream down");
        };
        auto r = f.cc.revalidate("k", f.p, failing, never);
        CHECK(r.cache_hit);
        CHECK(r.stale);
        CHECK_FALSE(r.value_loaded);
        CHECK(r.stale_reason.find("upstream down") != std::string::npos);
        CHECK(r.entry.etag == "e1");
        CHECK(f.c.gets == 0);
        auto full = f.cc.revalidate("k", f.p, failing, always);
        CHECK(full.stale);
        CHECK(full.value_loaded);
        CHECK(full.entry.value == "catalogue");
        CHECK(f.c.gets == 1);
        // Nothing cached: the error propagates.
        CHECK_THROWS_AS(f.cc.revalidate("other", f.p, failing, always), std::runtime_error);
    }

    TEST_CASE("needs_value: a confirmed value is read once, a vanished one fetched again") {
        Fixture f;
        auto r = f.cc.revalidate(
            "k", f.p, [](const Entry*) { return not_modified(); }, always);
        CHECK(r.confirmed);
        CHECK(r.value_loaded);
        CHECK(r.entry.value == "catalogue");
        CHECK(r.entry.stored_at_ms == ms_of(f.clock));
        CHECK(f.c.gets == 1);
        CHECK(f.c.sets == 0);
        // The entry goes between the look at its header and the read of its value.
        f.c.get_misses = true;
        f.clock.advance(20s);
        std::vector<bool> had_previous;
        auto again = f.cc.revalidate(
            "k", f.p,
            [&](const Entry* previous) {
                had_previous.push_back(previous != nullptr);
                return previous != nullptr ? not_modified() : downloaded("fetched again", "e3");
            },
            always);
        CHECK(had_previous == std::vector<bool>{true, false});
        CHECK(again.value_loaded);
        CHECK(again.entry.value == "fetched again");
        CHECK(again.entry.etag == "e3");
        CHECK(f.inner.get("k").entry.value == "fetched again");
    }

    TEST_CASE("unchanged with nothing cached is a bug in the computation") {
        Fixture f;
        CHECK_THROWS_AS(f.cc.revalidate(
                            "none", f.p, [](const Entry*) { return not_modified(); }, never),
                        std::logic_error);
    }

    TEST_CASE("get() and revalidate() share entries, a forced refresh still revalidates") {
        Fixture f;
        f.clock.advance(-15s);
        auto g = f.cc.get("k", f.p, [] { return downloaded("never", "x"); });
        CHECK(g.entry.value == "catalogue");
        CHECK(g.value_loaded);
        f.p.refresh = true;
        int calls = 0;
        auto r = f.cc.revalidate(
            "k", f.p,
            [&](const Entry* previous) {
                ++calls;
                CHECK(previous != nullptr);
                return not_modified();
            },
            never);
        CHECK(calls == 1);
        CHECK(r.confirmed);
        CHECK(f.c.gets == 1); // get() above; none by revalidate
        CHECK(f.c.touches == 1);
    }
}

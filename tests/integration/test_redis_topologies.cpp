// The Redis client against real topologies on loopback: a 3-master Redis Cluster (with
// replicas) and 1 master + 1 replica + 3 sentinels. The cache, the cluster-wide rate limiter,
// redirects (MOVED, ASK), and failovers.

#include "cache/redis_cache.hpp"
#include "redis/client.hpp"
#include "redis/cluster.hpp"
#include "resilience/redis_rate_limiter.hpp"
#include "support/redis_topology.hpp"
#include "util/clock.hpp"

#include <doctest/doctest.h>
#include <fmt/format.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <map>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>

using namespace dataflow;
using namespace std::chrono_literals;
using redis::Value;

namespace {

resilience::BreakerSettings quick_breaker() {
    resilience::BreakerSettings b;
    b.failure_threshold = 3;
    b.open_duration = 200ms;
    return b;
}

cache::Entry entry(std::string value, std::vector<std::string> tags = {}) {
    cache::Entry e;
    e.value = std::move(value);
    e.stored_at_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                         std::chrono::system_clock::now().time_since_epoch())
                         .count();
    e.fresh_until_ms = e.stored_at_ms + 3'600'000;
    e.stale_until_ms = e.stored_at_ms + 7'200'000;
    e.tags = std::move(tags);
    return e;
}

redis::Settings cluster_settings(const test::RedisClusterSet& c) {
    redis::Settings s;
    s.mode = redis::Mode::cluster;
    s.host = "127.0.0.1";
    s.port = c.seed_port();
    s.pool_size = 4;
    s.command_timeout = 1000ms;
    return s;
}

redis::Settings sentinel_settings(const test::RedisSentinelSet& set) {
    redis::Settings s;
    s.mode = redis::Mode::sentinel;
    for (int p : set.sentinel_ports()) {
        s.sentinels.push_back({"127.0.0.1", p});
    }
    s.sentinel_master = test::RedisSentinelSet::k_master_name;
    s.password = test::RedisSentinelSet::k_data_password;
    s.sentinel_password = test::RedisSentinelSet::k_sentinel_password;
    s.pool_size = 4;
    return s;
}

/// A direct connection to one node (no routing), for looking behind the client's back.
std::unique_ptr<redis::Client> node(int port, const std::string& password = {}) {
    redis::Settings s;
    s.host = "127.0.0.1";
    s.port = port;
    s.password = password;
    s.pool_size = 1;
    return redis::make_client(s, util::SystemClock::instance());
}

std::vector<std::string> keys_on(redis::Client& n, const std::string& pattern) {
    std::vector<std::string> out;
    std::string cursor = "0";
    do {
        auto v = n.command({"SCAN", cursor, "MATCH", pattern, "COUNT", "1000"});
        REQUIRE(v.elements.size() == 2);
        cursor = v.elements[0].str;
        for (const auto& k : v.elements[1].elements) {
            out.push_back(k.str);
        }
    } while (cursor != "0");
    return out;
}

/// Captures every log line while alive.
struct LogCapture {
    std::ostringstream out;
    std::shared_ptr<spdlog::sinks::ostream_sink_mt> sink =
        std::make_shared<spdlog::sinks::ostream_sink_mt>(out);
    LogCapture() { spdlog::default_logger()->sinks().push_back(sink); }
    ~LogCapture() {
        auto& sinks = spdlog::default_logger()->sinks();
        sinks.erase(std::remove(sinks.begin(), sinks.end(), sink), sinks.end());
    }
    std::string text() {
        sink->flush();
        return out.str();
    }
};

} // namespace

TEST_SUITE("redis routing") {
    TEST_CASE("key slots follow the cluster's CRC16 and hash tags") {
        CHECK(redis::key_slot("123456789") == 0x31C3 % 16384); // the CRC16 check value
        CHECK(redis::key_slot("foo") == 12182);
        CHECK(redis::key_slot("{user1000}.following") == redis::key_slot("{user1000}.followers"));
        CHECK(redis::key_slot("foo{}{bar}") == redis::key_slot("foo{}{bar}")); // empty tag: whole
        CHECK(redis::key_slot("foo{}{bar}") != redis::key_slot("bar"));
        CHECK(redis::key_slot("foo{{bar}}zap") == redis::key_slot("{bar"));
        CHECK(*redis::routing_key({"GET", "k"}) == "k");
        CHECK(*redis::routing_key({"EVALSHA", "sha", "2", "a", "b", "x"}) == "a");
        CHECK_FALSE(redis::routing_key({"EVAL", "s", "0"}));
        CHECK_FALSE(redis::routing_key({"SCAN", "0"}));
        CHECK_FALSE(redis::routing_key({"PING"}));
    }

    TEST_CASE("redirects parse, IPv6 without brackets and unknown addresses included") {
        auto moved = redis::parse_redirect("MOVED 3999 127.0.0.1:6381", "seed");
        REQUIRE(moved);
        CHECK(moved->first == 3999);
        CHECK(moved->second == redis::Endpoint{"127.0.0.1", 6381});
        CHECK(redis::parse_redirect("ASK 1 ::1:7000", "x")->second == redis::Endpoint{"::1", 7000});
        CHECK(redis::parse_redirect("ASK 1 [::1]:7000", "x")->second ==
              redis::Endpoint{"::1", 7000});
        CHECK(redis::parse_redirect("MOVED 5 ?:7001", "10.0.0.9")->second ==
              redis::Endpoint{"10.0.0.9", 7001});
        CHECK(redis::parse_redirect("MOVED 5 :7001", "10.0.0.9")->second ==
              redis::Endpoint{"10.0.0.9", 7001});
        CHECK_FALSE(redis::parse_redirect("MOVED 16384 a:1", "x"));
        CHECK_FALSE(redis::parse_redirect("MOVED x a:1", "x"));
        CHECK_FALSE(redis::parse_redirect("MOVED 1 a:0", "x"));
        CHECK_FALSE(redis::parse_redirect("MOVED 1 a", "x"));
        CHECK_FALSE(redis::parse_redirect("MOVED 1", "x"));
    }

    TEST_CASE("endpoints parse with and without a port, IPv6 in brackets") {
        CHECK(redis::parse_endpoint("redis-0.redis:6380", 6379)->port == 6380);
        CHECK(redis::parse_endpoint("redis-0.redis", 26379)->port == 26379);
        CHECK(redis::parse_endpoint("[::1]:7000", 1)->host == "::1");
        CHECK_FALSE(redis::parse_endpoint("::1:7000", 1));
        CHECK_FALSE(redis::parse_endpoint("host:0", 1));
        CHECK_FALSE(redis::parse_endpoint("host:70000", 1));
        CHECK_FALSE(redis::parse_endpoint("host:", 1));
        CHECK_FALSE(redis::parse_endpoint(":6379", 1));
        CHECK_FALSE(redis::parse_endpoint("user:pw@host:1", 1));
    }
}

TEST_SUITE("redis cluster") {
    TEST_CASE("the cache on a 3-master cluster: hits, tags, touch, stats and flush on every "
              "master, no redirect or cross-slot warning") {
        test::RedisClusterSet cluster;
        LogCapture logs;
        cache::RedisCache c(cluster_settings(cluster), "df", 1 << 20, quick_breaker(),
                            util::SystemClock::instance());
        auto masters = cluster.master_ports();
        REQUIRE(masters.size() == 3);
        auto name = [](std::size_t i) { return fmt::format("analysis:{}", i); };
        auto value = [](std::size_t i) { return fmt::format("v{}", i); };
        for (std::size_t i = 0; i < 60; ++i) {
            c.set(name(i), entry(value(i), {"analysis"}));
        }
        for (std::size_t i = 0; i < 60; ++i) {
            auto l = c.get(name(i));
            REQUIRE(l.hit());
            CHECK(l.entry.value == value(i));
        }
        CHECK(c.touch("analysis:7", entry("").stored_at_ms, entry("").fresh_until_ms,
                      entry("").stale_until_ms));
        // The entries spread over all three masters; another tenant's keys, on every master,
        // stay.
        auto routed = redis::make_client(cluster_settings(cluster), util::SystemClock::instance());
        for (int i = 0; i < 30; ++i) {
            REQUIRE(routed->command({"SET", fmt::format("other-tenant:{}", i), "keep"}).str ==
                    "OK");
        }
        std::size_t ours = 0;
        for (int port : masters) {
            auto n = node(port);
            auto here = keys_on(*n, "df:v1:g0:analysis:*");
            CHECK(!here.empty());
            CHECK(!keys_on(*n, "other-tenant:*").empty());
            ours += here.size();
        }
        CHECK(ours == 60);
        auto stats = c.stats();
        CHECK(stats.reachable);
        CHECK(stats.redis_mode == "cluster");
        CHECK(stats.entries == 60 + 1); // 60 entries and their tag set (over all masters)
        CHECK(stats.redis_nodes.size() == 3);
        for (const auto& n : stats.redis_nodes) {
            CHECK(n.role == "master");
            CHECK(!n.slots.empty());
            CHECK(n.reachable);
        }
        // A tag set holds members of every master: invalidating it removes them all.
        auto removed = c.invalidate_tag("analysis", false);
        CHECK(removed.entries == 60);
        for (int port : masters) {
            auto n = node(port);
            CHECK(keys_on(*n, "df:v1:g0:analysis:*").empty());
        }
        c.set("catalog:x", entry("x", {"catalog"}));
        auto flushed = c.flush(false);
        CHECK(flushed.entries >= 1);
        CHECK_FALSE(c.get("catalog:x").hit());
        for (int i = 0; i < 30; ++i) {
            CHECK(routed->command({"GET", fmt::format("other-tenant:{}", i)}).str == "keep");
        }
        CHECK(c.stats().errors == 0);
        auto text = logs.text();
        CHECK(text.find("MOVED") == std::string::npos);
        CHECK(text.find("CROSSSLOT") == std::string::npos);
        CHECK(text.find("serving without Redis") == std::string::npos);
    }

    TEST_CASE("MOVED and ASK are followed while a slot migrates, and counted") {
        test::RedisClusterSet cluster;
        auto client = redis::make_client(cluster_settings(cluster), util::SystemClock::instance());
        auto masters = client->masters();
        REQUIRE(masters.size() == 3);
        const std::string key = "df:{mig}:a";
        const std::string absent = "df:{mig}:b";
        auto slot = std::to_string(redis::key_slot(key));
        REQUIRE(client->command({"SET", key, "1"}).str == "OK");
        // Which master holds it, and another one to move the slot to.
        std::shared_ptr<redis::Pool> from;
        std::shared_ptr<redis::Pool> to;
        for (const auto& m : masters) {
            if (m->command({"GET", key}).str == "1") {
                from = m;
            } else if (!to) {
                to = m;
            }
        }
        REQUIRE(from);
        REQUIRE(to);
        auto id_of = [](redis::Pool& p) { return p.command({"CLUSTER", "MYID"}).str; };
        auto from_id = id_of(*from);
        auto to_id = id_of(*to);
        REQUIRE(to->command({"CLUSTER", "SETSLOT", slot, "IMPORTING", from_id}).str == "OK");
        REQUIRE(from->command({"CLUSTER", "SETSLOT", slot, "MIGRATING", to_id}).str == "OK");
        // Mid-migration: an existing key is still served where it is; a new one is ASKed over.
        CHECK(client->command({"GET", key}).str == "1");
        auto refreshes_mid = client->counters().refreshes;
        CHECK(client->command({"SET", absent, "2"}).str == "OK");
        CHECK(client->counters().ask >= 1);
        CHECK(client->counters().refreshes == refreshes_mid); // a migration: no map read
        CHECK(to->pipeline({{"ASKING"}, {"GET", absent}}).back().str == "2");
        // Finish: move the key, give the slot to `to` everywhere.
        auto [host, port] = std::pair{to->settings().host, to->settings().port};
        auto migrated = from->command({"MIGRATE", host, std::to_string(port), key, "0", "5000"});
        REQUIRE(migrated.str == "OK");
        for (const auto& m : masters) {
            m->command({"CLUSTER", "SETSLOT", slot, "NODE", to_id});
        }
        auto moved_before = client->counters().moved;
        auto refreshes_before = client->counters().refreshes;
        CHECK(client->command({"GET", key}).str == "1");
        CHECK(client->counters().moved == moved_before + 1);
        CHECK(client->counters().refreshes > refreshes_before); // the map was read again
        CHECK(client->command({"GET", key}).str == "1");
        CHECK(client->counters().moved == moved_before + 1); // no second redirect
    }

    TEST_CASE("three limiters over the cluster keep one budget, each host's keys on one slot") {
        test::RedisClusterSet cluster;
        LogCapture logs;
        auto client = redis::make_client(cluster_settings(cluster), util::SystemClock::instance());
        std::vector<std::unique_ptr<resilience::RedisRateLimiter>> limiters;
        for (int i = 0; i < 3; ++i) {
            limiters.push_back(std::make_unique<resilience::RedisRateLimiter>(
                *client, "df", resilience::RateLimit{600, 1},
                std::map<std::string, resilience::RateLimit>{}, 3, util::SystemClock::instance()));
        }
        std::mutex m;
        std::vector<std::chrono::steady_clock::time_point> sent;
        std::vector<std::thread> threads;
        for (int i = 0; i < 3; ++i) {
            threads.emplace_back([&, i] {
                for (int n = 0; n < 6; ++n) {
                    auto r = limiters[i]->reserve("esploradati.istat.it", 5s);
                    REQUIRE(r.granted);
                    {
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
        CHECK(sent.back() - sent.front() >= 1600ms); // 18 at 10/s, burst 1: the shared budget
        for (const auto& l : limiters) {
            CHECK_FALSE(l->degraded());
        }
        // Different hosts' buckets land on different slots (spread over the shards): the
        // script runs on nodes that have never seen it (NOSCRIPT, loaded there).
        for (const auto* host : {"api.insee.fr", "sdmx.oecd.org", "data-api.ecb.europa.eu"}) {
            CHECK(limiters[1]->reserve(host, 5s).granted);
        }
        CHECK_FALSE(limiters[1]->degraded());
        limiters[0]->back_off("esploradati.istat.it", 10ms);
        std::set<int> slots;
        for (const auto* host : {"esploradati.istat.it", "api.insee.fr", "sdmx.oecd.org"}) {
            slots.insert(redis::key_slot(std::string("df:v1:ratelimit:{") + host + "}"));
            CHECK(redis::key_slot(std::string("df:v1:ratelimit:{") + host + "}") ==
                  redis::key_slot(std::string("df:v1:ratelimit:{") + host + "}:backoff"));
        }
        CHECK(slots.size() == 3);
        auto text = logs.text();
        CHECK(text.find("CROSSSLOT") == std::string::npos);
        CHECK(text.find("share of the budget") == std::string::npos);
    }

    TEST_CASE("a master killed: its replica is promoted and the cache is back within a bound") {
        test::RedisClusterSet cluster;
        cache::RedisCache c(cluster_settings(cluster), "df", 1 << 20, quick_breaker(),
                            util::SystemClock::instance());
        const std::string key = "analysis:failover";
        c.set(key, entry("before"));
        REQUIRE(c.get(key).hit());
        // Replication is asynchronous: a write not yet on the replica is lost with its master.
        REQUIRE(c.client().command_for("df:v1:g0:" + key, {"WAIT", "1", "5000"}).integer == 1);
        auto slot = redis::key_slot("df:v1:g0:" + key);
        cluster.kill_master_of(slot);
        auto killed = std::chrono::steady_clock::now();
        // Until the replica is promoted the entry is served from the near cache (no error),
        // then writes reach Redis again.
        std::chrono::steady_clock::duration back{};
        std::string last_error;
        while (std::chrono::steady_clock::now() - killed < 20s) {
            CHECK(c.get(key).hit()); // from the near cache until the promotion
            c.set(key, entry("after"));
            try {
                auto v = c.client().command({"GET", "df:v1:g0:" + key});
                if (v.type == Value::Type::string && v.str.ends_with("after")) {
                    back = std::chrono::steady_clock::now() - killed;
                    break;
                }
            } catch (const redis::Error& e) {
                last_error = e.what();
            }
            std::this_thread::sleep_for(100ms);
        }
        MESSAGE("cluster failover: Redis writes back after "
                << std::chrono::duration_cast<std::chrono::milliseconds>(back).count()
                << " ms; last error before: " << last_error);
        REQUIRE(back > 0s);
        CHECK(back < 15s);
        CHECK(c.client().counters().failovers >= 1);
    }
}

TEST_SUITE("redis sentinel") {
    TEST_CASE("the cache behind sentinels: the master asked of them, separate AUTH, failover") {
        test::RedisSentinelSet set;
        LogCapture logs;
        cache::RedisCache c(sentinel_settings(set), "df", 1 << 20, quick_breaker(),
                            util::SystemClock::instance());
        c.set("analysis:a", entry("a", {"analysis"}));
        REQUIRE(c.get("analysis:a").hit());
        auto master = node(set.master_port(), test::RedisSentinelSet::k_data_password);
        CHECK(master->command({"EXISTS", "df:v1:g0:analysis:a"}).integer == 1);
        auto stats = c.stats();
        CHECK(stats.redis_mode == "sentinel");
        REQUIRE(stats.redis_nodes.size() == 4); // the master, three sentinels
        CHECK(stats.redis_nodes[0].role == "master");
        CHECK(stats.redis_nodes[0].endpoint == "127.0.0.1:" + std::to_string(set.master_port()));
        CHECK(stats.entries == 2); // the entry and its tag set
        // Secrets never show: not in the endpoint, not in the nodes.
        auto shown = stats.endpoint;
        for (const auto& n : stats.redis_nodes) {
            shown += n.endpoint + n.error;
        }
        CHECK(shown.find(test::RedisSentinelSet::k_data_password) == std::string::npos);
        CHECK(shown.find(test::RedisSentinelSet::k_sentinel_password) == std::string::npos);

        // Replication is asynchronous: a write not yet on the replica is lost with its master.
        REQUIRE(c.client().command({"WAIT", "1", "5000"}).integer == 1);
        set.master().kill();
        auto killed = std::chrono::steady_clock::now();
        std::chrono::steady_clock::duration back{};
        while (std::chrono::steady_clock::now() - killed < 30s) {
            CHECK(c.get("analysis:a").hit()); // the near cache meanwhile
            c.set("analysis:b", entry("b"));
            if (set.current_master_port() == set.replica_port()) {
                auto replica = node(set.replica_port(), test::RedisSentinelSet::k_data_password);
                if (replica->command({"EXISTS", "df:v1:g0:analysis:b"}).integer == 1) {
                    back = std::chrono::steady_clock::now() - killed;
                    break;
                }
            }
            std::this_thread::sleep_for(100ms);
        }
        MESSAGE("sentinel failover: Redis writes back after "
                << std::chrono::duration_cast<std::chrono::milliseconds>(back).count() << " ms");
        REQUIRE(back > 0s);
        CHECK(back < 20s);
        CHECK(c.client().counters().failovers >= 1);
        auto after = c.stats();
        CHECK(after.redis_nodes[0].endpoint == "127.0.0.1:" + std::to_string(set.replica_port()));
        CHECK(logs.text().find(test::RedisSentinelSet::k_data_password) == std::string::npos);
    }

    TEST_CASE("a planned failover is followed through +switch-master, before any error") {
        test::RedisSentinelSet set;
        auto client = redis::make_client(sentinel_settings(set), util::SystemClock::instance());
        REQUIRE(client->command({"SET", "k", "v"}).str == "OK"); // starts the subscription
        auto old_master = "127.0.0.1:" + std::to_string(set.master_port());
        auto new_master = "127.0.0.1:" + std::to_string(set.replica_port());
        REQUIRE(client->nodes().front().endpoint == old_master);
        std::this_thread::sleep_for(300ms); // the subscription is up (it polls every 200 ms)
        auto sentinel =
            node(set.sentinel_ports().front(), test::RedisSentinelSet::k_sentinel_password);
        REQUIRE(sentinel->command({"SENTINEL", "FAILOVER", test::RedisSentinelSet::k_master_name})
                    .str == "OK");
        // No command is sent meanwhile: only the sentinels' message can tell the client.
        auto deadline = std::chrono::steady_clock::now() + 20s;
        while (client->nodes().front().endpoint != new_master &&
               std::chrono::steady_clock::now() < deadline) {
            std::this_thread::sleep_for(50ms);
        }
        CHECK(client->nodes().front().endpoint == new_master);
        CHECK(client->counters().failovers == 1);
        CHECK(client->command({"GET", "k"}).str == "v");
        CHECK(client->command({"SET", "k", "w"}).str == "OK"); // a master: writes work
    }

    TEST_CASE("the subscription moves to another sentinel when its own dies") {
        test::RedisSentinelSet set;
        auto client = redis::make_client(sentinel_settings(set), util::SystemClock::instance());
        REQUIRE(client->command({"SET", "k", "v"}).str == "OK"); // subscribes to sentinel 0
        std::this_thread::sleep_for(300ms);
        set.sentinel(0).kill();
        std::this_thread::sleep_for(1500ms); // the watcher finds it gone and takes the next
        auto new_master = "127.0.0.1:" + std::to_string(set.replica_port());
        auto sentinel = node(set.sentinel_ports()[1], test::RedisSentinelSet::k_sentinel_password);
        REQUIRE(sentinel->command({"SENTINEL", "FAILOVER", test::RedisSentinelSet::k_master_name})
                    .str == "OK");
        auto deadline = std::chrono::steady_clock::now() + 20s;
        while (client->nodes().front().endpoint != new_master &&
               std::chrono::steady_clock::now() < deadline) {
            std::this_thread::sleep_for(50ms);
        }
        CHECK(client->nodes().front().endpoint == new_master);
        CHECK(client->command({"SET", "k", "w"}).str == "OK");
    }

    TEST_CASE("a wrong master name or unreachable sentinels: a clear error, no crash") {
        test::RedisSentinelSet set;
        auto s = sentinel_settings(set);
        s.sentinel_master = "nosuchmaster";
        auto client = redis::make_client(s, util::SystemClock::instance());
        try {
            client->command({"PING"});
            FAIL("a command without a master succeeded");
        } catch (const redis::Error& e) {
            std::string what = e.what();
            CHECK(what.find("nosuchmaster") != std::string::npos);
            CHECK(what.find(test::RedisSentinelSet::k_sentinel_password) == std::string::npos);
        }
        auto wrong = sentinel_settings(set);
        wrong.sentinel_password = "not-the-password";
        auto refused = redis::make_client(wrong, util::SystemClock::instance());
        CHECK_THROWS_AS(refused->command({"PING"}), redis::Error);
    }
}

// Cluster on one machine: three `dataflow serve` replicas on loopback ports sharing one real
// Redis, in front of the fake SDMX upstream. Counts what reaches the upstream.

#include "redis/client.hpp"
#include "support/fake_upstream.hpp"
#include "support/redis_server.hpp"
#include "support/redis_topology.hpp"
#include "support/serve.hpp"
#include "support/support.hpp"

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include <array>
#include <atomic>
#include <filesystem>
#include <functional>
#include <httplib.h>
#include <mutex>
#include <thread>

using dataflow::test::eventually;
using dataflow::test::FakeResponse;
using dataflow::test::FakeUpstream;
using dataflow::test::Faults;
using dataflow::test::RedisServer;
using dataflow::test::ServeProcess;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

namespace {

const std::string k_admin = "cluster-admin-token-0123456789abcdef";

struct Cluster {
    RedisServer redis;
    FakeUpstream upstream;
    std::vector<std::unique_ptr<ServeProcess>> replicas;
    std::vector<std::string> env;

    void add_replica() {
        replicas.push_back(
            std::make_unique<ServeProcess>(env, std::vector<std::string>{"--no-catalog"}));
    }

    explicit Cluster(std::vector<std::string> extra = {}, int count = 3) {
        upstream.route("/rest/dataflow/*",
                       FakeResponse{200,
                                    dataflow::test::read_file(dataflow::test::bundled_catalog()),
                                    "application/xml",
                                    {},
                                    {}});
        env = {"DATAFLOW_CACHE_BACKEND=redis",
               "DATAFLOW_REDIS_HOST=127.0.0.1",
               "DATAFLOW_REDIS_PORT=" + std::to_string(redis.port()),
               "DATAFLOW_UPSTREAM_BASE_URL=" + upstream.base(),
               "DATAFLOW_CATALOG_MODE=upstream",
               "DATAFLOW_API_ADMIN_ENABLED=true",
               "DATAFLOW_AUTH_MODE=token",
               "DATAFLOW_AUTH_ADMIN_TOKENS=" + k_admin,
               "DATAFLOW_UPSTREAM_RETRIES=0"};
        env = dataflow::test::merge_env(env, extra);
        for (int i = 0; i < count; ++i) {
            add_replica();
        }
    }

    httplib::Client client(std::size_t i) const {
        auto c = replicas[i]->client();
        c.set_bearer_token_auth(k_admin.c_str());
        return c;
    }

    /// GET /api/v1/dataflows on replica i (status, JSON or null).
    std::pair<int, nlohmann::json> dataflows(std::size_t i) const {
        auto r = client(i).Get("/api/v1/dataflows?limit=1");
        if (!r) {
            return {0, nullptr};
        }
        return {r->status, nlohmann::json::parse(r->body, nullptr, false)};
    }

    bool wait_for_catalogue(std::size_t i, std::chrono::milliseconds within) const {
        auto deadline = Clock::now() + within;
        while (Clock::now() < deadline) {
            if (dataflows(i).first == 200) {
                return true;
            }
            std::this_thread::sleep_for(50ms);
        }
        return false;
    }

    void refresh(std::size_t i) const {
        auto r = client(i).Post("/api/v1/catalog/refresh");
        REQUIRE(r);
        REQUIRE(r->status == 202);
    }

    std::size_t catalogue_requests() const {
        std::size_t n = 0;
        for (const auto& r : upstream.requests()) {
            n += r.target.find("/dataflow/") != std::string::npos ? 1 : 0;
        }
        return n;
    }
};

/// Upstream requests since `start`, and the budget for the time since: the burst, the rate,
/// and `slack` tokens (a token refilled while measuring; the local limiters' bursts while Redis
/// is away).
std::pair<std::size_t, double> upstream_use(const Cluster& cluster, Clock::time_point start,
                                            double per_minute, double slack) {
    auto elapsed = std::chrono::duration<double>(Clock::now() - start).count();
    std::size_t during = 0;
    for (const auto& r : cluster.upstream.requests()) {
        during += r.at >= start ? 1 : 0;
    }
    return {during, 1 + elapsed * per_minute / 60.0 + slack};
}

/// Every replica wants the upstream far more than the budget: a forced refresh every 100 ms.
struct Wanters {
    std::atomic<bool> stop{false};
    std::vector<std::thread> threads;
    explicit Wanters(const Cluster& cluster) {
        for (std::size_t i = 0; i < cluster.replicas.size(); ++i) {
            threads.emplace_back([&, i] {
                auto c = cluster.client(i);
                while (!stop) {
                    c.Post("/api/v1/catalog/refresh");
                    std::this_thread::sleep_for(100ms);
                }
            });
        }
    }
    ~Wanters() {
        stop = true;
        for (auto& t : threads) {
            t.join();
        }
    }
};

/// The bundled catalogue with a marker, so that each variant is a new analysis.
std::string analysis_body(int variant) {
    static const std::string xml = dataflow::test::read_file(dataflow::test::bundled_catalog());
    return nlohmann::json{{"xml_content", xml + "<!-- variant " + std::to_string(variant) + " -->"},
                          {"max_results", 5},
                          {"include_tests", false}}
        .dump();
}

/// Kills a Redis master (`kill`) while the replicas answer traffic: no 5xx at any time, the
/// budget holds, and within `bound` the replicas use the new master (`recovered`, asked of
/// replica 0's /health/status) and an analysis stored by replica 0 is a cache hit on replica 1
/// (so through Redis). Returns the time from the kill to both.
std::chrono::milliseconds
failover_under_load(Cluster& cluster, const std::function<void()>& kill,
                    const std::function<bool(const nlohmann::json&)>& recovered,
                    std::chrono::seconds bound) {
    std::atomic<bool> stop{false};
    std::atomic<int> answers{0};
    std::atomic<int> server_errors{0};
    std::mutex m;
    std::string first_error;
    std::vector<std::thread> load;
    for (int t = 0; t < 2; ++t) {
        load.emplace_back([&, t] {
            int n = 0;
            while (!stop) {
                auto i = static_cast<std::size_t>(n++ % 3);
                auto c = cluster.client(i);
                auto r = n % 2 == 0 ? c.Get("/api/v1/dataflows?limit=5")
                                    : c.Post("/api/analysis/dataflow", analysis_body(t),
                                             "application/json");
                ++answers;
                if (!r || r->status >= 500) {
                    ++server_errors;
                    std::lock_guard lock(m);
                    if (first_error.empty()) {
                        first_error = r ? std::to_string(r->status) + " " + r->body
                                        : std::string("no answer");
                    }
                }
            }
        });
    }
    Wanters wanters(cluster);
    auto start = Clock::now();
    std::this_thread::sleep_for(500ms);
    kill();
    auto killed = Clock::now();
    std::chrono::milliseconds back{0};
    std::string last_read;
    for (int variant = 100; Clock::now() - killed < bound; ++variant) {
        auto stored = cluster.client(0).Post("/api/analysis/dataflow", analysis_body(variant),
                                             "application/json");
        auto read = cluster.client(1).Post("/api/analysis/dataflow", analysis_body(variant),
                                           "application/json");
        if (stored && read && stored->status == 200 && read->status == 200) {
            auto metrics = nlohmann::json::parse(read->body)["performance_metrics"];
            last_read = metrics.dump();
            auto status = cluster.client(0).Get("/health/status");
            if (metrics["cache_hit"] == true && status &&
                recovered(nlohmann::json::parse(status->body)["redis"])) {
                back = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - killed);
                break;
            }
        }
        std::this_thread::sleep_for(100ms);
    }
    CAPTURE(last_read);
    std::this_thread::sleep_for(500ms);
    stop = true;
    for (auto& t : load) {
        t.join();
    }
    auto [during, budget] = upstream_use(cluster, start, 30, 1 + 3);
    MESSAGE("failover: cache hits through Redis again "
            << back.count() << " ms after the kill; " << answers.load() << " answers, "
            << server_errors.load() << " 5xx; " << during << " upstream requests (budget " << budget
            << ")");
    CAPTURE(first_error);
    CHECK(server_errors == 0);
    CHECK(answers > 20);
    CHECK(back.count() > 0);
    CHECK(static_cast<double>(during) <= budget);
    return back;
}

/// No log line of any replica shows a redirect or a cross-slot refusal.
void no_routing_warnings(const Cluster& cluster) {
    for (const auto& r : cluster.replicas) {
        auto err = r->process->err();
        CHECK(err.find("MOVED") == std::string::npos);
        CHECK(err.find("CROSSSLOT") == std::string::npos);
    }
}

} // namespace

TEST_SUITE("cluster") {
    TEST_CASE("a catalogue fetched by one replica is served by the others without another call") {
        Cluster cluster({}, 1);
        REQUIRE(cluster.wait_for_catalogue(0, 15s));
        CHECK(cluster.catalogue_requests() == 1);
        auto first = cluster.dataflows(0).second;

        // Two more replicas start later: they find the catalogue in Redis.
        cluster.add_replica();
        cluster.add_replica();
        for (std::size_t i = 1; i < 3; ++i) {
            REQUIRE(cluster.wait_for_catalogue(i, 15s));
            auto doc = cluster.dataflows(i).second;
            CHECK(doc["total_analyzed"] == first["total_analyzed"]);
            CHECK(doc["total_analyzed"].get<int>() > 400);
            CHECK(doc["stale"] == false);
        }
        CHECK(cluster.catalogue_requests() == 1);
        CHECK(cluster.upstream.request_count() == 1);
    }

    TEST_CASE("together the replicas never exceed the upstream budget") {
        // 30 requests a minute, burst 1, shared through Redis: at most 1 + 0.5/s.
        Cluster cluster(
            {"DATAFLOW_UPSTREAM_RATE_LIMIT_PER_MINUTE=30", "DATAFLOW_UPSTREAM_RATE_LIMIT_BURST=1"});
        for (std::size_t i = 0; i < 3; ++i) {
            REQUIRE(cluster.wait_for_catalogue(i, 15s));
        }
        auto start = Clock::now();
        // Every replica wants far more: a forced refresh every 100 ms each, for 8 s.
        std::atomic<bool> stop{false};
        std::vector<std::thread> wanters;
        for (std::size_t i = 0; i < 3; ++i) {
            wanters.emplace_back([&, i] {
                auto c = cluster.client(i);
                while (!stop) {
                    c.Post("/api/v1/catalog/refresh");
                    std::this_thread::sleep_for(100ms);
                }
            });
        }
        std::this_thread::sleep_for(8s);
        stop = true;
        for (auto& t : wanters) {
            t.join();
        }
        auto elapsed = std::chrono::duration<double>(Clock::now() - start).count();
        std::size_t during = 0;
        for (const auto& r : cluster.upstream.requests()) {
            during += r.at >= start ? 1 : 0;
        }
        // The budget over the window: the burst plus the rate, with one token of slack for
        // the token refilled while the window was being measured.
        auto budget = 1 + elapsed * 30.0 / 60.0 + 1;
        MESSAGE("upstream requests in " << elapsed << " s: " << during << " (budget " << budget
                                        << ", 3 replicas asking ~30/s)");
        CHECK(during >= 2); // they did get some
        CHECK(static_cast<double>(during) <= budget);
        // Every replica still serves its catalogue.
        for (std::size_t i = 0; i < 3; ++i) {
            CHECK(cluster.dataflows(i).first == 200);
        }
    }

    TEST_CASE("one refresh at a time: the cache lock makes the others wait and reuse it") {
        Cluster cluster({"DATAFLOW_UPSTREAM_RATE_LIMIT_PER_MINUTE=600",
                         "DATAFLOW_UPSTREAM_RATE_LIMIT_BURST=10"});
        for (std::size_t i = 0; i < 3; ++i) {
            REQUIRE(cluster.wait_for_catalogue(i, 15s));
        }
        auto before = cluster.catalogue_requests();
        // The fetch is slow enough (3 s, under cache.lock_wait's 5 s) that all three refresh
        // requests reach their replicas while the first holds the lock, even on a loaded
        // sanitizer run; a refresh asked after the fetch ended would rightly fetch again.
        Faults slow;
        slow.latency = 3000ms;
        cluster.upstream.set_faults(slow);
        for (std::size_t i = 0; i < 3; ++i) {
            cluster.refresh(i);
        }
        // All three asked at once; one fetched while the others waited on the lock.
        CHECK(eventually([&] { return cluster.catalogue_requests() > before; }, 5s));
        std::this_thread::sleep_for(4500ms);
        CHECK(cluster.upstream.max_concurrent() == 1);
        CHECK(cluster.catalogue_requests() == before + 1);
    }

    TEST_CASE("a 429 seen by one replica stops all of them until Retry-After") {
        Cluster cluster({"DATAFLOW_UPSTREAM_RATE_LIMIT_PER_MINUTE=600",
                         "DATAFLOW_UPSTREAM_RATE_LIMIT_BURST=10",
                         "DATAFLOW_UPSTREAM_RETRY_AFTER_MIN=1s"});
        for (std::size_t i = 0; i < 3; ++i) {
            REQUIRE(cluster.wait_for_catalogue(i, 15s));
        }
        Faults banned;
        banned.fail_next = 1;
        banned.fail_status = 429;
        banned.fail_retry_after = "3";
        cluster.upstream.set_faults(banned);
        auto before = cluster.upstream.request_count();
        cluster.refresh(0);
        REQUIRE(eventually([&] { return cluster.upstream.request_count() == before + 1; }, 5s));
        auto banned_at = Clock::now();
        // The other replicas want the upstream now: none of them calls it.
        cluster.refresh(1);
        cluster.refresh(2);
        cluster.refresh(0);
        std::this_thread::sleep_for(1500ms);
        CHECK(cluster.upstream.request_count() == before + 1);
        // The catalogues are still served (stale), never lost.
        for (std::size_t i = 0; i < 3; ++i) {
            CHECK(cluster.dataflows(i).first == 200);
        }
        // After Retry-After, a replica that did not see the 429 may call again.
        std::this_thread::sleep_until(banned_at + 3500ms);
        cluster.refresh(2);
        CHECK(eventually([&] { return cluster.upstream.request_count() > before + 1; }, 5s));
        auto requests = cluster.upstream.requests();
        CHECK(requests.back().at - banned_at >= 2900ms);
    }

    TEST_CASE("a config reload on one replica's directory changes only that replica") {
        Cluster cluster;
        auto rules = [&](std::size_t i) {
            auto r = cluster.client(i).Get("/api/analysis/rules");
            REQUIRE(r);
            REQUIRE(r->status == 200);
            return r->body;
        };
        for (std::size_t i = 0; i < 3; ++i) {
            CHECK(rules(i).find("cluster_only") == std::string::npos);
        }
        dataflow::test::write_file(cluster.replicas[1]->config_dir() / "dataflow.toml",
                                   "[[analysis.rules]]\ncategory = \"cluster_only\"\n"
                                   "keywords = [\"zzz\"]\npriority = 1\n");
        CHECK(eventually([&] { return rules(1).find("cluster_only") != std::string::npos; }, 10s));
        CHECK(rules(0).find("cluster_only") == std::string::npos);
        CHECK(rules(2).find("cluster_only") == std::string::npos);
    }

    TEST_CASE("on a Redis Cluster: one catalogue fetch, one budget, a master failover under load "
              "without a 5xx") {
        dataflow::test::RedisClusterSet rc;
        Cluster cluster({"DATAFLOW_REDIS_MODE=cluster",
                         "DATAFLOW_REDIS_PORT=" + std::to_string(rc.seed_port()),
                         "DATAFLOW_UPSTREAM_RATE_LIMIT_PER_MINUTE=30",
                         "DATAFLOW_UPSTREAM_RATE_LIMIT_BURST=1", "DATAFLOW_UPSTREAM_REPLICAS=3"},
                        1);
        REQUIRE(cluster.wait_for_catalogue(0, 15s));
        cluster.add_replica();
        cluster.add_replica();
        for (std::size_t i = 1; i < 3; ++i) {
            REQUIRE(cluster.wait_for_catalogue(i, 15s));
        }
        CHECK(cluster.catalogue_requests() == 1);
        {
            auto start = Clock::now();
            {
                Wanters wanters(cluster);
                std::this_thread::sleep_for(5s);
            }
            auto [during, budget] = upstream_use(cluster, start, 30, 1);
            MESSAGE("Redis Cluster: upstream requests " << during << " (budget " << budget << ")");
            CHECK(during >= 2);
            CHECK(static_cast<double>(during) <= budget);
        }
        // Kill the master holding the cache's generation, which every cache operation reads
        // (so none works until its replica takes over).
        auto slot = dataflow::redis::key_slot("dataflow:v1:generation");
        failover_under_load(
            cluster, [&] { rc.kill_master_of(slot); },
            [](const nlohmann::json& redis) {
                bool all_up = redis["nodes"].size() == 3;
                for (const auto& n : redis["nodes"]) {
                    all_up = all_up && n["reachable"] == true;
                }
                return all_up && redis["failovers"].get<int>() >= 1;
            },
            20s);
        auto status = nlohmann::json::parse(cluster.client(0).Get("/health/status")->body);
        CHECK(status["redis"]["mode"] == "cluster");
        CHECK(status["redis"]["nodes"].size() == 3);
        CHECK(status["redis"]["failovers"].get<int>() >= 1);
        no_routing_warnings(cluster);
    }

    TEST_CASE("behind Sentinel: the master killed under load, no 5xx, the new master found") {
        dataflow::test::RedisSentinelSet rs;
        using Set = dataflow::test::RedisSentinelSet;
        Cluster cluster(
            {"DATAFLOW_REDIS_MODE=sentinel", "DATAFLOW_REDIS_SENTINELS=" + rs.sentinel_list(),
             std::string("DATAFLOW_REDIS_SENTINEL_MASTER=") + Set::k_master_name,
             std::string("DATAFLOW_REDIS_PASSWORD=") + Set::k_data_password,
             std::string("DATAFLOW_REDIS_SENTINEL_PASSWORD=") + Set::k_sentinel_password,
             "DATAFLOW_UPSTREAM_RATE_LIMIT_PER_MINUTE=30", "DATAFLOW_UPSTREAM_RATE_LIMIT_BURST=1",
             "DATAFLOW_UPSTREAM_REPLICAS=3"},
            1);
        REQUIRE(cluster.wait_for_catalogue(0, 15s));
        cluster.add_replica();
        cluster.add_replica();
        for (std::size_t i = 1; i < 3; ++i) {
            REQUIRE(cluster.wait_for_catalogue(i, 15s));
        }
        CHECK(cluster.catalogue_requests() == 1);
        auto promoted = "127.0.0.1:" + std::to_string(rs.replica_port());
        failover_under_load(
            cluster, [&] { rs.master().kill(); },
            [&](const nlohmann::json& redis) {
                return redis["nodes"][0]["endpoint"] == promoted &&
                       redis["nodes"][0]["reachable"] == true && redis["failovers"] == 1;
            },
            25s);
        CHECK(rs.current_master_port() == rs.replica_port());
        for (std::size_t i = 0; i < 3; ++i) {
            auto status = nlohmann::json::parse(cluster.client(i).Get("/health/status")->body);
            CHECK(status["redis"]["mode"] == "sentinel");
            auto body = status.dump();
            CHECK(body.find(Set::k_data_password) == std::string::npos);
            CHECK(body.find(Set::k_sentinel_password) == std::string::npos);
        }
        auto metrics = cluster.client(0).Get("/metrics");
        REQUIRE(metrics);
        REQUIRE(metrics->status == 200);
        CAPTURE(metrics->body);
        CHECK(metrics->body.find("dataflow_redis_failovers_total 1\n") != std::string::npos);
        CHECK(metrics->body.find("dataflow_redis_node_up{endpoint=\"" + promoted +
                                 "\",role=\"master\"} 1\n") != std::string::npos);
        CHECK(metrics->body.find("dataflow_redis_topology_refreshes_total ") != std::string::npos);
    }
}

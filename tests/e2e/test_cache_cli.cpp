// End-to-end: the shared cache with a real redis-server — `analyze` reuses catalogues and probe
// results across processes, serves stale copies when the upstream fails, `cache stats` and
// `cache flush`; the CLI and `serve` share the same entries (lib/live/ builds their keys), so
// a CLI run warms the service's cache and the reverse.

#include "redis/pool.hpp"
#include "support/fake_upstream.hpp"
#include "support/redis_server.hpp"
#include "support/redis_topology.hpp"
#include "support/serve.hpp"
#include "support/support.hpp"
#include "util/clock.hpp"

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <filesystem>
#include <httplib.h>
#include <thread>

using dataflow::test::FakeUpstream;
using dataflow::test::Faults;
using dataflow::test::RedisServer;

namespace {

struct Cluster {
    RedisServer redis;
    FakeUpstream fake;
    dataflow::test::TempDir dir;
    std::vector<std::string> env;

    Cluster() {
        fake.route("/rest/dataflow/IT1",
                   {200,
                    dataflow::test::read_file(dataflow::test::bundled_catalog()),
                    "application/xml",
                    {},
                    {}});
        fake.route("/rest/data/*", {200,
                                    dataflow::test::read_file(dataflow::test::sample(
                                        "AndreaBozzo__Osservatorio/data_124_1157.xml")),
                                    "application/xml",
                                    {},
                                    {}});
        std::filesystem::create_directories(dir.path() / "cfg");
        env = {"DATAFLOW_CONFIG_DIR=" + (dir.path() / "cfg").string(),
               "DATAFLOW_SECRETS_DIR=" + (dir.path() / "cfg").string(),
               "DATAFLOW_UPSTREAM_BASE_URL=" + fake.base(),
               "DATAFLOW_UPSTREAM_RATE_LIMIT_PER_MINUTE=6000",
               "DATAFLOW_UPSTREAM_RATE_LIMIT_BURST=100",
               "DATAFLOW_UPSTREAM_RETRIES=0",
               "DATAFLOW_CACHE_BACKEND=redis",
               "DATAFLOW_REDIS_HOST=127.0.0.1",
               "DATAFLOW_REDIS_PORT=" + std::to_string(redis.port()),
               "DATAFLOW_REDIS_KEY_PREFIX=e2e"};
    }
    dataflow::test::ProcessResult run(std::vector<std::string> args,
                                      std::vector<std::string> extra = {}) {
        args.insert(args.begin(), DATAFLOW_BIN);
        auto e = dataflow::test::merge_env(env, extra);
        return dataflow::test::run_process(args, {}, e, 120000);
    }
    std::size_t catalogue_requests() const {
        std::size_t n = 0;
        for (const auto& r : fake.requests()) {
            n += r.target == "/rest/dataflow/IT1" ? 1 : 0;
        }
        return n;
    }
    std::size_t data_requests() const {
        std::size_t n = 0;
        for (const auto& r : fake.requests()) {
            n += r.target.rfind("/rest/data/", 0) == 0 ? 1 : 0;
        }
        return n;
    }
    /// `dataflow serve` on the same Redis and upstream as the CLI runs, serving the upstream's
    /// catalogue (catalog.mode = upstream), with its own config directories.
    std::unique_ptr<dataflow::test::ServeProcess> serve(std::vector<std::string> extra = {}) {
        std::vector<std::string> e;
        for (const auto& v : env) {
            if (v.rfind("DATAFLOW_CONFIG_DIR=", 0) != 0 &&
                v.rfind("DATAFLOW_SECRETS_DIR=", 0) != 0) {
                e.push_back(v);
            }
        }
        e.emplace_back("DATAFLOW_CATALOG_MODE=upstream");
        e = dataflow::test::merge_env(e, extra);
        return std::make_unique<dataflow::test::ServeProcess>(
            e, std::vector<std::string>{"--no-catalog"});
    }
};

/// Waits (bounded) until the service serves its catalogue; returns the dataflows document.
nlohmann::json wait_for_catalogue(httplib::Client& client) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (true) {
        auto r = client.Get("/api/v1/dataflows?limit=3");
        REQUIRE(r);
        if (r->status == 200) {
            return nlohmann::json::parse(r->body);
        }
        REQUIRE(std::chrono::steady_clock::now() < deadline);
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
}

/// The probed dataflows of a report or bulk answer ("test_results" or "results"): id -> test.
std::map<std::string, nlohmann::json> tests_by_id(const nlohmann::json& list) {
    std::map<std::string, nlohmann::json> out;
    for (const auto& t : list) {
        out[t["test"]["dataflow_id"].get<std::string>()] = t["test"];
    }
    return out;
}

bool has(const std::string& s, const std::string& needle) {
    return s.find(needle) != std::string::npos;
}

} // namespace

TEST_SUITE("cache cli") {
    TEST_CASE("a catalogue fetched by one process is served to the next from Redis") {
        Cluster c;
        auto first = c.run({"analyze", "-o", "json"});
        CAPTURE(first.err);
        REQUIRE(first.exit_code == 0);
        auto m1 = nlohmann::json::parse(first.out)["performance_metrics"];
        CHECK(m1["cache_hit"] == false);
        CHECK(m1["cache_age_seconds"].is_null());
        auto second = c.run({"analyze", "-o", "json"});
        REQUIRE(second.exit_code == 0);
        auto m2 = nlohmann::json::parse(second.out)["performance_metrics"];
        CHECK(m2["cache_hit"] == true);
        CHECK(m2["cache_age_seconds"].get<double>() >= 0.0);
        CHECK(c.catalogue_requests() == 1);
        CHECK(nlohmann::json::parse(second.out)["total_analyzed"] == 456);

        c.run({"analyze", "--no-cache", "-o", "summary"});
        CHECK(c.catalogue_requests() == 2);
        c.run({"analyze", "--refresh", "-o", "summary"});
        CHECK(c.catalogue_requests() == 3);
        c.run({"analyze", "-o", "summary"});
        CHECK(c.catalogue_requests() == 3);
    }

    TEST_CASE("probe results are shared too, --refresh measures again") {
        Cluster c;
        auto first = c.run({"analyze", "--probe", "3", "-o", "json"});
        REQUIRE(first.exit_code == 0);
        CHECK(c.data_requests() == 3);
        auto second = c.run({"analyze", "--probe", "3", "-o", "json"});
        REQUIRE(second.exit_code == 0);
        CHECK(c.data_requests() == 3);
        auto doc = nlohmann::json::parse(second.out);
        CHECK(doc["test_results"].size() == 3);
        CHECK(doc["test_results"][0]["test"]["observations_count"] == 140);
        c.run({"analyze", "--probe", "3", "--refresh", "-o", "json"});
        CHECK(c.data_requests() == 6);
    }

    TEST_CASE("the upstream fails: the stale copy is served, and says so") {
        Cluster c;
        REQUIRE(c.run({"analyze", "-o", "summary"}, {"DATAFLOW_CACHE_FRESH_TTL=1s"}).exit_code ==
                0);
        std::this_thread::sleep_for(std::chrono::milliseconds(1100));
        Faults f;
        f.fail_next = 100;
        c.fake.set_faults(f);
        auto r = c.run({"analyze", "-o", "json"}, {"DATAFLOW_CACHE_FRESH_TTL=1s"});
        CAPTURE(r.err);
        REQUIRE(r.exit_code == 0);
        auto m = nlohmann::json::parse(r.out)["performance_metrics"];
        CHECK(m["cache_hit"] == true);
        CHECK(m["cache_stale"] == true);
        CHECK(has(r.err, "serving the catalogue cached"));
        CHECK(has(r.err, "500 server error"));
        // Without a copy, the failure is the answer.
        auto none = c.run({"analyze", "-o", "json"},
                          {"DATAFLOW_REDIS_KEY_PREFIX=other", "DATAFLOW_CACHE_FRESH_TTL=1s"});
        CHECK(none.exit_code == 69);
    }

    TEST_CASE("cache stats and cache flush (our prefix only)") {
        Cluster c;
        c.run({"analyze", "--probe", "2", "-o", "summary"});
        dataflow::redis::Settings s;
        s.host = "127.0.0.1";
        s.port = c.redis.port();
        dataflow::redis::Pool pool(s, dataflow::util::SystemClock::instance()); // one node
        pool.command({"SET", "someone-else:key", "keep"});

        auto stats = c.run({"cache", "stats", "-o", "json"});
        CAPTURE(stats.err);
        REQUIRE(stats.exit_code == 0);
        auto j = nlohmann::json::parse(stats.out);
        CHECK(j["backend"] == "redis");
        CHECK(j["reachable"] == true);
        CHECK(j["prefix"] == "e2e");
        CHECK(j["entries"].get<int>() >= 3); // the catalogue, two probes (and tag sets)
        auto table = c.run({"cache", "stats"});
        CHECK(has(table.out, "reachable  yes"));

        auto dry = c.run({"cache", "flush", "--tag", "probe", "--dry-run"});
        CHECK(dry.exit_code == 0);
        CHECK(has(dry.out, "would invalidate 2 entries"));
        auto tag = c.run({"cache", "flush", "--tag", "probe", "--yes"});
        CHECK(has(tag.out, "invalidated 2 entries"));
        c.run({"analyze", "--probe", "2", "-o", "summary"});
        CHECK(c.data_requests() == 4);      // probed again
        CHECK(c.catalogue_requests() == 1); // the catalogue was kept

        auto all = c.run({"cache", "flush", "--yes"});
        CHECK(all.exit_code == 0);
        CHECK(has(all.out, "invalidated"));
        c.run({"analyze", "-o", "summary"});
        CHECK(c.catalogue_requests() == 2);
        CHECK(pool.command({"GET", "someone-else:key"}).str == "keep");

        c.redis.stop();
        auto down = c.run({"cache", "stats"});
        CHECK(down.exit_code == 69);
        CHECK(has(down.out, "reachable  NO"));
        auto flush_down = c.run({"cache", "flush", "--yes"});
        CHECK(flush_down.exit_code == 69);
        CHECK(has(flush_down.err, "nothing was flushed"));
        // And analyze still works without Redis (the cache never fails a request).
        auto analyze = c.run({"analyze", "-o", "summary"});
        CHECK(analyze.exit_code == 0);
    }

    TEST_CASE("a CLI run warms the service: its catalogue and probes are served without an "
              "upstream call") {
        Cluster c;
        auto cli = c.run({"analyze", "--probe", "3", "-o", "json"});
        CAPTURE(cli.err);
        REQUIRE(cli.exit_code == 0);
        auto measured = tests_by_id(nlohmann::json::parse(cli.out)["test_results"]);
        REQUIRE(measured.size() == 3);
        REQUIRE(c.catalogue_requests() == 1);
        REQUIRE(c.data_requests() == 3);
        auto upstream_calls = c.fake.request_count(); // whatever the target

        auto server = c.serve();
        auto client = server->client();
        auto list = wait_for_catalogue(client);
        CHECK(list["total_analyzed"] == 456);
        CHECK(list["source"]["name"] == c.fake.base() + "/dataflow/IT1");
        CHECK(list["stale"] == false);
        CHECK(c.fake.request_count() == upstream_calls); // the CLI's copy, under the same key

        nlohmann::json ids = nlohmann::json::array();
        for (const auto& [id, test] : measured) {
            ids.push_back(id);
        }
        nlohmann::json body{{"dataflow_ids", ids}, {"include_tests", true}};
        auto r = client.Post("/api/analysis/dataflow/bulk", body.dump(), "application/json");
        REQUIRE(r);
        CAPTURE(r->body);
        REQUIRE(r->status == 200);
        auto served = tests_by_id(nlohmann::json::parse(r->body)["results"]);
        REQUIRE(served.size() == 3);
        for (const auto& [id, test] : measured) {
            CAPTURE(id);
            // The CLI's measurement itself (same time), not pending and not measured again.
            CHECK(served[id]["outcome"] == "success");
            CHECK(served[id]["tested_at"] == test["tested_at"]);
            CHECK(served[id]["observations_count"] == test["observations_count"]);
        }
        CHECK(c.fake.request_count() == upstream_calls);
    }

    TEST_CASE("the service warms the CLI: analyze --probe reuses its catalogue and probes") {
        Cluster c;
        std::map<std::string, nlohmann::json> measured;
        {
            auto server = c.serve({"DATAFLOW_API_MAX_PROBES_PER_REQUEST=3"});
            auto client = server->client();
            wait_for_catalogue(client);
            REQUIRE(c.catalogue_requests() == 1);
            // The analysis route ranks as `analyze` does (same catalogue, limit 100, min score
            // 0) and schedules probes of its 3 best: wait until they are measured.
            nlohmann::json body{
                {"xml_content", dataflow::test::read_file(dataflow::test::bundled_catalog())},
                {"include_tests", true},
                {"max_results", 100}};
            auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
            while (true) {
                auto r = client.Post("/api/analysis/dataflow", body.dump(), "application/json");
                REQUIRE(r);
                REQUIRE(r->status == 200);
                measured = tests_by_id(nlohmann::json::parse(r->body)["test_results"]);
                REQUIRE(measured.size() == 3);
                bool done = true;
                for (const auto& [id, test] : measured) {
                    done = done && test["outcome"] == "success";
                }
                if (done) {
                    break;
                }
                REQUIRE(std::chrono::steady_clock::now() < deadline);
                std::this_thread::sleep_for(std::chrono::milliseconds(50));
            }
            REQUIRE(c.data_requests() == 3);
        }
        auto upstream_calls = c.fake.request_count(); // whatever the target
        auto cli = c.run({"analyze", "--probe", "3", "-o", "json"});
        CAPTURE(cli.err);
        REQUIRE(cli.exit_code == 0);
        auto doc = nlohmann::json::parse(cli.out);
        CHECK(doc["performance_metrics"]["cache_hit"] == true);
        auto reused = tests_by_id(doc["test_results"]);
        REQUIRE(reused.size() == 3);
        for (const auto& [id, test] : measured) {
            CAPTURE(id);
            REQUIRE(reused.count(id) == 1);
            CHECK(reused[id]["tested_at"] == test["tested_at"]);
        }
        CHECK(c.fake.request_count() == upstream_calls);
    }

    TEST_CASE("on a Redis Cluster and behind Sentinel: the second analyze is a cache hit, stats "
              "and flush walk every master") {
        dataflow::test::RedisClusterSet rc;
        dataflow::test::RedisSentinelSet rs;
        using Set = dataflow::test::RedisSentinelSet;
        const std::vector<std::pair<std::string, std::vector<std::string>>> topologies{
            {"cluster",
             {"DATAFLOW_REDIS_MODE=cluster",
              "DATAFLOW_REDIS_PORT=" + std::to_string(rc.seed_port())}},
            {"sentinel",
             {"DATAFLOW_REDIS_MODE=sentinel", "DATAFLOW_REDIS_SENTINELS=" + rs.sentinel_list(),
              std::string("DATAFLOW_REDIS_SENTINEL_MASTER=") + Set::k_master_name,
              std::string("DATAFLOW_REDIS_PASSWORD=") + Set::k_data_password,
              std::string("DATAFLOW_REDIS_SENTINEL_PASSWORD=") + Set::k_sentinel_password}}};
        for (const auto& [mode, extra] : topologies) {
            CAPTURE(mode);
            Cluster c; // its standalone Redis stays unused: `extra` points elsewhere
            auto first = c.run({"analyze", "--probe", "2", "-o", "json"}, extra);
            CAPTURE(first.err);
            REQUIRE(first.exit_code == 0);
            CHECK(nlohmann::json::parse(first.out)["performance_metrics"]["cache_hit"] == false);
            auto calls = c.fake.request_count();
            auto second = c.run({"analyze", "--probe", "2", "-o", "json"}, extra);
            REQUIRE(second.exit_code == 0);
            CHECK(nlohmann::json::parse(second.out)["performance_metrics"]["cache_hit"] == true);
            CHECK(c.fake.request_count() == calls); // no further upstream call at all
            for (const auto& err : {first.err, second.err}) {
                CHECK_FALSE(has(err, "MOVED"));
                CHECK_FALSE(has(err, "CROSSSLOT"));
                CHECK_FALSE(has(err, "serving without Redis"));
                CHECK_FALSE(has(err, "share of the budget"));
            }
            CHECK(c.redis.running()); // and untouched:
            dataflow::redis::Settings local;
            local.host = "127.0.0.1";
            local.port = c.redis.port();
            dataflow::redis::Pool unused(local, dataflow::util::SystemClock::instance());
            CHECK(unused.command({"DBSIZE"}).integer == 0);

            auto stats = c.run({"cache", "stats", "-o", "json"}, extra);
            CAPTURE(stats.err);
            REQUIRE(stats.exit_code == 0);
            auto j = nlohmann::json::parse(stats.out);
            CHECK(j["mode"] == mode);
            CHECK(j["reachable"] == true);
            CHECK(j["entries"].get<int>() >= 3);
            CHECK(j["nodes"].size() == (mode == "cluster" ? 3u : 4u));
            CHECK_FALSE(has(stats.out, Set::k_data_password));
            CHECK_FALSE(has(stats.out, Set::k_sentinel_password));
            auto table = c.run({"cache", "stats"}, extra);
            CHECK(has(table.out, "mode       " + mode));

            auto tag = c.run({"cache", "flush", "--tag", "probe", "--yes"}, extra);
            CAPTURE(tag.err);
            CHECK(has(tag.out, "invalidated 2 entries"));
            auto all = c.run({"cache", "flush", "--yes"}, extra);
            CHECK(all.exit_code == 0);
            auto again = c.run({"analyze", "-o", "json"}, extra);
            REQUIRE(again.exit_code == 0);
            CHECK(nlohmann::json::parse(again.out)["performance_metrics"]["cache_hit"] == false);
        }
    }
}

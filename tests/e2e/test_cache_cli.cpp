// End-to-end: the shared cache with a real redis-server — `analyze` reuses catalogues and probe
// results across processes, serves stale copies when the upstream fails, `cache stats` and
// `cache flush`.

#include "redis/pool.hpp"
#include "support/fake_upstream.hpp"
#include "support/redis_server.hpp"
#include "support/support.hpp"
#include "util/clock.hpp"

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include <filesystem>
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
};

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
        dataflow::redis::Pool pool(s, dataflow::util::SystemClock::instance());
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
}

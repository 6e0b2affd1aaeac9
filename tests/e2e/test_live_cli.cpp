// End-to-end: `dataflow analyze URL|<none> [--probe N]` and `dataflow probe` against the fake
// SDMX upstream on 127.0.0.1 (never the real network).

#include "support/fake_upstream.hpp"
#include "support/support.hpp"

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include <csignal>

using dataflow::test::FakeResponse;
using dataflow::test::FakeUpstream;
using dataflow::test::Faults;
using dataflow::test::run_process;

namespace {

std::string fixture(const std::string& path) {
    return dataflow::test::read_file(dataflow::test::sample(path));
}

struct Live {
    FakeUpstream fake;
    dataflow::test::TempDir dir;
    std::vector<std::string> env;

    Live() {
        fake.route("/rest/dataflow/IT1",
                   {200,
                    dataflow::test::read_file(dataflow::test::bundled_catalog()),
                    "application/xml",
                    {},
                    {}});
        fake.route("/rest/data/*", {200,
                                    fixture("AndreaBozzo__Osservatorio/data_124_1157.xml"),
                                    "application/xml",
                                    {},
                                    {}});
        std::filesystem::create_directories(dir.path() / "cfg");
        // Fast and generous for tests; nothing from this machine's /etc/config.
        env = {"DATAFLOW_CONFIG_DIR=" + (dir.path() / "cfg").string(),
               "DATAFLOW_SECRETS_DIR=" + (dir.path() / "cfg").string(),
               "DATAFLOW_UPSTREAM_BASE_URL=" + fake.base(),
               "DATAFLOW_UPSTREAM_RATE_LIMIT_PER_MINUTE=6000",
               "DATAFLOW_UPSTREAM_RATE_LIMIT_BURST=100",
               "DATAFLOW_UPSTREAM_RETRY_BASE_DELAY=10ms",
               "DATAFLOW_UPSTREAM_RETRY_MAX_DELAY=20ms"};
    }
    dataflow::test::ProcessResult run(std::vector<std::string> args,
                                      std::vector<std::string> extra = {},
                                      int interrupt_after_ms = 0) {
        args.insert(args.begin(), DATAFLOW_BIN);
        auto e = dataflow::test::merge_env(env, extra);
        return run_process(args, {}, e, 120000, interrupt_after_ms);
    }
    std::string url(const std::string& path) const {
        return "http://127.0.0.1:" + std::to_string(fake.port()) + path;
    }
};

bool has(const std::string& s, const std::string& needle) {
    return s.find(needle) != std::string::npos;
}

} // namespace

TEST_SUITE("live cli") {
    TEST_CASE("analyze a URL, or the configured upstream's catalogue") {
        Live live;
        auto r = live.run({"analyze", live.url("/rest/dataflow/IT1"), "-o", "summary"});
        CAPTURE(r.err);
        CHECK(r.exit_code == 0);
        CHECK(has(r.out, "Total dataflows analyzed: 456"));
        CHECK(has(r.out, "Source: " + live.url("/rest/dataflow/IT1")));
        auto configured = live.run({"analyze", "-o", "summary"}, {"DATAFLOW_UPSTREAM_AGENCY=IT1"});
        CHECK(configured.exit_code == 0);
        CHECK(has(configured.out, "Total dataflows analyzed: 456"));
        auto reqs = live.fake.requests();
        REQUIRE(reqs.size() == 2);
        CHECK(reqs[1].target == "/rest/dataflow/IT1");
        CHECK(reqs[1].headers["user-agent"].rfind("dataflow/", 0) == 0);
    }

    TEST_CASE("upstream failures: exit 69, 75 or 1, naming the URL") {
        Live live;
        Faults f;
        f.fail_next = 100;
        live.fake.set_faults(f);
        auto down = live.run({"analyze"}, {"DATAFLOW_UPSTREAM_RETRIES=1"});
        CHECK(down.exit_code == 69);
        CHECK(down.out.empty());
        CHECK(has(down.err, "GET " + live.fake.base() + "/dataflow/IT1: 500 server error"));
        CHECK(live.fake.request_count() == 2); // one retry, then give up

        live.fake.clear_requests();
        f.fail_status = 429;
        f.fail_retry_after = "600";
        live.fake.set_faults(f);
        auto limited = live.run({"analyze"});
        CHECK(limited.exit_code == 75);
        CHECK(has(limited.err, "429 Too Many Requests"));
        CHECK(has(limited.err, "try again after 20"));
        CHECK(live.fake.request_count() == 1); // a 429 is never retried

        live.fake.set_faults(Faults{});
        auto missing = live.run({"analyze"}, {"DATAFLOW_UPSTREAM_AGENCY=XX9"});
        CHECK(missing.exit_code == 1);
        CHECK(has(missing.err, "/dataflow/XX9: 404: no data for this query (SDMX error 100: No "
                               "Results Found); check upstream.agency"));

        live.fake.route("/rest/dataflow/HTML", {200,
                                                "<html><head><title>Maintenance</title></head>"
                                                "<body>back soon</body></html>",
                                                "text/html",
                                                {},
                                                {}});
        auto html = live.run({"analyze", live.url("/rest/dataflow/HTML")});
        CHECK(html.exit_code == 1);
        CHECK(has(html.err, "Maintenance"));

        auto closed = live.run({"analyze"}, {"DATAFLOW_UPSTREAM_BASE_URL=http://127.0.0.1:1/rest",
                                             "DATAFLOW_UPSTREAM_RETRIES=0"});
        CHECK(closed.exit_code == 69);
        CHECK(has(closed.err, "cannot connect to http://127.0.0.1:1"));
    }

    TEST_CASE("--probe N measures the best N dataflows and fills test_results") {
        Live live;
        auto r = live.run({"analyze", "--probe", "3", "-o", "json"});
        CAPTURE(r.err);
        REQUIRE(r.exit_code == 0);
        auto doc = nlohmann::json::parse(r.out);
        REQUIRE(doc["test_results"].size() == 3);
        CHECK(doc["tableau_ready_count"] == 3);
        CHECK(doc["performance_metrics"]["tests_performed"] == 3);
        int best = 1000;
        for (const auto& t : doc["test_results"]) {
            CHECK(t["test"]["outcome"] == "success");
            CHECK(t["test"]["data_access_success"] == true);
            CHECK(t["test"]["status_code"] == 200);
            CHECK(t["test"]["series_count"] == 20);
            CHECK(t["test"]["observations_count"] == 140);
            CHECK(t["test"]["size_bytes"].get<int>() > 0);
            CHECK(t["tableau_ready"] == true);
            CHECK(t["suggested_connection"] == "direct_connection");
            best = std::min(best, t["dataflow"]["relevance_score"].get<int>());
        }
        // The probed ones are the best-scoring of the report.
        for (const auto& [cat, list] : doc["categorized_dataflows"].items()) {
            for (const auto& d : list) {
                bool probed = false;
                for (const auto& t : doc["test_results"]) {
                    probed = probed || t["dataflow"]["id"] == d["id"];
                }
                if (!probed) {
                    CHECK(d["relevance_score"].get<int>() <= best);
                }
            }
        }
        CHECK(live.fake.request_count() == 4); // the catalogue and three probes

        // Table and CSV show the measurements too.
        auto table = live.run({"analyze", "--probe", "2", "-n", "5"});
        CHECK(has(table.out, "DATA"));
        CHECK(has(table.out, "140 obs, 20 series"));
        auto csv = live.run({"analyze", "--probe", "1", "-n", "3", "-o", "csv"});
        CHECK(has(csv.out, ",success,140,20,"));
    }

    TEST_CASE("--only-ready keeps only dataflows whose probe found data") {
        Live live;
        auto first = live.run({"analyze", "--probe", "3", "-o", "json"});
        REQUIRE(first.exit_code == 0);
        auto ids = nlohmann::json::parse(first.out)["test_results"];
        REQUIRE(ids.size() == 3);
        // The best one has no data after all.
        std::string gone = ids[0]["dataflow"]["id"];
        live.fake.route("/rest/data/" + gone, {404, "", "text/plain", {}, {}});
        auto r = live.run({"analyze", "--probe", "3", "--only-ready", "-o", "json"});
        CAPTURE(r.err);
        REQUIRE(r.exit_code == 0);
        auto doc = nlohmann::json::parse(r.out);
        CHECK(doc["test_results"].size() == 2);
        CHECK(doc["returned_count"] == 2);
        CHECK(doc["tableau_ready_count"] == 2);
        for (const auto& [cat, list] : doc["categorized_dataflows"].items()) {
            for (const auto& d : list) {
                CHECK(d["id"] != gone);
            }
        }
    }

    TEST_CASE("dataflow probe: named dataflows, every output, exit codes") {
        Live live;
        live.fake.route(
            "/rest/data/22_289",
            {200, fixture("khaeru__sdmx-test-data/ISTAT/22_289.xml"), "application/xml", {}, {}});
        auto j = live.run({"probe", "124_1157", "22_289", "-o", "json", "--last-n", "1"});
        CAPTURE(j.err);
        REQUIRE(j.exit_code == 0);
        auto doc = nlohmann::json::parse(j.out);
        REQUIRE(doc["test_results"].size() == 2);
        CHECK(doc["test_results"][0]["test"]["dataflow_id"] == "124_1157");
        CHECK(doc["test_results"][0]["test"]["observations_count"] == 140);
        CHECK(doc["test_results"][1]["test"]["series_count"] == 2);
        CHECK(doc["test_results"][1]["test"]["observations_count"] == 8);
        CHECK(doc["tests_performed"] == 2);
        CHECK(live.fake.requests()[0].target == "/rest/data/124_1157?lastNObservations=1");

        auto table = live.run({"probe", "124_1157"});
        CHECK(table.exit_code == 0);
        CHECK(has(table.out, "124_1157"));
        CHECK(has(table.out, "140 obs, 20 series"));
        auto csv = live.run({"probe", "124_1157", "-o", "csv"});
        CHECK(has(csv.out, "124_1157,success,200,true,20,140,"));

        live.fake.route("/rest/data/NONE", {404, "", "text/plain", {}, {}});
        auto none = live.run({"probe", "NONE", "-o", "json"});
        CHECK(none.exit_code == 0); // "no data" is an answer
        CHECK(nlohmann::json::parse(none.out)["test_results"][0]["test"]["outcome"] == "no_data");

        Faults f;
        f.fail_next = 100;
        live.fake.set_faults(f);
        auto down = live.run({"probe", "124_1157"}, {"DATAFLOW_UPSTREAM_RETRIES=0"});
        CHECK(down.exit_code == 69);
        CHECK(has(down.out, "server_error"));

        auto bad = live.run({"probe", "../../etc/passwd"});
        CHECK(bad.exit_code == 2);
        CHECK(has(bad.err, "is not a dataflow id"));
        CHECK(live.run({"probe", "x", "--detail", "everything"}).exit_code == 2);
    }

    TEST_CASE("Ctrl-C stops probing cleanly and prints what was measured") {
        Live live;
        live.fake.route("/rest/data/*", {200,
                                         fixture("AndreaBozzo__Osservatorio/data_124_1157.xml"),
                                         "application/xml",
                                         {},
                                         {}});
        // One probe answers at once; the limiter then makes the next wait 30 s.
        auto r = live.run(
            {"analyze", "--probe", "5", "-o", "json"},
            {"DATAFLOW_UPSTREAM_RATE_LIMIT_PER_MINUTE=2", "DATAFLOW_UPSTREAM_RATE_LIMIT_BURST=2"},
            2000);
        CAPTURE(r.err);
        CHECK(r.exit_code == 130);
        CHECK(r.signal == 0);
        auto doc = nlohmann::json::parse(r.out);
        CHECK(doc["test_results"].size() == 1);
        CHECK(has(r.err, "interrupted: 1 of 5 dataflows probed"));
    }

    TEST_CASE("a 200 MB data stream is counted in constant memory") {
#if defined(__SANITIZE_ADDRESS__)
        const int series = 4000; // 20 MB: sanitizers are slow and their shadow memory large
#else
        const int series = 40000; // 200 MB
#endif
        Live live;
        FakeResponse big;
        big.generator = [series](const std::function<bool(std::string_view)>& write) {
            std::string head =
                R"(<?xml version="1.0" encoding="utf-8"?><message:GenericData xmlns:message="http://www.sdmx.org/resources/sdmxml/schemas/v2_1/message" xmlns:generic="http://www.sdmx.org/resources/sdmxml/schemas/v2_1/data/generic"><message:DataSet>)";
            if (!write(head)) {
                return false;
            }
            std::string chunk;
            for (int s = 0; s < series; ++s) {
                chunk +=
                    R"(<generic:Series><generic:SeriesKey><generic:Value id="FREQ" value="A" /><generic:Value id="REF_AREA" value=")" +
                    std::to_string(s) + R"(" /></generic:SeriesKey>)";
                for (int o = 0; o < 50; ++o) {
                    chunk += R"(<generic:Obs><generic:ObsDimension value=")" +
                             std::to_string(1990 + o) +
                             R"(" /><generic:ObsValue value="12345" /></generic:Obs>)";
                }
                chunk += "</generic:Series>";
                if (chunk.size() > 256 * 1024) {
                    if (!write(chunk)) {
                        return false;
                    }
                    chunk.clear();
                }
            }
            chunk += "</message:DataSet></message:GenericData>";
            return write(chunk);
        };
        live.fake.route("/rest/data/BIG", big);
        auto r = live.run({"probe", "BIG", "-o", "json", "--probe-max-bytes", "1G"});
        CAPTURE(r.err);
        REQUIRE(r.exit_code == 0);
        auto doc = nlohmann::json::parse(r.out);
        auto test = doc["test_results"][0]["test"];
        CHECK(test["series_count"] == series);
        CHECK(test["observations_count"] == series * 50);
        CHECK(test["size_bytes"].get<std::int64_t>() > series * 4900LL);
#if !defined(__SANITIZE_ADDRESS__)
        MESSAGE("peak RSS of dataflow probe over 200 MB: " << r.max_rss_kib / 1024 << " MiB");
        CHECK(r.max_rss_kib < 32 * 1024);
#endif
    }
}

// End-to-end: the source registry from the command line (`dataflow sources [check]`,
// `analyze --source`, `probe --source`) and the served catalogue's conditional refresh, against
// fake upstreams on 127.0.0.1 declared as sources in a user's sources file (never a real agency).

#include "support/fake_upstream.hpp"
#include "support/serve.hpp"
#include "support/support.hpp"

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include <thread>

using dataflow::test::FakeResponse;
using dataflow::test::FakeUpstream;
using dataflow::test::Faults;
using dataflow::test::run_process;
using namespace std::chrono_literals;

namespace {

bool has(const std::string& s, const std::string& needle) {
    return s.find(needle) != std::string::npos;
}

std::string catalogue() {
    return dataflow::test::read_file(dataflow::test::bundled_catalog());
}

/// A source table for a fake upstream: generous budget, the given extra lines.
std::string source_table(const std::string& id, const FakeUpstream& fake, const std::string& agency,
                         const std::string& extra = {}) {
    return "[sources." + id + "]\nname = \"Fake " + id + "\"\nbase_url = \"" + fake.base() +
           "\"\nagency = \"" + agency + "\"\nstructure_per_minute = 6000\nstructure_burst = 100\n" +
           extra + "\n";
}

struct Cli {
    dataflow::test::TempDir dir;
    std::vector<std::string> env;

    explicit Cli(const std::string& sources_toml) {
        std::filesystem::create_directories(dir.path() / "cfg");
        auto file = dir.file("sources.toml", sources_toml);
        env = {"DATAFLOW_CONFIG_DIR=" + (dir.path() / "cfg").string(),
               "DATAFLOW_SECRETS_DIR=" + (dir.path() / "cfg").string(),
               "DATAFLOW_UPSTREAM_SOURCES_FILE=" + file, "DATAFLOW_UPSTREAM_RETRY_BASE_DELAY=10ms",
               "DATAFLOW_UPSTREAM_RETRY_MAX_DELAY=20ms"};
    }
    dataflow::test::ProcessResult run(std::vector<std::string> args,
                                      std::vector<std::string> extra = {}) {
        args.insert(args.begin(), DATAFLOW_BIN);
        return run_process(args, {}, dataflow::test::merge_env(env, extra), 60000);
    }
};

} // namespace

TEST_SUITE("sources cli") {
    TEST_CASE("sources lists the registry, the user's additions marked, as a table and JSON") {
        FakeUpstream fake;
        Cli cli(source_table("LOCAL", fake, "L1"));
        auto table = cli.run({"sources"});
        CAPTURE(table.err);
        REQUIRE(table.exit_code == 0);
        for (const char* id : {"ISTAT*", "ESTAT", "ECB", "OECD", "IMF", "INSEE", "ABS", "BIS",
                               "UNICEF", "WB", "SGR", "LOCAL"}) {
            CHECK(has(table.out, std::string("\n") + id + " "));
        }
        CHECK(has(table.out, "18/min + data 20/h")); // OECD's two budgets
        auto json = cli.run({"sources", "-o", "json"}, {"DATAFLOW_UPSTREAM_SOURCE=LOCAL"});
        REQUIRE(json.exit_code == 0);
        auto doc = nlohmann::json::parse(json.out);
        CHECK(doc["configured"] == "LOCAL");
        CHECK(doc["sources"].size() == 12);
        for (const auto& s : doc["sources"]) {
            if (s["id"] == "LOCAL") {
                CHECK(s["configured"] == true);
                CHECK(s["catalogue_url"] == fake.base() + "/dataflow/L1");
                CHECK(has(s["origin"].get<std::string>(), "sources.toml:1"));
            }
            if (s["id"] == "OECD") {
                CHECK(s["data_budget"]["burst"] == 1);
            }
        }
        // A malformed file is a configuration error at its line and column.
        Cli bad("[sources.LOCAL]\nbase_url = \"nope\"\nagency = \"L1\"\n");
        auto r = bad.run({"sources"});
        CHECK(r.exit_code != 0);
        CHECK(has(r.err, "sources.toml:2:12: upstream.sources_file: sources.LOCAL: "
                         "'base_url': \"nope\" must be an http:// or https:// URL"));
    }

    TEST_CASE("sources check measures each named source within its budget, exit 1 if one fails") {
        FakeUpstream a;
        FakeUpstream b;
        a.route("/rest/dataflow/A1/all/latest", {200, "<Structure/>", "application/xml", {}, {}});
        b.route("/rest/dataflow/B1/all/latest", {200, "<Structure/>", "application/xml", {}, {}});
        Cli cli(source_table("SA", a, "A1") + source_table("SB", b, "B1"));
        auto ok = cli.run({"sources", "check", "SA", "sb", "-o", "json"});
        CAPTURE(ok.err);
        REQUIRE(ok.exit_code == 0);
        auto doc = nlohmann::json::parse(ok.out);
        CHECK(doc["all_reachable"] == true);
        REQUIRE(doc["sources"].size() == 2);
        CHECK(doc["sources"][0]["id"] == "SA");
        CHECK(doc["sources"][0]["status"] == 200);
        CHECK(doc["sources"][1]["reachable"] == true);
        REQUIRE(a.requests().size() == 1);
        CHECK(a.requests()[0].target == "/rest/dataflow/A1/all/latest?detail=allstubs");

        Faults f;
        f.fail_next = 100;
        f.fail_status = 503;
        b.set_faults(f);
        auto failed = cli.run({"sources", "check", "SA", "SB"});
        CHECK(failed.exit_code == 1);
        CAPTURE(failed.out);
        CHECK(has(failed.out, "\nSA          ok "));
        CHECK(has(failed.out, "\nSB          server_error      503 "));
        CHECK(b.requests().size() == 2); // one attempt each run: measured, never retried

        auto unknown = cli.run({"sources", "check", "NOPE"});
        CHECK(unknown.exit_code == 2);
        CHECK(has(unknown.err, "'NOPE' is not a known source"));
    }

    TEST_CASE("analyze --source and probe --source use the source's URL, agency and quirks") {
        FakeUpstream fake;
        fake.route("/rest/dataflow/L1/", {200, catalogue(), "application/xml", {}, {}});
        fake.route("/rest/data/*", {200,
                                    dataflow::test::read_file(dataflow::test::sample(
                                        "AndreaBozzo__Osservatorio/data_124_1157.xml")),
                                    "application/xml",
                                    {},
                                    {}});
        // The World Bank's quirks: a trailing slash, no lastNObservations.
        Cli cli(source_table("LOCAL", fake, "L1",
                             "trailing_slash = true\nlast_n_observations = false\n"));
        auto r = cli.run({"analyze", "--source", "local", "-o", "summary"},
                         {"DATAFLOW_UPSTREAM_BASE_URL=http://127.0.0.1:1/rest"});
        CAPTURE(r.err);
        CHECK(r.exit_code == 0); // --source wins over upstream.base_url
        CHECK(has(r.out, "Total dataflows analyzed: 456"));
        REQUIRE(fake.requests().size() == 1);
        CHECK(fake.requests()[0].target == "/rest/dataflow/L1/");

        auto p = cli.run({"probe", "--source", "LOCAL", "101_1015", "-o", "json"},
                         {"DATAFLOW_PROBE_LAST_N_OBSERVATIONS=5"});
        CAPTURE(p.err);
        CHECK(p.exit_code == 0);
        REQUIRE(fake.requests().size() == 2);
        CHECK(fake.requests()[1].target == "/rest/data/101_1015"); // no lastNObservations

        // diff --source: NEW is the source's catalogue now.
        auto old = cli.dir.file("old.xml", catalogue());
        auto d = cli.run({"diff", old, "--source", "LOCAL", "-o", "summary", "--exit-code"});
        CAPTURE(d.err);
        CHECK(d.exit_code == 0); // the same catalogue
        REQUIRE(fake.requests().size() == 3);
        CHECK(fake.requests()[2].target == "/rest/dataflow/L1/");

        auto both = cli.run({"analyze", "file.xml", "--source", "LOCAL"});
        CHECK(both.exit_code == 2);
        CHECK(has(both.err, "give either a catalogue (FILE|URL) or --source LOCAL, not both"));
        auto unknown = cli.run({"analyze", "--source", "NOPE"});
        CHECK(unknown.exit_code != 0);
        CHECK(has(unknown.err, "flag --source: upstream.source: \"NOPE\" is not a known source"));
    }

    TEST_CASE("serve: a conditional refresh that gets 304 keeps the catalogue, parses nothing, "
              "and counts it") {
        FakeUpstream fake;
        FakeResponse list{200, catalogue(), "application/xml", {}, {}};
        list.etag = "\"v1\"";
        list.last_modified = "Tue, 01 Dec 2026 10:00:00 GMT";
        fake.route("/rest/dataflow/L1", list);
        dataflow::test::TempDir sources_dir;
        auto file = sources_dir.file(
            "sources.toml", source_table("LOCAL", fake, "L1", "conditional_requests = true"));
        dataflow::test::ServeProcess s(
            {"DATAFLOW_UPSTREAM_SOURCES_FILE=" + file, "DATAFLOW_UPSTREAM_SOURCE=LOCAL",
             "DATAFLOW_UPSTREAM_BASE_URL=", "DATAFLOW_API_ADMIN_ENABLED=true"},
            {"--no-catalog"});
        auto c = s.client();
        auto listed = [&] {
            auto r = c.Get("/api/v1/dataflows?limit=1");
            return r && r->status == 200;
        };
        REQUIRE(dataflow::test::eventually(listed, 20s));
        CHECK(fake.requests().size() == 1);
        CHECK(fake.requests()[0].headers.count("if-none-match") == 0); // nothing cached yet
        std::this_thread::sleep_for(1100ms); // the first copy is now over a second old
        auto refresh = c.Post("/api/v1/catalog/refresh");
        REQUIRE(refresh);
        CHECK(refresh->status == 202);
        auto confirmed = [&] {
            auto m = c.Get("/metrics");
            return m && has(m->body, "dataflow_catalog_refreshes_total{result=\"not_modified\"} 1");
        };
        REQUIRE(dataflow::test::eventually(confirmed, 20s));
        auto reqs = fake.requests();
        REQUIRE(reqs.size() == 2);
        const auto& h = reqs[1].headers;
        CHECK(h.at("if-none-match") == "\"v1\"");
        CHECK(h.at("if-modified-since") == "Tue, 01 Dec 2026 10:00:00 GMT");
        CHECK(fake.not_modified_count() == 1);
        auto m = c.Get("/metrics");
        REQUIRE(m);
        CHECK(has(m->body, "dataflow_catalog_refreshes_total{result=\"downloaded\"} 1"));
        CHECK(has(m->body, "dataflow_upstream_requests_total{host=\"127.0.0.1:" +
                               std::to_string(fake.port()) +
                               "\",op=\"structure\",outcome=\"not_modified\"} 1"));
        auto body = nlohmann::json::parse(c.Get("/api/v1/dataflows?limit=1")->body);
        CHECK(body["total_analyzed"] == 456);
        CHECK(body["stale"] == false);
        // The age counts from the confirmation, not the download a second before it.
        CHECK(body["catalog_age_seconds"].get<double>() < 1.0);
    }
}

// End-to-end: `dataflow diff OLD [NEW]` — files, stdin, the configured source's catalogue on
// the fake SDMX upstream (never the real network), exit codes and bad inputs.

#include "support/fake_upstream.hpp"
#include "support/support.hpp"

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <filesystem>

using dataflow::test::FakeUpstream;
using dataflow::test::run_process;
using dataflow::test::TempDir;

namespace {

bool has(const std::string& s, const std::string& needle) {
    return s.find(needle) != std::string::npos;
}

std::string bundled_text() {
    return dataflow::test::read_file(dataflow::test::bundled_catalog());
}

/// The ISTAT 2020 list re-versioned (101_1039 1.0 -> 1.1), with 101_1033 removed and one
/// dataflow added.
std::string variant() {
    auto xml = bundled_text();
    auto replace = [&](const std::string& from, const std::string& to) {
        auto at = xml.find(from);
        REQUIRE(at != std::string::npos);
        xml.replace(at, from.size(), to);
    };
    replace("IT1:101_1039(1.0)\" agencyID=\"IT1\" version=\"1.0\"",
            "IT1:101_1039(1.1)\" agencyID=\"IT1\" version=\"1.1\"");
    auto start = xml.find("<structure:Dataflow id=\"101_1033\"");
    auto end = xml.find("</structure:Dataflow>", start) + 21;
    xml.erase(start, end - start);
    replace("</structure:Dataflows>",
            R"(<structure:Dataflow id="DF_NEW_1" agencyID="IT1" version="1.0">)"
            R"(<common:Name xml:lang="it">Occupati per settore</common:Name>)"
            R"(</structure:Dataflow></structure:Dataflows>)");
    return xml;
}

/// A scratch directory with the two sides, a config dir of its own, and the fake upstream
/// serving the variant as the configured source's catalogue.
struct DiffRun {
    TempDir dir;
    std::string old_path = dataflow::test::bundled_catalog();
    std::string new_path;
    FakeUpstream fake;
    std::vector<std::string> env;

    DiffRun() {
        new_path = dir.file("new.xml", variant());
        fake.route("/rest/dataflow/IT1", {200, variant(), "application/xml", {}, {}});
        std::filesystem::create_directories(dir.path() / "cfg");
        env = {"DATAFLOW_CONFIG_DIR=" + (dir.path() / "cfg").string(),
               "DATAFLOW_SECRETS_DIR=" + (dir.path() / "cfg").string(),
               "DATAFLOW_UPSTREAM_BASE_URL=" + fake.base(),
               "DATAFLOW_UPSTREAM_AGENCY=IT1",
               "DATAFLOW_UPSTREAM_RATE_LIMIT_PER_MINUTE=6000",
               "DATAFLOW_UPSTREAM_RATE_LIMIT_BURST=100",
               "DATAFLOW_UPSTREAM_RETRY_BASE_DELAY=10ms",
               "DATAFLOW_UPSTREAM_RETRY_MAX_DELAY=20ms"};
    }
    dataflow::test::ProcessResult run(std::vector<std::string> args,
                                      const std::string& input = {}) {
        args.insert(args.begin(), DATAFLOW_BIN);
        return run_process(args, input, env, 120000);
    }
};

void check_variant_json(const nlohmann::json& j) {
    CHECK(j["summary"] ==
          nlohmann::json({{"added", 1}, {"removed", 1}, {"changed", 1}, {"unchanged", 454}}));
    CHECK(j["old"]["total"] == 456);
    CHECK(j["old"]["prepared"] == "2020-05-03T14:30:56.7239925+02:00");
    CHECK(j["new"]["total"] == 456);
    CHECK(j["added"][0]["id"] == "DF_NEW_1");
    CHECK(j["added"][0]["category"] == "lavoro");
    CHECK(j["removed"][0]["id"] == "101_1033");
    CHECK(j["changed"][0]["id"] == "101_1039");
    CHECK(j["changed"][0]["changes"] ==
          nlohmann::json::parse(R"([{"field": "version", "old": "1.0", "new": "1.1"}])"));
}

} // namespace

TEST_SUITE("diff cli") {
    TEST_CASE("diff two files in every output format") {
        DiffRun d;
        auto json = d.run({"diff", d.old_path, d.new_path, "-o", "json"});
        CAPTURE(json.err);
        REQUIRE(json.exit_code == 0);
        auto j = nlohmann::json::parse(json.out);
        check_variant_json(j);
        CHECK(j["old"]["source"] == d.old_path);
        CHECK(j["new"]["source"] == d.new_path);

        auto csv = d.run({"diff", d.old_path, d.new_path, "-o", "csv"});
        REQUIRE(csv.exit_code == 0);
        CHECK(csv.out.starts_with("kind,agency,id,field,old,new,name,category\r\n"));
        CHECK(has(csv.out, "changed,IT1,101_1039,version,1.0,1.1,Agriturismo - comuni,altri\r\n"));
        CHECK(std::count(csv.out.begin(), csv.out.end(), '\n') == 4);

        auto table = d.run({"diff", d.old_path, d.new_path});
        REQUIRE(table.exit_code == 0);
        CHECK(table.err.empty());
        CHECK_FALSE(has(table.out, "\x1b[")); // not a terminal
        CHECK(has(table.out, "Added (1)"));
        CHECK(has(table.out, "Removed (1)"));
        CHECK(has(table.out, "Changed (1)"));
        CHECK(
            has(table.out, "456 -> 456 dataflows: 1 added, 1 removed, 1 changed, 454 unchanged."));

        auto summary = d.run({"diff", d.old_path, d.new_path, "-o", "summary"});
        REQUIRE(summary.exit_code == 0);
        CHECK(has(summary.out, "=== SDMX Catalogue Diff ==="));
        CHECK(has(summary.out, "Changed: 1 (version 1)"));
    }

    TEST_CASE("diff on a terminal is coloured unless --color never") {
        DiffRun d;
        auto tty = dataflow::test::run_on_terminal({DATAFLOW_BIN, "diff", d.old_path, d.new_path},
                                                   d.env, 100);
        CHECK(tty.exit_code == 0);
        CHECK(has(tty.out, "\x1b[32m+\x1b[0m"));
        auto plain = dataflow::test::run_on_terminal(
            {DATAFLOW_BIN, "diff", d.old_path, d.new_path, "--color", "never"}, d.env, 100);
        CHECK(plain.exit_code == 0);
        CHECK_FALSE(has(plain.out, "\x1b["));
    }

    TEST_CASE("standard input as either side") {
        DiffRun d;
        auto old_stdin = d.run({"diff", "-", d.new_path, "-o", "json"}, bundled_text());
        CAPTURE(old_stdin.err);
        REQUIRE(old_stdin.exit_code == 0);
        auto j = nlohmann::json::parse(old_stdin.out);
        check_variant_json(j);
        CHECK(j["old"]["source"] == "<stdin>");
        auto new_stdin = d.run({"diff", d.old_path, "-", "-o", "json"}, variant());
        REQUIRE(new_stdin.exit_code == 0);
        CHECK(nlohmann::json::parse(new_stdin.out)["new"]["source"] == "<stdin>");
    }

    TEST_CASE("NEW omitted: the configured source's catalogue from the upstream") {
        DiffRun d;
        auto r = d.run({"diff", d.old_path, "-o", "json"});
        CAPTURE(r.err);
        REQUIRE(r.exit_code == 0);
        auto j = nlohmann::json::parse(r.out);
        check_variant_json(j);
        CHECK(j["new"]["source"] == d.fake.base() + "/dataflow/IT1");
        auto reqs = d.fake.requests();
        REQUIRE(reqs.size() == 1);
        CHECK(reqs[0].target.starts_with("/rest/dataflow/IT1"));
        // A URL on the command line is fetched the same way.
        auto url = d.run({"diff", d.old_path, d.fake.base() + "/dataflow/IT1", "-o", "summary"});
        CHECK(url.exit_code == 0);
        CHECK(has(url.out, "Added: 1"));
    }

    TEST_CASE("--exit-code: 3 when the catalogues differ, 0 when they do not") {
        DiffRun d;
        CHECK(d.run({"diff", d.old_path, d.new_path, "--exit-code", "-o", "summary"}).exit_code ==
              3);
        auto same = d.run({"diff", d.old_path, d.old_path, "--exit-code"});
        CHECK(same.exit_code == 0);
        CHECK(has(same.out, "456 -> 456 dataflows: 0 added, 0 removed, 0 changed, 456 unchanged."));
        // Without it, differences are not a failure; filtered out, they do not count.
        CHECK(d.run({"diff", d.old_path, d.new_path, "-o", "summary"}).exit_code == 0);
        auto filtered =
            d.run({"diff", d.old_path, d.new_path, "--exit-code", "-c", "salute", "-o", "json"});
        CHECK(filtered.exit_code == 0);
        CHECK(nlohmann::json::parse(filtered.out)["summary"]["unchanged"] == 454);
    }

    TEST_CASE("bad inputs: the usual errors and exit codes, naming the side") {
        DiffRun d;
        auto missing = d.run({"diff", d.old_path, (d.dir.path() / "nope.xml").string()});
        CHECK(missing.exit_code == 1);
        CHECK(missing.out.empty());
        CHECK(has(missing.err, "new side: "));
        CHECK(has(missing.err, "nope.xml"));

        auto data =
            d.run({"diff", dataflow::test::sample("AndreaBozzo__Osservatorio/data_124_1157.xml"),
                   d.new_path});
        CHECK(data.exit_code == 1);
        CHECK(data.out.empty());
        CHECK(has(data.err, "old side: "));
        CHECK(has(data.err, "data message (GenericData)"));

        auto malformed = d.run({"diff", d.old_path, d.dir.file("bad.xml", "<a><b></a>")});
        CHECK(malformed.exit_code == 1);
        CHECK(has(malformed.err, "new side: "));
        CHECK(has(malformed.err, "bad.xml:1:"));

        auto twice = d.run({"diff", "-", "-"}, bundled_text());
        CHECK(twice.exit_code == 2);
        CHECK(has(twice.err, "standard input (-) can be only one side"));

        auto unknown = d.run({"diff", d.old_path, d.new_path, "--frobnicate"});
        CHECK(unknown.exit_code == 2);
        CHECK(has(unknown.err, "--frobnicate"));

        auto category = d.run({"diff", d.old_path, d.new_path, "-c", "sport"});
        CHECK(category.exit_code == 2);
        CHECK(has(category.err, "unknown category 'sport'"));

        auto both = d.run({"diff", d.old_path, d.new_path, "--source", "ESTAT"});
        CHECK(both.exit_code == 2);
        CHECK(has(both.err, "not both"));

        auto none = d.run({"diff"});
        CHECK(none.exit_code == 2);

        auto big = d.run({"diff", d.old_path, d.new_path, "--max-input-bytes", "1K"});
        CHECK(big.exit_code == 1);
        CHECK(has(big.err, "old side: "));
    }
}

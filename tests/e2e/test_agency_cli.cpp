// End-to-end: the agency's own classification. `analyze` merges several inputs (a dataflow
// list, ISTAT's category scheme, categorisations; INSEE's single message holding all three),
// reports agency_categories, classifies by agency and measures the agreement; with
// --agency-categories it fetches the configured source's schemes from the fake upstream; `serve`
// with catalog.agency_categories serves the tree and filters by agency category.

#include "support/fake_upstream.hpp"
#include "support/serve.hpp"
#include "support/support.hpp"

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

using dataflow::test::FakeUpstream;
using dataflow::test::run_process;
using namespace std::chrono_literals;

namespace {

bool has(const std::string& s, const std::string& needle) {
    return s.find(needle) != std::string::npos;
}

std::string fixture(const std::string& relative) {
    return std::string(DATAFLOW_FIXTURES_DIR) + "/" + relative;
}

const std::string k_scheme = fixture("samples/ondata__guida-api-istat/rawdata/categoryscheme.xml");
const std::string k_categorisations = fixture("constructed/istat-categorisations.xml");
const std::string k_insee =
    fixture("samples/khaeru__sdmx-test-data/INSEE/CNA-2010-CONSO-SI-A17-structure.xml");

dataflow::test::ProcessResult run(std::vector<std::string> args,
                                  std::vector<std::string> env = {}) {
    args.insert(args.begin(), DATAFLOW_BIN);
    dataflow::test::TempDir dir;
    env.push_back("DATAFLOW_CONFIG_DIR=" + dir.path().string());
    env.push_back("DATAFLOW_SECRETS_DIR=" + dir.path().string());
    return run_process(args, {}, env, 60000);
}

const nlohmann::json* find_flow(const nlohmann::json& report, const std::string& id) {
    for (const auto& [category, group] : report["categorized_dataflows"].items()) {
        for (const auto& f : group) {
            if (f["id"] == id) {
                return &f;
            }
        }
    }
    return nullptr;
}

} // namespace

TEST_SUITE("agency categories cli") {
    TEST_CASE("several inputs merge: the ISTAT list, its category scheme and categorisations") {
        auto catalog = dataflow::test::bundled_catalog();
        auto r = run({"analyze", catalog, k_scheme, k_categorisations, "-o", "json", "-n", "0"});
        CAPTURE(r.err);
        REQUIRE(r.exit_code == 0);
        auto doc = nlohmann::json::parse(r.out);
        CHECK(doc["total_analyzed"] == 456);
        const auto* flow = find_flow(doc, "101_1015");
        REQUIRE(flow != nullptr);
        REQUIRE((*flow)["agency_categories"].size() == 1);
        const auto& c = (*flow)["agency_categories"][0];
        CHECK(c["scheme"] == "IT1:ISTAT_DW(1.0)");
        CHECK(c["path"] == nlohmann::json::array({"101", "102"}));
        CHECK(c["path_names"][0]["it"] == "Agricoltura");
        // Unresolved categorisations are warned about, never fatal.
        CHECK(has(r.err, "categorisation"));

        // --classify agency: the mapped ISTAT_DW topic, said, and the agreement measured.
        auto agency = run({"analyze", catalog, k_scheme, k_categorisations, "-o", "json", "-n", "0",
                           "--classify", "agency"});
        REQUIRE(agency.exit_code == 0);
        auto a = nlohmann::json::parse(agency.out);
        const auto* mapped = find_flow(a, "101_1015");
        REQUIRE(mapped != nullptr);
        CHECK((*mapped)["category_source"] == "agency");
        CHECK((*mapped)["category"] == "economia"); // Agricoltura -> economia (docs/RULES.md)
        REQUIRE(a.contains("classification_agreement"));
        CHECK(a["classification_agreement"]["compared"] == 4);
        auto summary = run({"analyze", catalog, k_scheme, k_categorisations, "-o", "summary"});
        CHECK(has(summary.out, "agree"));

        // Without category inputs: the report is the reference one, no new fields.
        auto plain = run({"analyze", catalog, "-o", "json", "-n", "1"});
        CHECK_FALSE(has(plain.out, "agency_categories"));
        CHECK_FALSE(has(plain.out, "classification_agreement"));
    }

    TEST_CASE("INSEE's single message: a leaf-id categorisation resolves to the full path") {
        auto r = run({"analyze", k_insee, "-o", "json"});
        CAPTURE(r.err);
        REQUIRE(r.exit_code == 0);
        auto doc = nlohmann::json::parse(r.out);
        const auto* flow = find_flow(doc, "CNA-2010-CONSO-SI-A17");
        REQUIRE(flow != nullptr);
        REQUIRE((*flow)["agency_categories"].size() == 1);
        CHECK((*flow)["agency_categories"][0]["scheme"] == "FR1:CLASSEMENT_DATAFLOWS(1.0)");
        CHECK((*flow)["agency_categories"][0]["path"].size() == 4);
        CHECK((*flow)["agency_categories"][0]["path"].back() == "CNA-ERE-2010");
    }

    TEST_CASE("conflicting duplicates across inputs, a scheme alone, stdin twice: clear errors") {
        dataflow::test::TempDir dir;
        auto original = dataflow::test::read_file(dataflow::test::bundled_catalog());
        auto renamed = original;
        auto at = renamed.find(">Coltivazioni<");
        REQUIRE(at != std::string::npos);
        renamed.replace(at, 14, ">Raccolti<");
        auto a = dir.file("a.xml", original);
        auto b = dir.file("b.xml", renamed);
        auto r = run({"analyze", a, b});
        CHECK(r.exit_code == 1);
        CHECK(has(r.err, "dataflow IT1:101_1015(1.2) in " + b + " differs from the one in " + a));
        // The same list twice is fine: identical duplicates count once.
        auto twice = run({"analyze", a, a, "-o", "summary"});
        CHECK(twice.exit_code == 0);
        CHECK(has(twice.out, "Total dataflows analyzed: 456"));
        // A category scheme alone holds no dataflow to analyse.
        auto alone = run({"analyze", k_scheme});
        CHECK(alone.exit_code == 1);
        CHECK(has(alone.err, "CategorySchemes (1)"));
        auto stdin_twice = run({"analyze", "-", "-"});
        CHECK(stdin_twice.exit_code == 2);
        auto with_inputs = run({"analyze", a, "--agency-categories"});
        CHECK(with_inputs.exit_code == 2);
    }

    TEST_CASE("diff merges several messages per side and compares the agency's categories") {
        dataflow::test::TempDir dir;
        auto catalog = dataflow::test::bundled_catalog();
        auto cats = dataflow::test::read_file(k_categorisations);
        auto at = cats.find("<Ref id=\"101.102\"");
        REQUIRE(at != std::string::npos);
        auto moved = cats;
        moved.replace(at, std::string("<Ref id=\"101.102\"").size(), "<Ref id=\"101\"");
        auto new_cats = dir.file("moved.xml", moved);
        auto r =
            run({"diff", catalog, catalog, "--old-with", k_scheme, "--old-with", k_categorisations,
                 "--new-with", k_scheme, "--new-with", new_cats, "-o", "json", "--exit-code"});
        CAPTURE(r.err);
        CHECK(r.exit_code == 3);
        auto doc = nlohmann::json::parse(r.out);
        REQUIRE(doc["changed"].size() == 1);
        CHECK(doc["changed"][0]["id"] == "101_1015");
        CHECK(doc["changed"][0]["changes"][0] ==
              nlohmann::json{{"field", "agency_categories"},
                             {"old", "IT1:ISTAT_DW(1.0)/101/102"},
                             {"new", "IT1:ISTAT_DW(1.0)/101"}});
        // Without categorisations on both sides, nothing about them is compared.
        auto one_side = run({"diff", catalog, catalog, "--old-with", k_categorisations,
                             "--old-with", k_scheme, "--exit-code"});
        CHECK(one_side.exit_code == 0);
        auto twice = run({"diff", "-", catalog, "--new-with", "-"});
        CHECK(twice.exit_code == 2);
    }

    TEST_CASE("--agency-categories fetches the configured source's two category queries") {
        FakeUpstream fake;
        fake.route("/rest/dataflow/IT1",
                   {200,
                    dataflow::test::read_file(dataflow::test::bundled_catalog()),
                    "application/xml",
                    {},
                    {}});
        fake.route("/rest/categoryscheme/IT1/all/latest",
                   {200, dataflow::test::read_file(k_scheme), "application/xml", {}, {}});
        fake.route("/rest/categorisation/IT1/all/latest",
                   {200, dataflow::test::read_file(k_categorisations), "application/xml", {}, {}});
        std::vector<std::string> env{"DATAFLOW_UPSTREAM_BASE_URL=" + fake.base(),
                                     "DATAFLOW_UPSTREAM_RATE_LIMIT_PER_MINUTE=6000",
                                     "DATAFLOW_UPSTREAM_RATE_LIMIT_BURST=100"};
        auto r = run({"analyze", "--agency-categories", "-o", "json", "-n", "0"}, env);
        CAPTURE(r.err);
        REQUIRE(r.exit_code == 0);
        auto targets = fake.requests();
        REQUIRE(targets.size() == 3);
        CHECK(targets[1].target == "/rest/categoryscheme/IT1/all/latest");
        CHECK(targets[2].target == "/rest/categorisation/IT1/all/latest");
        auto doc = nlohmann::json::parse(r.out);
        const auto* flow = find_flow(doc, "101_1015");
        REQUIRE(flow != nullptr);
        CHECK((*flow)["agency_categories"][0]["path"] == nlohmann::json::array({"101", "102"}));

        // serve with catalog.agency_categories: the tree with counts, and the filter.
        env.push_back("DATAFLOW_CATALOG_AGENCY_CATEGORIES=true");
        dataflow::test::ServeProcess s(env, {"--no-catalog"});
        auto c = s.client();
        REQUIRE(dataflow::test::eventually(
            [&] {
                auto t = c.Get("/api/v1/categories");
                return t && t->status == 200 && has(t->body, "\"enabled\": true");
            },
            20s));
        auto tree = nlohmann::json::parse(c.Get("/api/v1/categories")->body);
        REQUIRE(tree["schemes"].size() == 1);
        CHECK(tree["schemes"][0]["scheme"] == "IT1:ISTAT_DW(1.0)");
        CHECK(tree["schemes"][0]["categories"].size() == 19);
        int agriculture = -1;
        for (const auto& cat : tree["schemes"][0]["categories"]) {
            if (cat["id"] == "101") {
                agriculture = cat["dataflows"].get<int>();
            }
        }
        CHECK(agriculture >= 1);
        auto filtered = c.Get("/api/v1/dataflows?agency_category=101&limit=0");
        REQUIRE(filtered);
        REQUIRE(filtered->status == 200);
        auto f = nlohmann::json::parse(filtered->body);
        CHECK(f["returned_count"].get<int>() == agriculture);
        CHECK(has(filtered->body, "\"101_1015\""));
        CHECK(c.Get("/api/v1/dataflows?agency_category=../x")->status == 400);
    }
}

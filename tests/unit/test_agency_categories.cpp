// The agency's own classification in the analysis (issue 18, points 3 and 4): mappings of
// agency categories to topics in rule files, --classify agency, category_source, the
// classification agreement, and the report fields. Categorisations are built by hand here
// (resolve_categorisations has its own tests in test_categories.cpp).

#include "analysis/agency.hpp"
#include "analysis/render.hpp"
#include "analysis/report.hpp"
#include "analysis/rules.hpp"
#include "sdmx/reader.hpp"
#include "support/support.hpp"
#include "util/error.hpp"
#include "util/hash.hpp"

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

using namespace dataflow;
using namespace dataflow::analysis;

namespace {

sdmx::Category category(std::string id, std::string it, std::string en,
                        std::vector<sdmx::Category> children = {}) {
    sdmx::Category c;
    c.id = std::move(id);
    c.names = {{"it", std::move(it)}, {"en", std::move(en)}};
    c.children = std::move(children);
    return c;
}

/// The bundled ISTAT catalogue with a tiny ISTAT_DW scheme (three of its themes, one nested
/// level) and an unmapped scheme, and hand-built resolved categorisations:
///   101_1015 -> 101.102 (keywords: altri)         101_12   -> 101     (economia)
///   101_22   -> 101.102 (salute)                  123_840  -> 149     (lavoro)
///   101_1030 -> OTHER X, unmapped (altri)         101_1033 -> OTHER X, then 21.22 (altri)
struct AgencyFixture {
    sdmx::Catalog catalog;
    Categorizer categorizer{default_rules(), MatchMode::substring};
    sdmx::ResolvedCategories resolved;

    AgencyFixture() {
        auto bytes = test::read_file(test::bundled_catalog());
        catalog = sdmx::read_catalog(bytes, "istat.xml");
        sdmx::CategoryScheme dw;
        dw.id = "ISTAT_DW";
        dw.agency_id = "IT1";
        dw.version = "1.0";
        dw.categories = {
            category("21", "Popolazione e famiglie", "Population and Households",
                     {category("22", "Matrimoni", "Marriages")}),
            category("101", "Agricoltura", "Agriculture",
                     {category("102", "Coltivazioni", "Crops")}),
            category("149", "Lavoro e retribuzioni", "Labour and wages"),
        };
        sdmx::CategoryScheme other;
        other.id = "OTHER";
        other.agency_id = "IT1";
        other.version = "1.0";
        other.categories = {category("X", "Altro", "Other")};
        catalog.category_schemes = {dw, other};
        resolved.by_flow.resize(catalog.dataflows.size());
        add("101_1015", 0, {"101", "102"});
        add("101_12", 0, {"101"});
        add("101_22", 0, {"101", "102"});
        add("123_840", 0, {"149"});
        add("101_1030", 1, {"X"});
        add("101_1033", 1, {"X"});
        add("101_1033", 0, {"21", "22"});
    }
    AgencyFixture(const AgencyFixture&) = delete;
    AgencyFixture& operator=(const AgencyFixture&) = delete;

    std::size_t index_of(const std::string& id) const {
        for (std::size_t i = 0; i < catalog.dataflows.size(); ++i) {
            if (catalog.dataflows[i].id == id) {
                return i;
            }
        }
        throw std::logic_error("no dataflow " + id);
    }

    void add(const std::string& flow, std::size_t scheme, std::vector<std::string> path) {
        sdmx::AgencyCategory c{scheme, std::move(path), {}};
        const auto* level = &catalog.category_schemes[scheme].categories;
        for (const auto& id : c.path) {
            auto it = std::find_if(level->begin(), level->end(),
                                   [&](const sdmx::Category& x) { return x.id == id; });
            REQUIRE(it != level->end());
            c.nodes.push_back(&*it);
            level = &it->children;
        }
        resolved.by_flow[index_of(flow)].push_back(std::move(c));
        ++resolved.resolved;
    }

    Report run(AnalysisOptions options, bool with_agency = true) const {
        if (with_agency) {
            options.agency_categories = &resolved;
        }
        auto report = analyze(catalog, categorizer, options);
        report.source_name = "istat.xml";
        report.source_format = catalog.format;
        report.analysis_timestamp = "2026-11-29T10:00:00Z";
        report.analysis_duration_seconds = 0.012;
        return report;
    }
};

AnalysisOptions only(std::vector<std::string> ids) {
    AnalysisOptions o;
    o.ids = std::move(ids);
    o.limit = 0;
    return o;
}

/// Every dataflow object of categorized_dataflows by id.
std::map<std::string, nlohmann::json> flows_by_id(const nlohmann::json& doc) {
    std::map<std::string, nlohmann::json> out;
    for (auto& [cat, list] : doc["categorized_dataflows"].items()) {
        for (auto& f : list) {
            out[f["id"].get<std::string>()] = f;
        }
    }
    return out;
}

std::string parse_error(const std::string& text) {
    try {
        parse_rules_toml(text, "map.toml");
    } catch (const InputError& e) {
        return e.what();
    }
    FAIL("expected InputError");
    return {};
}

const std::string k_rules = "[[rules]]\ncategory = \"popolazione\"\npriority = 2\n"
                            "keywords = [\"popolazione\"]\n\n"
                            "[[rules]]\ncategory = \"lavoro\"\npriority = 1\n"
                            "keywords = [\"lavoro\"]\n\n";

} // namespace

TEST_SUITE("agency categories") {
    TEST_CASE("a rule file maps agency categories to topics, the fallback included") {
        auto rules = parse_rules_toml(k_rules + R"([[agency_categories]]
scheme = "IT1:ISTAT_DW"
category = "21"
topic = "popolazione"
description = "Popolazione e famiglie"

[[agency_categories]]
scheme = "IT1:ISTAT_DW"
category = 149
topic = "lavoro"

[[agency_categories]]
scheme = "FR1:CLASSEMENT_DATAFLOWS"
category = "ECO"
topic = "altri"
)",
                                      "map.toml");
        REQUIRE(rules->agency_mappings().size() == 3);
        CHECK(rules->agency_mappings()[0].scheme_agency == "IT1");
        CHECK(rules->agency_mappings()[0].scheme_id == "ISTAT_DW");
        CHECK(rules->agency_mappings()[1].category == "149"); // an integer id is read as text
        std::vector<std::string> path{"149"};
        CHECK(rules->agency_topic("IT1", "ISTAT_DW", path) == rules->category_index("lavoro"));
        std::vector<std::string> eco{"ECO"};
        CHECK(rules->agency_topic("FR1", "CLASSEMENT_DATAFLOWS", eco) == rules->fallback_index());
        // Another agency's scheme of the same id maps nothing.
        CHECK(rules->agency_topic("ESTAT", "ISTAT_DW", path) == std::string_view::npos);
        // The mappings are part of the fingerprint; a set without them hashes as before.
        auto plain = parse_rules_toml(k_rules, "plain.toml");
        CHECK(plain->agency_mappings().empty());
        CHECK(rules->fingerprint() != plain->fingerprint());
        CHECK(RuleSet(plain->rules(), "again").fingerprint() == plain->fingerprint());
    }

    TEST_CASE("mapping errors carry FILE:LINE:COL") {
        auto unknown_topic =
            parse_error(k_rules + "[[agency_categories]]\nscheme = \"IT1:ISTAT_DW\"\n"
                                  "category = \"21\"\ntopic = \"sport\"\n");
        CHECK(unknown_topic.starts_with("map.toml:14:9: "));
        CHECK(unknown_topic.find("unknown topic 'sport'") != std::string::npos);
        CHECK(unknown_topic.find("popolazione, lavoro, altri") != std::string::npos);

        auto missing_scheme = parse_error(k_rules + "[[agency_categories]]\ncategory = \"21\"\n"
                                                    "topic = \"lavoro\"\n");
        CHECK(missing_scheme.starts_with("map.toml:11:1: "));
        CHECK(missing_scheme.find("agency_categories[0]: missing 'scheme'") != std::string::npos);

        auto unknown_key =
            parse_error(k_rules + "[[agency_categories]]\nscheme = \"IT1:ISTAT_DW\"\n"
                                  "category = \"21\"\ntopic = \"lavoro\"\n"
                                  "topics = \"x\"\n");
        CHECK(unknown_key.starts_with("map.toml:15:10: "));
        CHECK(unknown_key.find("unknown key 'topics'") != std::string::npos);

        auto versioned = parse_error(k_rules + "[[agency_categories]]\n"
                                               "scheme = \"IT1:ISTAT_DW(1.0)\"\n"
                                               "category = \"21\"\ntopic = \"lavoro\"\n");
        CHECK(versioned.starts_with("map.toml:12:10: "));
        CHECK(versioned.find("without a version") != std::string::npos);

        auto twice =
            parse_error(k_rules + "[[agency_categories]]\nscheme = \"IT1:ISTAT_DW\"\ncategory = "
                                  "\"21\"\ntopic = \"lavoro\"\n\n[[agency_categories]]\nscheme = "
                                  "\"IT1:ISTAT_DW\"\ncategory = \"21\"\ntopic = \"popolazione\"\n");
        CHECK(twice.starts_with("map.toml:18:12: "));
        CHECK(twice.find("mapped twice") != std::string::npos);

        auto not_tables = parse_error("agency_categories = 3\n" + k_rules);
        CHECK(not_tables.starts_with("map.toml:1:21: "));
        CHECK(not_tables.find("array of tables") != std::string::npos);
    }

    TEST_CASE("the deepest mapped category on a path wins, the first mapped categorisation next") {
        auto rules = parse_rules_toml(k_rules + R"([[agency_categories]]
scheme = "IT1:ISTAT_DW"
category = "21"
topic = "popolazione"

[[agency_categories]]
scheme = "IT1:ISTAT_DW"
category = "22"
topic = "lavoro"
)",
                                      "map.toml");
        auto topic = [&](std::vector<std::string> path) {
            return rules->agency_topic("IT1", "ISTAT_DW", path);
        };
        auto pop = rules->category_index("popolazione");
        auto work = rules->category_index("lavoro");
        CHECK(topic({"21"}) == pop);
        CHECK(topic({"21", "23"}) == pop);        // a descendant of 21
        CHECK(topic({"21", "22"}) == work);       // 22 is deeper than 21
        CHECK(topic({"21", "22", "25"}) == work); // ... and applies to its own descendants
        CHECK(topic({"30", "31"}) == std::string_view::npos);

        AgencyFixture f;
        std::vector<sdmx::AgencyCategory> two{{1, {"X"}, {}}, {0, {"21", "22"}, {}}};
        CHECK(agency_topic_of(*rules, f.catalog.category_schemes, two) == work);
        std::vector<sdmx::AgencyCategory> none{{1, {"X"}, {}}};
        CHECK(agency_topic_of(*rules, f.catalog.category_schemes, none) == std::string_view::npos);
    }

    TEST_CASE("the built-in rules map all 19 ISTAT_DW themes to their topics") {
        const auto& rules = *default_rules();
        const std::vector<std::pair<std::string, std::string>> expected{
            {"6", "economia"},   {"9", "territorio"},   {"21", "popolazione"}, {"30", "economia"},
            {"36", "salute"},    {"45", "economia"},    {"52", "istruzione"},  {"60", "altri"},
            {"71", "altri"},     {"80", "popolazione"}, {"91", "economia"},    {"101", "economia"},
            {"111", "economia"}, {"117", "economia"},   {"123", "economia"},   {"138", "economia"},
            {"143", "economia"}, {"149", "lavoro"},     {"729", "territorio"}};
        REQUIRE(rules.agency_mappings().size() == expected.size());
        for (const auto& [id, topic] : expected) {
            CAPTURE(id);
            std::vector<std::string> path{id, "child"};
            auto got = rules.agency_topic("IT1", "ISTAT_DW", path);
            REQUIRE(got != std::string_view::npos);
            CHECK(rules.categories()[got] == topic);
        }
        CHECK(rules.fingerprint() != RuleSet(rules.rules(), "no mappings").fingerprint());
    }

    TEST_CASE("classify agency takes the mapped topic and says category_source") {
        AgencyFixture f;
        AnalysisOptions o =
            only({"101_1015", "101_12", "101_22", "123_840", "101_1030", "101_1033", "101_1039"});
        o.classify = ClassifySource::agency;
        auto doc = nlohmann::json::parse(render_json(f.run(o)));
        auto flows = flows_by_id(doc);
        REQUIRE(flows.size() == 7);
        CHECK(flows["101_1015"]["category"] == "economia"); // keywords: altri
        CHECK(flows["101_1015"]["category_source"] == "agency");
        CHECK(flows["101_1015"]["relevance_score"] == 0); // scores stay the keyword scores
        CHECK(flows["101_22"]["category"] == "economia"); // keywords: salute
        CHECK(flows["101_22"]["relevance_score"] == 5);
        CHECK(flows["101_22"]["matched_keywords"] == nlohmann::json::array({"sanita"}));
        CHECK(flows["123_840"]["category"] == "lavoro");
        CHECK(flows["123_840"]["category_source"] == "agency");
        // The first categorisation maps nothing, the second does.
        CHECK(flows["101_1033"]["category"] == "popolazione");
        CHECK(flows["101_1033"]["category_source"] == "agency");
        // Unmapped or uncategorised: the keyword category.
        CHECK(flows["101_1030"]["category"] == "altri");
        CHECK(flows["101_1030"]["category_source"] == "keywords");
        CHECK(flows["101_1039"]["category"] == "altri");
        CHECK(flows["101_1039"]["category_source"] == "keywords");
        // Counts are over the effective categories: three of the keyword altri moved away.
        auto keywords = nlohmann::json::parse(render_json(f.run(AnalysisOptions{}, false)));
        CHECK(doc["category_counts"]["altri"] ==
              keywords["category_counts"]["altri"].get<int>() - 2);
        CHECK(doc["category_counts"]["salute"] ==
              keywords["category_counts"]["salute"].get<int>() - 1);
        CHECK(doc["category_counts"]["economia"] ==
              keywords["category_counts"]["economia"].get<int>() + 2);
    }

    TEST_CASE("classify keywords with agency categories keeps the keyword categories") {
        AgencyFixture f;
        auto flows = flows_by_id(
            nlohmann::json::parse(render_json(f.run(only({"101_1015", "101_22", "101_1039"})))));
        REQUIRE(flows.size() == 3);
        CHECK(flows["101_1015"]["category"] == "altri");
        CHECK(flows["101_22"]["category"] == "salute");
        for (auto& [id, flow] : flows) {
            CAPTURE(id);
            CHECK(flow["category_source"] == "keywords");
        }
        CHECK(flows["101_1039"]["agency_categories"] == nlohmann::json::array());
    }

    TEST_CASE("agreement counts every dataflow with a mapped topic, not only the returned ones") {
        AgencyFixture f;
        AnalysisOptions o;
        o.limit = 1;
        auto report = f.run(o);
        CHECK(report.returned == 1);
        CHECK(report.agency_categorised == 6);
        REQUIRE(report.agreement.has_value());
        CHECK(report.agreement->compared == 5);
        CHECK(report.agreement->agreeing == 2);
        CHECK(report.agreement->rate() == doctest::Approx(0.4));
        auto doc = nlohmann::json::parse(render_json(report));
        auto expected = nlohmann::json::parse(R"({
            "compared": 5, "agreeing": 2, "rate": 0.4,
            "matrix": {"economia": {"economia": 1}, "lavoro": {"lavoro": 1},
                       "salute": {"economia": 1},
                       "altri": {"popolazione": 1, "economia": 1}}})");
        CHECK(doc["classification_agreement"] == expected);
        // Row keys in rule order, altri last.
        auto ordered = nlohmann::ordered_json::parse(render_json(report));
        std::vector<std::string> rows;
        for (auto& [k, v] : ordered["classification_agreement"]["matrix"].items()) {
            rows.push_back(k);
        }
        CHECK(rows == std::vector<std::string>{"economia", "lavoro", "salute", "altri"});
        // The same whatever the classification.
        o.classify = ClassifySource::agency;
        auto agency = f.run(o);
        REQUIRE(agency.agreement.has_value());
        CHECK(agency.agreement->compared == 5);
        CHECK(agency.agreement->agreeing == 2);
    }

    TEST_CASE("no classification_agreement when no dataflow has a mapped topic") {
        AgencyFixture f;
        for (auto& list : f.resolved.by_flow) {
            std::erase_if(list, [](const sdmx::AgencyCategory& c) { return c.scheme == 0; });
        }
        auto report = f.run(AnalysisOptions{});
        CHECK_FALSE(report.agreement.has_value());
        auto doc = nlohmann::json::parse(render_json(report));
        CHECK_FALSE(doc.contains("classification_agreement"));
        CHECK(render_summary(report).find("Classification agreement") == std::string::npos);
    }

    TEST_CASE("JSON: agency_categories carries scheme, path, names and path_names") {
        AgencyFixture f;
        auto flows = flows_by_id(nlohmann::json::parse(render_json(f.run(only({"101_1033"})))));
        REQUIRE(flows.count("101_1033") == 1);
        auto expected = nlohmann::json::parse(R"json([
            {"scheme": "IT1:OTHER(1.0)", "path": ["X"], "names": {"it": "Altro", "en": "Other"},
             "path_names": [{"it": "Altro", "en": "Other"}]
    },
            {"scheme": "IT1:ISTAT_DW(1.0)", "path": ["21", "22"],
             "names": {"it": "Matrimoni", "en": "Marriages"},
             "path_names": [{"it": "Popolazione e famiglie", "en": "Population and Households"},
                            {"it": "Matrimoni", "en": "Marriages"}]}])json");
        CHECK(flows["101_1033"]["agency_categories"] == expected);
    }

    TEST_CASE("probe results carry agency_categories in their dataflow object") {
        AgencyFixture f;
        ProbeResults probes;
        probes["101_12"].dataflow_id = "101_12";
        AnalysisOptions o = only({"101_12"});
        o.agency_categories = &f.resolved;
        auto report = analyze(f.catalog, f.categorizer, o, probes);
        auto doc = nlohmann::json::parse(render_tests_json(report));
        REQUIRE(doc["test_results"].size() == 1);
        auto flow = doc["test_results"][0]["dataflow"];
        CHECK(flow["category_source"] == "keywords");
        CHECK(flow["agency_categories"][0]["path"] == nlohmann::json::array({"101"}));
    }

    TEST_CASE("table and CSV show the top-level agency category in the analysis languages") {
        AgencyFixture f;
        auto report = f.run(only({"101_1015", "101_1033", "101_1039"}));
        auto table = render_table(report, TableOptions{200, false});
        auto header = table.substr(0, table.find('\n'));
        CHECK(header.find("CATEGORY  AGENCY CATEGORY  SCORE") != std::string::npos);
        // Italian first (the default languages it, en); several: the first, "+N".
        CHECK(table.find("Agricoltura  ") != std::string::npos);
        CHECK(table.find("Altro +1") != std::string::npos);
        auto csv = render_csv(report);
        auto first_line = csv.substr(0, csv.find("\r\n"));
        CHECK(first_line.ends_with(",tableau_ready,agency_category"));
        CHECK(csv.find(",Altro;Popolazione e famiglie\r\n") != std::string::npos);
        CHECK(csv.find(",Agricoltura\r\n") != std::string::npos);

        // English first: the English names.
        Categorizer english(default_rules(), MatchMode::substring, {"en", "it"});
        AnalysisOptions o = only({"101_1015"});
        o.agency_categories = &f.resolved;
        auto en = analyze(f.catalog, english, o);
        CHECK(render_csv(en).find(",Agriculture\r\n") != std::string::npos);
    }

    TEST_CASE("summary prints the agreement as a table after the existing lines") {
        AgencyFixture f;
        auto summary = render_summary(f.run(AnalysisOptions{}));
        auto plain = render_summary(f.run(AnalysisOptions{}, false));
        // The lines of the default summary, unchanged and in order, before the new ones.
        auto end = plain.find("=== End Summary ===");
        CHECK(summary.starts_with(plain.substr(0, end)));
        CHECK(summary.ends_with("=== End Summary ===\n"));
        CHECK(summary.find("Agency categories: 6 of 456 dataflows categorised by the agency, 5 "
                           "mapped to a topic\n") != std::string::npos);
        CHECK(summary.find("Classification agreement (keyword category vs agency topic): 2 of 5 "
                           "agree (40.0%)\n") != std::string::npos);
        CHECK(summary.find("  keywords \\ agency  popolazione  economia  lavoro\n"
                           "  economia                     0         1       0\n"
                           "  lavoro                       0         0       1\n"
                           "  salute                       0         1       0\n"
                           "  altri                        1         1       0\n") !=
              std::string::npos);
    }

    TEST_CASE("classify agency without agency categories warns and keeps the keyword categories") {
        AgencyFixture f;
        AnalysisOptions o;
        o.classify = ClassifySource::agency;
        auto report = f.run(o, false);
        REQUIRE_FALSE(report.warnings.empty());
        CHECK(report.warnings.back().find("--classify agency without agency categories") !=
              std::string::npos);
        auto doc = nlohmann::json::parse(render_json(report));
        CHECK(doc["category_counts"]["altri"] == 279);
    }

    TEST_CASE("the resolver's warnings join the report's") {
        AgencyFixture f;
        f.resolved.warnings.emplace_back("categorisation C1: no dataflow IT1:NOPE");
        auto report = f.run(AnalysisOptions{});
        REQUIRE_FALSE(report.warnings.empty());
        CHECK(report.warnings.back() == "categorisation C1: no dataflow IT1:NOPE");
    }

    TEST_CASE("parse_classify reads keywords and agency") {
        CHECK(parse_classify("") == ClassifySource::keywords);
        CHECK(parse_classify("keywords") == ClassifySource::keywords);
        CHECK(parse_classify("agency") == ClassifySource::agency);
        CHECK_FALSE(parse_classify("both").has_value());
        CHECK(to_string(ClassifySource::agency) == "agency");
    }

    TEST_CASE(
        "without agency categories the bundled catalogue's reports are byte for byte as before") {
        AgencyFixture f;
        AnalysisOptions o;
        auto report = f.run(o, false);
        o.agency_categories = nullptr;
        auto explicit_null = f.run(o, false);
        CHECK(render_json(report) == render_json(explicit_null));
        // The documents the code before agency categories rendered for this report (sha256).
        CHECK(util::sha256_hex(render_json(report)) ==
              "8aba9b93118e2cf82fb35c58628cc98f5b85fef9762be9458f37a56ff9fe129d");
        CHECK(util::sha256_hex(render_csv(report)) ==
              "d16d0a67cbd0d3415aa944ddc6fdddb868c90b5c3ee6432d52f604b4d415abae");
        CHECK(util::sha256_hex(render_table(report, TableOptions{120, false})) ==
              "df7d542720478488bcbc9707bfb73b78d611bb36775bb8800ea4ce77cec2fd41");
        CHECK(util::sha256_hex(render_summary(report)) ==
              "3b86bed2d8a74efa769e3c498b48a4f656a5ab16f767615e78cfc02417b49462");
        auto doc = nlohmann::json::parse(render_json(report));
        CHECK_FALSE(doc.contains("classification_agreement"));
        for (auto& [id, flow] : flows_by_id(doc)) {
            CAPTURE(id);
            CHECK_FALSE(flow.contains("agency_categories"));
            CHECK_FALSE(flow.contains("category_source"));
        }
    }
}

#include "analysis/categorizer.hpp"
#include "analysis/readiness.hpp"
#include "analysis/render.hpp"
#include "analysis/report.hpp"
#include "analysis/rules.hpp"
#include "sdmx/reader.hpp"
#include "support/support.hpp"
#include "util/error.hpp"

#include <doctest/doctest.h>
#include <fmt/format.h>

#include <algorithm>

using namespace dataflow;
using namespace dataflow::analysis;

namespace {

Categorizer substring_categorizer() {
    return Categorizer(default_rules(), MatchMode::substring);
}

std::string category_name(const Categorizer& c, const Categorization& r) {
    return c.rules().categories()[r.category];
}

std::vector<std::string> keywords(const Categorization& r) {
    return {r.matched_keywords.begin(), r.matched_keywords.end()};
}

std::vector<std::size_t> counts_for(const std::string& path) {
    auto bytes = test::read_file(path);
    auto catalog = sdmx::read_catalog(bytes, path);
    Categorizer cat = substring_categorizer();
    auto report = analyze(catalog, cat, AnalysisOptions{});
    std::vector<std::size_t> counts;
    for (const auto& [name, n] : report.category_counts) {
        counts.push_back(n);
    }
    return counts;
}

sdmx::Dataflow flow(std::string id, std::string name_it, int updated_ms = 0) {
    sdmx::Dataflow f;
    f.id = std::move(id);
    f.names.push_back({"it", std::move(name_it)});
    if (updated_ms > 0) {
        f.last_update_ms = updated_ms;
    }
    return f;
}

} // namespace

TEST_SUITE("analysis") {
    TEST_CASE("analyze on two threads gives the same report as on one") {
        // Over k_parallel_flows flows: the bundled catalogue's 456, copied with new ids.
        auto bytes = test::read_file(test::bundled_catalog());
        auto catalog = sdmx::read_catalog(bytes, "istat.xml");
        const auto base = catalog.dataflows;
        for (int copy = 1; catalog.dataflows.size() < 2 * k_parallel_flows; ++copy) {
            for (auto f : base) {
                f.id = fmt::format("{}_{}", f.id, copy);
                catalog.dataflows.push_back(std::move(f));
            }
        }
        Categorizer cat = substring_categorizer();
        AnalysisOptions one;
        one.limit = 0;
        AnalysisOptions two = one;
        two.threads = 2;
        auto a = analyze(catalog, cat, one);
        auto b = analyze(catalog, cat, two);
        CHECK(render_json(b) == render_json(a));
        CHECK(a.total_analyzed == catalog.dataflows.size());
        CHECK(a.returned == catalog.dataflows.size());
    }

    TEST_CASE("golden values of the reference algorithm") {
        auto c = substring_categorizer();

        auto pop = c.categorize("Popolazione residente", "Dati demografici popolazione italiana");
        CHECK(category_name(c, pop) == "popolazione");
        CHECK(pop.score == 40);
        CHECK(keywords(pop) ==
              std::vector<std::string>{"popolazione", "residente", "demografic", "demo"});
        CHECK(pop.confidence == doctest::Approx(0.9));

        auto pil = c.categorize("PIL nazionale", "Prodotto interno lordo economia italiana");
        CHECK(category_name(c, pil) == "economia");
        CHECK(pil.score == 18);
        CHECK(keywords(pil) == std::vector<std::string>{"pil", "economia"});
        CHECK(pil.confidence == doctest::Approx(0.5133).epsilon(0.0001));

        auto conti = c.categorize("Compilazione dei conti", "");
        CHECK(category_name(c, conti) == "economia");
        CHECK(conti.score == 9);
        CHECK(keywords(conti) == std::vector<std::string>{"pil"});

        auto sic = c.categorize("Sicurezza dei cittadini", "");
        CHECK(category_name(c, sic) == "popolazione");
        CHECK(sic.score == 10);
        CHECK(keywords(sic) == std::vector<std::string>{"cittadini"});

        auto none = c.categorize("Some random dataflow", "");
        CHECK(category_name(c, none) == "altri");
        CHECK(none.score == 0);
        CHECK(none.matched_keywords.empty());
        CHECK(none.confidence == 0.0);
    }

    TEST_CASE("lower-casing is Unicode-aware and a keyword counts once") {
        auto c = substring_categorizer();
        // "mortalità" is a keyword of popolazione (10) and salute (5): only lower-casing À finds
        // it.
        auto r = c.categorize("MORTALITÀ INFANTILE", "");
        CHECK(category_name(c, r) == "popolazione");
        CHECK(keywords(r) == std::vector<std::string>{"mortalità"});
        CHECK(r.score == 10);
        auto twice = c.categorize("mortalità, mortalità e ancora mortalità", "");
        CHECK(twice.score == 10);
    }

    TEST_CASE("ties keep the earlier rule, only strictly better scores win") {
        // "lavoro" (8) vs "regione" (7) + ... : craft a tie between economia (9) and nothing else
        auto c = substring_categorizer();
        // salute: sanita, salute (5+5 = 10) vs popolazione: cittadini (10): popolazione first.
        auto r = c.categorize("salute e sanita dei cittadini", "");
        CHECK(category_name(c, r) == "popolazione");
        CHECK(r.score == 10);
    }

    TEST_CASE("catalogue goldens: counts per category in rule order, altri last") {
        CHECK(counts_for(test::bundled_catalog()) ==
              std::vector<std::size_t>{44, 45, 57, 7, 15, 9, 279});
        CHECK(counts_for(test::sample("khaeru__sdmx-test-data/INSEE/dataflow.xml")) ==
              std::vector<std::size_t>{9, 180, 32, 4, 3, 7, 428});
        CHECK(counts_for(test::sample("fditraglia__claude-checks-ft/dataflows.xml")) ==
              std::vector<std::size_t>{53, 30, 3, 25, 1, 1, 3});
    }

    TEST_CASE("word mode: a keyword must start at a word boundary") {
        Categorizer w(default_rules(), MatchMode::word);
        auto conti = w.categorize("Compilazione dei conti", "");
        CHECK(category_name(w, conti) == "altri");
        auto pil = w.categorize("PIL nazionale", "");
        CHECK(category_name(w, pil) == "economia");
        // Prefixes still match at a word start: "demografic" in "demografici".
        auto demo = w.categorize("Indicatori demografici", "");
        CHECK(keywords(demo) == std::vector<std::string>{"demografic", "demo"});
        // Accented letters are word characters: "città" + "regione" -> no boundary inside.
        auto acc = w.categorize("sottoregione", "");
        CHECK(category_name(w, acc) == "altri");
    }

    TEST_CASE("word mode uses the display-name language list for the name") {
        sdmx::Dataflow f;
        f.id = "X";
        f.names = {{"it", "Coltivazioni"}, {"en", "Employment"}};
        Categorizer en_first(default_rules(), MatchMode::word, {"en", "it"});
        CHECK(category_name(en_first, en_first.categorize(f)) == "lavoro");
        Categorizer compat(default_rules(), MatchMode::substring, {"en", "it"});
        CHECK(category_name(compat, compat.categorize(f)) == "altri"); // reference: Italian name
    }

    TEST_CASE("TOML rules replace the defaults, categories are open-ended") {
        auto rules = parse_rules_toml(R"(
[[rules]]
category = "trasporti"
priority = 4
keywords = ["Trasporto", " aereo ", ""]

[[rules]]
id = "env"
category = "ambiente"
priority = 3
keywords = ["rifiuti"]
description = "waste"
)",
                                      "r.toml");
        REQUIRE(rules->rules().size() == 2);
        CHECK(rules->rules()[0].keywords == std::vector<std::string>{"trasporto", "aereo"});
        CHECK(rules->categories() == std::vector<std::string>{"trasporti", "ambiente", "altri"});
        Categorizer c(rules, MatchMode::substring);
        auto r = c.categorize("Traffico aereo", "");
        CHECK(category_name(c, r) == "trasporti");
        CHECK(r.score == 4);
        CHECK(rules->fingerprint() != default_rules()->fingerprint());
    }

    TEST_CASE("rule file errors carry FILE:LINE:COL") {
        auto err = [](const std::string& text) {
            try {
                parse_rules_toml(text, "rules.toml");
            } catch (const InputError& e) {
                return std::string(e.what());
            }
            FAIL("expected InputError");
            return std::string();
        };
        CHECK(err("[[rules]\ncategory = 1").starts_with("rules.toml:1:"));
        auto no_kw = err("[[rules]]\ncategory = \"a\"\npriority = 2\nkeywords = []\n");
        CHECK(no_kw.starts_with("rules.toml:4:"));
        CHECK(no_kw.find("empty") != std::string::npos);
        auto neg = err("[[rules]]\ncategory = \"a\"\npriority = -3\nkeywords = [\"x\"]\n");
        CHECK(neg.starts_with("rules.toml:3:"));
        CHECK(neg.find("positive") != std::string::npos);
        CHECK(err("[[rules]]\ncategory = \"a\"\npriority = 1\n").find("missing 'keywords'") !=
              std::string::npos);
        CHECK(err("[[rules]]\ncategory = \"a\"\npriority = 1\nkeyword = [\"x\"]\n")
                  .find("unknown key 'keyword'") != std::string::npos);
        CHECK(err("[[rules]]\ncategory = \"altri\"\npriority = 1\nkeywords = [\"x\"]\n")
                  .find("fallback") != std::string::npos);
        CHECK(err("title = \"x\"\n").find("unknown top-level key") != std::string::npos);
        std::string many = "[[rules]]\ncategory = \"a\"\npriority = 1000000\nkeywords = [";
        for (int i = 0; i < 1001; ++i) {
            many += "\"gdp\",";
        }
        many += "]\n";
        CHECK(err(many).find("exceeds") != std::string::npos); // scores could overflow int
        CHECK(err("").find("no [[rules]]") != std::string::npos);
    }

    TEST_CASE("readiness goldens") {
        ProbeResult p;
        p.data_access_success = true;
        p.size_bytes = static_cast<std::uint64_t>(26.9777 * 1024 * 1024);
        auto r = assess_readiness("economia", 32, p);
        CHECK(r.priority == doctest::Approx(34.6978).epsilon(0.00001));
        CHECK(r.connection == ConnectionType::google_sheets_import);
        CHECK(r.tableau_ready);
        CHECK(suggest_refresh("lavoro") == RefreshFrequency::monthly);
        CHECK(suggest_refresh("popolazione") == RefreshFrequency::monthly);
        CHECK(suggest_refresh("territorio") == RefreshFrequency::yearly);
        CHECK(suggest_refresh("istruzione") == RefreshFrequency::yearly);
        CHECK(suggest_refresh("salute") == RefreshFrequency::quarterly);
        CHECK(suggest_refresh("economia") == RefreshFrequency::quarterly);
        CHECK(suggest_refresh("altri") == RefreshFrequency::quarterly);
        CHECK(suggest_refresh("anything") == RefreshFrequency::quarterly);

        ProbeResult small;
        small.data_access_success = true;
        small.size_bytes = static_cast<std::uint64_t>(1.5726 * 1024 * 1024);
        auto s = assess_readiness("altri", 7, small);
        CHECK(s.priority == doctest::Approx(7.1573).epsilon(0.00001));
        CHECK(s.connection == ConnectionType::direct_connection);

        CHECK(suggest_connection(5.0) == ConnectionType::direct_connection);
        CHECK(suggest_connection(50.0) == ConnectionType::google_sheets_import);
        CHECK(suggest_connection(50.01) == ConnectionType::bigquery_extract);
        CHECK(readiness_priority(20, 5.0, 2500) == doctest::Approx(23.0));
        CHECK(readiness_priority(0, 1000.0, 1000000) == doctest::Approx(10.0));

        ProbeResult parse_failed = p;
        parse_failed.parse_error = true;
        CHECK_FALSE(assess_readiness("economia", 1, parse_failed).tableau_ready);
    }

    TEST_CASE("the limit is shared round-robin and never empties a category needlessly") {
        CHECK(share_limit({10, 10, 10}, 5) == std::vector<std::size_t>{2, 2, 1});
        CHECK(share_limit({1, 10, 0, 10}, 6) == std::vector<std::size_t>{1, 3, 0, 2});
        CHECK(share_limit({3, 4}, 0) == std::vector<std::size_t>{3, 4});
        CHECK(share_limit({3, 4}, 100) == std::vector<std::size_t>{3, 4});
        CHECK(share_limit({5, 5, 5, 5, 5, 5, 5}, 5) ==
              std::vector<std::size_t>{1, 1, 1, 1, 1, 0, 0});
    }

    TEST_CASE("analyze: filters, ranking, limit, category counts before filters") {
        auto bytes = test::read_file(test::bundled_catalog());
        auto catalog = sdmx::read_catalog(bytes, "istat");
        auto c = substring_categorizer();

        AnalysisOptions small;
        small.limit = 5; // the reference emptied everything below 7
        auto r = analyze(catalog, c, small);
        CHECK(r.returned == 5);
        CHECK(r.categories_found == 5);
        CHECK(r.total_analyzed == 456);
        CHECK(r.category_counts.size() == 7);
        CHECK(r.groups.size() == 7);

        AnalysisOptions all;
        all.limit = 0;
        auto full = analyze(catalog, c, all);
        CHECK(full.returned == 456);
        // Score descending within a category, ties in document order.
        for (const auto& g : full.groups) {
            for (std::size_t i = 1; i < g.flows.size(); ++i) {
                const auto& a = g.flows[i - 1];
                const auto& b = g.flows[i];
                CHECK(a.categorization.score >= b.categorization.score);
                if (a.categorization.score == b.categorization.score) {
                    CHECK(a.document_index < b.document_index);
                }
            }
        }

        AnalysisOptions filtered;
        filtered.categories = {"lavoro", "economia"};
        filtered.min_score = 16;
        filtered.limit = 0;
        auto f = analyze(catalog, c, filtered);
        REQUIRE(f.groups.size() == 2);
        CHECK(f.groups[0].category == "economia"); // rule order, not request order
        CHECK(f.groups[1].category == "lavoro");
        for (const auto& g : f.groups) {
            for (const auto& x : g.flows) {
                CHECK(x.categorization.score >= 16);
            }
        }
        CHECK(f.category_counts[2].second == 57); // counts ignore filters

        AnalysisOptions bad;
        bad.categories = {"sport"};
        CHECK_THROWS_WITH_AS(analyze(catalog, c, bad),
                             doctest::Contains("valid categories: popolazione, economia"),
                             UsageError);
    }

    TEST_CASE("analyze: sort keys and only-ready with probe results") {
        sdmx::Catalog catalog;
        catalog.dataflows = {flow("B", "Popolazione zeta", 1000), flow("A", "popolazione alfa"),
                             flow("C", "Popolazione residente beta", 3000)};
        auto c = substring_categorizer();
        AnalysisOptions by_id;
        by_id.sort = SortKey::id;
        auto r = analyze(catalog, c, by_id);
        REQUIRE(r.groups[0].flows.size() == 3);
        CHECK(r.groups[0].flows[0].flow->id == "A");
        AnalysisOptions by_name;
        by_name.sort = SortKey::name;
        r = analyze(catalog, c, by_name);
        CHECK(r.groups[0].flows[0].flow->id == "A"); // case-insensitive: "popolazione alfa"
        AnalysisOptions by_updated;
        by_updated.sort = SortKey::updated;
        r = analyze(catalog, c, by_updated);
        CHECK(r.groups[0].flows[0].flow->id == "C");
        CHECK(r.groups[0].flows[1].flow->id == "B");
        CHECK(r.groups[0].flows[2].flow->id == "A"); // no LAST_UPDATE: last

        ProbeResults probes;
        ProbeResult ok;
        ok.dataflow_id = "B";
        ok.data_access_success = true;
        ok.size_bytes = 1024;
        probes["B"] = ok;
        ProbeResult failed;
        failed.dataflow_id = "C";
        probes["C"] = failed;
        AnalysisOptions ready;
        ready.only_ready = true;
        r = analyze(catalog, c, ready, probes);
        CHECK(r.returned == 1);
        CHECK(r.groups[0].flows[0].flow->id == "B");
        CHECK(r.tableau_ready_count == 1);
        REQUIRE(r.test_results.size() == 1);
        CHECK(r.test_results[0].readiness.refresh == RefreshFrequency::monthly);
    }
}

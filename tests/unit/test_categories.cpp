#include "sdmx/categories.hpp"
#include "sdmx/reader.hpp"
#include "support/support.hpp"
#include "util/error.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <functional>

using namespace dataflow;
using namespace dataflow::sdmx;
using dataflow::test::sample;

namespace {

const std::string k_insee = "khaeru__sdmx-test-data/INSEE/CNA-2010-CONSO-SI-A17-structure.xml";
const std::string k_istat_scheme = "ondata__guida-api-istat/rawdata/categoryscheme.xml";
const std::string k_json_sample =
    "khaeru__sdmx-test-data/v3/json/structure/constructed-sample.json";

Catalog read_path(const std::string& path, const std::string& name) {
    auto bytes = test::read_file(path);
    return read_catalog(bytes, name);
}

Catalog read_sample(const std::string& rel) {
    return read_path(sample(rel), rel);
}

Catalog read_constructed(const std::string& file) {
    return read_path(std::string(DATAFLOW_FIXTURES_DIR) + "/constructed/" + file, file);
}

Catalog read_text(std::string text, const std::string& name = "doc.xml") {
    return read_catalog(text, name);
}

/// The InputError message of `f`; fails the test when it throws none.
std::string error_of(const std::function<void()>& f) {
    try {
        f();
    } catch (const InputError& e) {
        return e.what();
    }
    FAIL("expected an InputError");
    return {};
}

/// An SDMX-ML 2.1 Structure message with `structures` inside <m:Structures>.
std::string structure21(const std::string& structures) {
    return R"(<?xml version="1.0" encoding="UTF-8"?>)"
           R"(<m:Structure xmlns:m="http://www.sdmx.org/resources/sdmxml/schemas/v2_1/message" )"
           R"(xmlns:s="http://www.sdmx.org/resources/sdmxml/schemas/v2_1/structure" )"
           R"(xmlns:c="http://www.sdmx.org/resources/sdmxml/schemas/v2_1/common">)"
           R"(<m:Header><m:ID>X</m:ID></m:Header><m:Structures>)" +
           structures + "</m:Structures></m:Structure>";
}

std::string flow21(const std::string& id, const std::string& version, const std::string& name) {
    return "<s:Dataflow id=\"" + id + "\" agencyID=\"IT1\" version=\"" + version +
           "\"><c:Name xml:lang=\"en\">" + name + "</c:Name></s:Dataflow>";
}

std::string categorisation21(const std::string& id, const std::string& flow,
                             const std::string& flow_version, const std::string& category) {
    return "<s:Categorisation id=\"" + id +
           "\" agencyID=\"IT1\" version=\"1.0\"><s:Source><Ref id=\"" + flow +
           "\" agencyID=\"IT1\"" +
           (flow_version.empty() ? "" : " version=\"" + flow_version + "\"") +
           " class=\"Dataflow\"/></s:Source><s:Target><Ref id=\"" + category +
           "\" maintainableParentID=\"S\" maintainableParentVersion=\"1.0\" agencyID=\"IT1\" "
           "class=\"Category\"/></s:Target></s:Categorisation>";
}

std::size_t count_categories(const std::vector<Category>& level) {
    std::size_t n = level.size();
    for (const auto& c : level) {
        n += count_categories(c.children);
    }
    return n;
}

std::size_t depth_of(const std::vector<Category>& level) {
    std::size_t d = 0;
    for (const auto& c : level) {
        d = std::max(d, 1 + depth_of(c.children));
    }
    return d;
}

std::string name_in(const Category& c, std::string_view lang) {
    for (const auto& n : c.names) {
        if (n.lang == lang) {
            return n.text;
        }
    }
    return {};
}

std::size_t flow_index(const Catalog& c, std::string_view id) {
    auto it = std::find_if(c.dataflows.begin(), c.dataflows.end(),
                           [&](const Dataflow& d) { return d.id == id; });
    REQUIRE(it != c.dataflows.end());
    return static_cast<std::size_t>(it - c.dataflows.begin());
}

using Path = std::vector<std::string>;

/// The paths of a dataflow's resolved categories, in order.
std::vector<Path> paths_of(const Catalog& c, const ResolvedCategories& r, std::string_view id) {
    std::vector<Path> out;
    for (const auto& a : r.by_flow.at(flow_index(c, id))) {
        REQUIRE(a.nodes.size() == a.path.size());
        for (std::size_t i = 0; i < a.nodes.size(); ++i) {
            CHECK(a.nodes[i]->id == a.path[i]);
        }
        out.push_back(a.path);
    }
    return out;
}

/// The bundled 456-dataflow ISTAT list, the real ISTAT_DW scheme and the constructed
/// categorisations, merged as three sources.
Catalog istat_three_sources() {
    std::vector<Catalog> parts;
    parts.push_back(read_path(test::bundled_catalog(), "istat-dataflows-2020.xml"));
    parts.push_back(read_sample(k_istat_scheme));
    parts.push_back(read_constructed("istat-categorisations.xml"));
    return merge_catalogs(std::move(parts), {"istat-dataflows-2020.xml", "categoryscheme.xml",
                                             "istat-categorisations.xml"});
}

} // namespace

TEST_SUITE("categories") {
    TEST_CASE(
        "INSEE single message: dataflow, scheme and leaf-id categorisation read in one pass") {
        auto c = read_sample(k_insee);
        CHECK(c.format == "SDMX-ML 2.1");
        REQUIRE(c.dataflows.size() == 1);
        CHECK(c.dataflows[0].id == "CNA-2010-CONSO-SI-A17");
        REQUIRE(c.category_schemes.size() == 1);
        const auto& s = c.category_schemes[0];
        CHECK(s.id == "CLASSEMENT_DATAFLOWS");
        CHECK(s.agency_id == "FR1");
        CHECK(s.version == "1.0");
        CHECK(s.label() == "FR1:CLASSEMENT_DATAFLOWS(1.0)");
        CHECK(s.source_line == 24);
        REQUIRE(s.names.size() == 2);
        CHECK(s.names[0].lang == "fr");
        CHECK(s.names[0].text == "Classement des dataflows");
        CHECK(s.names[1].text == "DataFlows categorisation");
        CHECK(count_categories(s.categories) == 190);
        REQUIRE(c.categorisations.size() == 1);
        const auto& k = c.categorisations[0];
        CHECK(k.id == "CAT_CNA-ERE-2010_CNA-2010-CONSO-SI-A17");
        CHECK(k.agency_id == "FR1");
        CHECK(k.version == "1.0");
        CHECK(k.flow_id == "CNA-2010-CONSO-SI-A17");
        CHECK(k.flow_agency == "FR1");
        CHECK(k.flow_version == "1.0");
        CHECK(k.scheme_id == "CLASSEMENT_DATAFLOWS");
        CHECK(k.scheme_agency == "FR1");
        CHECK(k.scheme_version == "1.0");
        CHECK(k.category == "CNA-ERE-2010");
        CHECK(k.source_line == 790);
    }

    TEST_CASE("INSEE leaf-id categorisation resolves to the full four-level path with names") {
        auto c = read_sample(k_insee);
        auto r = resolve_categorisations(c);
        CHECK(r.resolved == 1);
        CHECK(r.unresolved == 0);
        CHECK(r.warnings.empty());
        REQUIRE(r.by_flow.size() == 1);
        REQUIRE(r.by_flow[0].size() == 1);
        const auto& a = r.by_flow[0][0];
        CHECK(a.scheme == 0);
        CHECK(a.path == Path{"COMPTA-NAT", "CNA", "CNA-ERE", "CNA-ERE-2010"});
        REQUIRE(a.nodes.size() == 4);
        CHECK(name_in(*a.nodes[0], "fr") == "Comptabilité nationale (PIB, consommation...)");
        CHECK(name_in(*a.nodes[0], "en") == "National accounts (GDP, consumption...)");
        CHECK(name_in(*a.nodes[1], "fr") == "Comptes nationaux annuels");
        CHECK(name_in(*a.nodes[1], "en") == "Annual national accounts");
        CHECK(name_in(*a.nodes[2], "fr") == "Équilibre ressources-emplois par produit");
        CHECK(name_in(*a.nodes[2], "en") == "Resources-uses balance by product");
        CHECK(name_in(*a.nodes[3], "fr") == "Base 2010");
        CHECK(name_in(*a.nodes[3], "en") == "Base 2010");
        // The node pointers point into the catalogue's own scheme.
        CHECK(a.nodes[0] == &c.category_schemes[0].categories[0]);
    }

    TEST_CASE("ISTAT category scheme read alone: 19 top-level themes and 113 categories") {
        auto c = read_sample(k_istat_scheme);
        CHECK(c.dataflows.empty());
        CHECK(c.categorisations.empty());
        CHECK(c.prepared == "2020-05-03T14:30:20.0348228+02:00");
        REQUIRE(c.category_schemes.size() == 1);
        const auto& s = c.category_schemes[0];
        CHECK(s.label() == "IT1:ISTAT_DW(1.0)");
        CHECK(s.source_line == 13);
        CHECK(s.categories.size() == 19);
        CHECK(count_categories(s.categories) == 113);
        CHECK(depth_of(s.categories) == 4);
        CHECK(s.categories.front().id == "6");
        CHECK(name_in(s.categories.front(), "it") == "Imprese");
        CHECK(name_in(s.categories.front(), "en") == "Enterprises");
        CHECK(s.categories.back().id == "729");
        CHECK(name_in(s.categories.back(), "en") == "Territorial features");
        CHECK(s.categories.back().children.empty());
        auto r = resolve_categorisations(c);
        CHECK(r.by_flow.empty());
        CHECK(r.resolved + r.unresolved == 0);
    }

    TEST_CASE(
        "ISTAT dotted-path categorisations over the 456-dataflow list resolve to full paths") {
        auto c = istat_three_sources();
        CHECK(c.dataflows.size() == 456);
        CHECK(c.category_schemes.size() == 1);
        CHECK(c.categorisations.size() == 10);
        auto r = resolve_categorisations(c);
        REQUIRE(r.by_flow.size() == 456);
        CHECK(r.resolved == 6);
        CHECK(r.unresolved == 4);
        CHECK(paths_of(c, r, "101_1015") == std::vector<Path>{{"101", "102"}});
        const auto& crops = r.by_flow[flow_index(c, "101_1015")][0];
        CHECK(name_in(*crops.nodes[0], "it") == "Agricoltura");
        CHECK(name_in(*crops.nodes[1], "it") ==
              "Risultati economici e struttura delle aziende agricole");
        CHECK(name_in(*crops.nodes[1], "en") ==
              "Economic output and structure of agricultural holdings");
        CHECK(paths_of(c, r, "150_908") == std::vector<Path>{{"149", "150"}});
        // A leaf id in ISTAT's scheme (no dotted path) resolves too.
        CHECK(paths_of(c, r, "33_290") == std::vector<Path>{{"30", "33"}});
        std::size_t categorised = 0;
        for (const auto& list : r.by_flow) {
            categorised += list.empty() ? 0 : 1;
        }
        CHECK(categorised == 4);
    }

    TEST_CASE(
        "several categorisations of one dataflow are kept in document order, duplicates once") {
        auto c = istat_three_sources();
        auto r = resolve_categorisations(c);
        // 723_1041 has three categorisations: 149.532.723, 21, and 149.532.723 again.
        CHECK(paths_of(c, r, "723_1041") == std::vector<Path>{{"149", "532", "723"}, {"21"}});
        const auto& top = r.by_flow[flow_index(c, "723_1041")][1];
        REQUIRE(top.nodes.size() == 1);
        CHECK(name_in(*top.nodes[0], "en") == "Population and Households");
    }

    TEST_CASE("missing dataflow, category, scheme and version are counted and warned about") {
        auto c = istat_three_sources();
        auto r = resolve_categorisations(c);
        CHECK(r.unresolved == 4);
        CHECK(r.warnings == std::vector<std::string>{
                                "categorisation CAT_NO_FLOW: no dataflow IT1:FOO(1.0) in the "
                                "catalogue",
                                "categorisation CAT_NO_CATEGORY: no category 999 in "
                                "IT1:ISTAT_DW(1.0)",
                                "categorisation CAT_NO_SCHEME: no category scheme "
                                "IT1:ISTAT_OTHER(1.0) in the catalogue (give its categoryscheme "
                                "message as a source too)",
                                "categorisation CAT_WRONG_VERSION: no dataflow IT1:150_908(9.9) "
                                "in the catalogue (it has IT1:150_908(1.1))",
                            });
        // Without the scheme every categorisation of a present dataflow is unresolved.
        std::vector<Catalog> parts;
        parts.push_back(read_path(test::bundled_catalog(), "istat-dataflows-2020.xml"));
        parts.push_back(read_constructed("istat-categorisations.xml"));
        auto no_scheme = merge_catalogs(std::move(parts), {"a", "b"});
        auto r2 = resolve_categorisations(no_scheme);
        CHECK(r2.resolved == 0);
        CHECK(r2.unresolved == 10);
        CHECK(r2.warnings.size() == 10);
    }

    TEST_CASE("SDMX-ML 3.0: URN sources and targets are read and resolved") {
        auto c = read_constructed("categories-3.0.xml");
        CHECK(c.format == "SDMX-ML 3.0");
        REQUIRE(c.category_schemes.size() == 1);
        CHECK(c.category_schemes[0].label() == "ECB:TOPICS(1.0.0)");
        CHECK(count_categories(c.category_schemes[0].categories) == 4);
        REQUIRE(c.categorisations.size() == 3);
        const auto& k = c.categorisations[0];
        CHECK(k.id == "CAT_EXR_PATH");
        CHECK(k.flow_id == "EXR");
        CHECK(k.flow_agency == "ECB");
        CHECK(k.flow_version == "1.0.0");
        CHECK(k.scheme_id == "TOPICS");
        CHECK(k.scheme_agency == "ECB");
        CHECK(k.scheme_version == "1.0.0");
        CHECK(k.category == "ECO.EXR.EXR_D");
        CHECK(k.source_line == 41);
        CHECK(c.categorisations[1].category == "EXR");
        auto r = resolve_categorisations(c);
        CHECK(r.resolved == 2);
        CHECK(r.unresolved == 1);
        CHECK(paths_of(c, r, "EXR") == std::vector<Path>{{"ECO", "EXR", "EXR_D"}, {"ECO", "EXR"}});
        CHECK(name_in(*r.by_flow[0][0].nodes[0], "de") == "Wirtschaft");
        CHECK(r.warnings == std::vector<std::string>{"categorisation CAT_EXR_MISSING: no category "
                                                     "ECO.NOPE in ECB:TOPICS(1.0.0)"});
    }

    TEST_CASE("SDMX-ML 2.0: a category scheme with nested categories is read") {
        auto c = read_text(
            R"(<Structure xmlns="http://www.SDMX.org/resources/SDMXML/schemas/v2_0/message" )"
            R"(xmlns:s="http://www.SDMX.org/resources/SDMXML/schemas/v2_0/structure">)"
            R"(<Header><ID>X</ID></Header><CategorySchemes>)"
            R"(<s:CategoryScheme id="S" agencyID="IMF" version="1.0"><s:Name xml:lang="en">S</s:Name>)"
            R"(<s:Category id="A"><s:Name xml:lang="en">Alpha</s:Name><s:Category id="B"/>)"
            R"(</s:Category></s:CategoryScheme></CategorySchemes></Structure>)");
        CHECK(c.format == "SDMX-ML 2.0");
        REQUIRE(c.category_schemes.size() == 1);
        CHECK(c.category_schemes[0].label() == "IMF:S(1.0)");
        REQUIRE(c.category_schemes[0].categories.size() == 1);
        CHECK(name_in(c.category_schemes[0].categories[0], "en") == "Alpha");
        REQUIRE(c.category_schemes[0].categories[0].children.size() == 1);
        CHECK(c.category_schemes[0].categories[0].children[0].id == "B");
    }

    TEST_CASE("SDMX-JSON official sample: category scheme and categorisation resolve EXR") {
        auto c = read_sample(k_json_sample);
        CHECK(c.format == "SDMX-JSON 2.0");
        REQUIRE(c.dataflows.size() == 1);
        REQUIRE(c.category_schemes.size() == 1);
        const auto& s = c.category_schemes[0];
        CHECK(s.label() == "ECB:MOBILE_NAVI(1.0)");
        REQUIRE(s.names.size() == 1);
        CHECK(s.names[0].text == "Economic concepts");
        REQUIRE(s.categories.size() == 1);
        CHECK(s.categories[0].id == "00");
        REQUIRE(s.categories[0].children.size() == 1);
        CHECK(s.categories[0].children[0].id == "07");
        REQUIRE(c.categorisations.size() == 1);
        const auto& k = c.categorisations[0];
        CHECK(k.id == "53A341E8-D48B-767E-D5FF-E2E3E0E2BB19");
        CHECK(k.flow_id == "EXR");
        CHECK(k.flow_agency == "ECB");
        CHECK(k.flow_version == "1.0");
        CHECK(k.scheme_id == "MOBILE_NAVI");
        CHECK(k.category == "07");
        auto r = resolve_categorisations(c);
        CHECK(r.resolved == 1);
        // "07" is not a top-level category: it resolves as a leaf id, below "00".
        CHECK(paths_of(c, r, "EXR") == std::vector<Path>{{"00", "07"}});
        CHECK(name_in(*r.by_flow[0][0].nodes[0], "en") == "Parent category");
        CHECK(name_in(*r.by_flow[0][0].nodes[1], "en") == "Exchange rates");
    }

    TEST_CASE(
        "SDMX-JSON: a message with only category schemes is accepted, one with none refused") {
        auto c = read_text(R"({"data": {"categorySchemes": [{"id": "S", "agencyID": "A",
            "version": "1.0", "names": {"en": "S"}, "categories": [{"id": "X",
            "names": {"en": "X"}, "categories": [{"id": "Y", "name": "Y"}]}]}]}})",
                           "s.json");
        REQUIRE(c.category_schemes.size() == 1);
        CHECK(c.dataflows.empty());
        CHECK(count_categories(c.category_schemes[0].categories) == 2);
        auto err =
            error_of([] { read_text(R"({"data": {"codelists": [{"id": "CL"}]}})", "c.json"); });
        CHECK(err.find("holds no dataflows (it holds codelists (1))") != std::string::npos);
        auto bad = error_of([] { read_text(R"({"data": {"categorisations": {}}})", "c.json"); });
        CHECK(bad.find("data.categorisations: expected an array") != std::string::npos);
    }

    TEST_CASE("SDMX-ML: a structure message with none of the three is still refused") {
        auto err = error_of([] { read_sample("ondata__guida-api-istat/esempi/CL_FREQ.xml"); });
        CHECK(err.find("structure message holds no dataflows (it holds Codelists (1))") !=
              std::string::npos);
        auto empty = error_of([] { read_text(structure21("")); });
        CHECK(empty.find("holds no dataflows (it is empty)") != std::string::npos);
        // Categorisations alone are a valid input (the answer to /categorisation/{agency}).
        auto c = read_constructed("istat-categorisations.xml");
        CHECK(c.categorisations.size() == 10);
        CHECK(c.categorisations[0].source_line == 19);
        CHECK(c.dataflows.empty());
    }

    TEST_CASE("require_dataflows refuses a catalogue of categories alone, naming what it holds") {
        auto scheme = read_sample(k_istat_scheme);
        auto err = error_of([&] { require_dataflows(scheme, "categoryscheme.xml"); });
        CHECK(err == "categoryscheme.xml: this SDMX-ML 2.1 structure message holds no dataflows "
                     "(it holds CategorySchemes (1)); give the dataflow list (the answer to "
                     "/dataflow/{agency}) too");
        auto links = read_constructed("istat-categorisations.xml");
        CHECK(error_of([&] {
                  require_dataflows(links, "l.xml");
              }).find("(it holds Categorisations (10))") != std::string::npos);
        require_dataflows(read_sample(k_insee), "insee.xml"); // has one: no error
    }

    TEST_CASE("category nesting deeper than the depth limit is refused with its position") {
        std::string doc = "<s:CategorySchemes><s:CategoryScheme id=\"S\" agencyID=\"A\">";
        for (int i = 0; i < 300; ++i) {
            doc += "<s:Category id=\"c" + std::to_string(i) + "\">";
        }
        for (int i = 0; i < 300; ++i) {
            doc += "</s:Category>";
        }
        doc += "</s:CategoryScheme></s:CategorySchemes>";
        auto err = error_of([&] { read_text(structure21(doc)); });
        CHECK(err.find("doc.xml:1:") == 0);
        CHECK(err.find("nested deeper than 256 levels") != std::string::npos);
    }

    TEST_CASE("a leaf id present twice in a scheme takes the first in document order and warns") {
        auto c = read_text(structure21(
            "<s:CategorySchemes><s:CategoryScheme id=\"S\" agencyID=\"IT1\" version=\"1.0\">"
            "<s:Category id=\"A\"><s:Category id=\"L\"/></s:Category>"
            "<s:Category id=\"B\"><s:Category id=\"L\"/></s:Category>"
            "</s:CategoryScheme></s:CategorySchemes><s:Dataflows>" +
            flow21("F", "1.0", "f") + "</s:Dataflows><s:Categorisations>" +
            categorisation21("K1", "F", "1.0", "L") + categorisation21("K2", "F", "1.0", "B.L") +
            "</s:Categorisations>"));
        auto r = resolve_categorisations(c);
        CHECK(r.resolved == 2);
        CHECK(r.unresolved == 0);
        CHECK(paths_of(c, r, "F") == std::vector<Path>{{"A", "L"}, {"B", "L"}});
        CHECK(r.warnings ==
              std::vector<std::string>{"categorisation K1: category id L occurs more than once in "
                                       "IT1:S(1.0); the first in document order is taken"});
    }

    TEST_CASE("a deep path with long ids is bounded: resolved up to 4 KiB of ids, refused beyond") {
        // 40 nested categories with 200-byte ids: an 8 KB path, which every categorisation of it
        // would copy.
        std::string open;
        std::string close;
        std::string dotted;
        for (int i = 0; i < 40; ++i) {
            auto id = std::string(199, 'x') + static_cast<char>('a' + i % 26);
            open += "<s:Category id=\"" + id + "\">";
            close += "</s:Category>";
            dotted += (i == 0 ? "" : ".") + id;
        }
        auto c = read_text(structure21(
            "<s:CategorySchemes><s:CategoryScheme id=\"S\" agencyID=\"IT1\" version=\"1.0\">" +
            open + close + "<s:Category id=\"A\"><s:Category id=\"B\"/></s:Category>" +
            "</s:CategoryScheme></s:CategorySchemes><s:Dataflows>" + flow21("F", "1.0", "f") +
            "</s:Dataflows><s:Categorisations>" + categorisation21("K1", "F", "1.0", dotted) +
            categorisation21("K2", "F", "1.0", "A.B") + "</s:Categorisations>"));
        auto r = resolve_categorisations(c);
        CHECK(r.resolved == 1);
        CHECK(r.unresolved == 1);
        CHECK(paths_of(c, r, "F") == std::vector<Path>{{"A", "B"}});
        REQUIRE(r.warnings.size() == 1);
        CHECK(r.warnings[0].find("is longer than 4096 bytes") != std::string::npos);
    }

    TEST_CASE("dataflow versions: none or a wildcard matches any, 1.0 matches 1.0.0") {
        auto c = read_text(structure21(
            "<s:CategorySchemes><s:CategoryScheme id=\"S\" agencyID=\"IT1\" version=\"1.0\">"
            "<s:Category id=\"T\"/></s:CategoryScheme></s:CategorySchemes><s:Dataflows>" +
            flow21("F", "1.0.0", "f") + flow21("G", "2.0", "g") + flow21("G", "2.1", "g") +
            "</s:Dataflows><s:Categorisations>" + categorisation21("K1", "F", "1.0", "T") +
            categorisation21("K2", "G", "", "T") + categorisation21("K3", "G", "*", "T") +
            categorisation21("K4", "G", "2.1", "T") + "</s:Categorisations>"));
        auto r = resolve_categorisations(c);
        CHECK(r.resolved == 4);
        CHECK(r.unresolved == 0);
        REQUIRE(r.by_flow.size() == 3);
        CHECK(r.by_flow[0].size() == 1);
        CHECK(r.by_flow[1].size() == 1); // G 2.0: K2 and K3, the same category once
        CHECK(r.by_flow[2].size() == 1); // G 2.1: K2, K3 and K4
    }

    TEST_CASE(
        "merge: a dataflow with the same id and version but another name names both sources") {
        std::vector<Catalog> parts;
        parts.push_back(
            read_text(structure21("<s:Dataflows>" + flow21("X", "1.0", "Uno") + "</s:Dataflows>")));
        parts.push_back(
            read_text(structure21("<s:Dataflows>" + flow21("X", "1.0", "Due") + "</s:Dataflows>")));
        auto err = error_of([&] { merge_catalogs(std::move(parts), {"a.xml", "b.xml"}); });
        CHECK(err == "dataflow IT1:X(1.0) in b.xml differs from the one in a.xml (their names "
                     "differ); give only one of them, or sources that agree");
    }

    TEST_CASE("merge: a category scheme given twice with different categories names both sources") {
        std::vector<Catalog> parts;
        parts.push_back(read_sample(k_istat_scheme));
        auto other = read_sample(k_istat_scheme);
        other.category_schemes[0].categories.pop_back();
        parts.push_back(std::move(other));
        auto err = error_of([&] { merge_catalogs(std::move(parts), {"one.xml", "two.xml"}); });
        CHECK(err.find("category scheme IT1:ISTAT_DW(1.0) in two.xml differs from the one in "
                       "one.xml (their categories differ)") == 0);
    }

    TEST_CASE("merge: identical duplicates count once, other kinds and parts concatenate") {
        std::vector<Catalog> parts;
        parts.push_back(read_path(test::bundled_catalog(), "a.xml"));
        parts.push_back(read_path(test::bundled_catalog(), "b.xml"));
        parts.push_back(read_sample(k_insee));
        parts.push_back(read_sample(k_insee));
        auto m = merge_catalogs(std::move(parts), {"a.xml", "b.xml", "c.xml", "d.xml"});
        CHECK(m.dataflows.size() == 457);
        CHECK(m.dataflows.back().id == "CNA-2010-CONSO-SI-A17");
        CHECK(m.category_schemes.size() == 1);
        CHECK(m.categorisations.size() == 1);
        CHECK(m.format == "SDMX-ML 2.1");
        CHECK(m.prepared == "2020-05-03T14:30:56.7239925+02:00");
        auto r = resolve_categorisations(m);
        CHECK(r.by_flow[456].size() == 1);
        CHECK(r.by_flow[456][0].path.size() == 4);
    }

    TEST_CASE("merge: mixed formats, the first prepared and warnings prefixed with their source") {
        std::vector<Catalog> parts;
        auto first =
            read_text(structure21("<s:Dataflows>" + flow21("X", "1.0", "x") + "</s:Dataflows>"));
        first.warnings.push_back("dataflow X: odd");
        parts.push_back(std::move(first));
        parts.push_back(read_sample(k_json_sample));
        auto m = merge_catalogs(std::move(parts), {"a.xml", "b.json"});
        CHECK(m.format == "mixed (SDMX-ML 2.1, SDMX-JSON 2.0)");
        CHECK(m.prepared == "2021-09-01T20:00:51Z");
        CHECK(m.warnings == std::vector<std::string>{"a.xml: dataflow X: odd"});
        CHECK(m.dataflows.size() == 2);
        // One part is returned as it is.
        std::vector<Catalog> one;
        one.push_back(read_sample(k_insee));
        CHECK(merge_catalogs(std::move(one), {"x"}).categorisations.size() == 1);
        CHECK(merge_catalogs({}, {}).dataflows.empty());
    }

    TEST_CASE("URN parsing: dataflow and category references, dotted agencies, malformed ones") {
        Categorisation c;
        CHECK(parse_dataflow_urn("urn:sdmx:org.sdmx.infomodel.datastructure.Dataflow="
                                 "OECD.CFE.EDS:DSD_X@DF_Y(1.1)",
                                 c));
        CHECK(c.flow_agency == "OECD.CFE.EDS");
        CHECK(c.flow_id == "DSD_X@DF_Y");
        CHECK(c.flow_version == "1.1");
        CHECK(parse_category_urn(
            "urn:sdmx:org.sdmx.infomodel.categoryscheme.Category=OECD.X:SCH(2.0.0).A.B", c));
        CHECK(c.scheme_agency == "OECD.X");
        CHECK(c.scheme_id == "SCH");
        CHECK(c.scheme_version == "2.0.0");
        CHECK(c.category == "A.B");
        Categorisation bad;
        CHECK_FALSE(parse_category_urn(
            "urn:sdmx:org.sdmx.infomodel.categoryscheme.Category=A:S(1.0)", bad));
        CHECK_FALSE(parse_category_urn("not a urn", bad));
        CHECK_FALSE(parse_category_urn("x=A:S(1.0).", bad));
        CHECK_FALSE(parse_dataflow_urn("x=A:S", bad));
        CHECK(bad.category.empty());
        CHECK(bad.flow_id.empty());
    }

    TEST_CASE("a categorisation whose source or target did not parse is warned about, not fatal") {
        auto c = read_text(structure21(
            "<s:Dataflows>" + flow21("F", "1.0", "f") +
            "</s:Dataflows><s:Categorisations><s:Categorisation id=\"K\">"
            "<s:Source>garbage</s:Source><s:Target>garbage</s:Target></s:Categorisation>"
            "<s:Categorisation id=\"L\"><s:Source>urn:x.Dataflow=IT1:F(1.0)</s:Source>"
            "<s:Target>garbage</s:Target></s:Categorisation></s:Categorisations>"));
        auto r = resolve_categorisations(c);
        CHECK(r.unresolved == 2);
        CHECK(r.warnings ==
              std::vector<std::string>{"categorisation K: its source names no dataflow",
                                       "categorisation L: its target names no category"});
    }
}

#include "sdmx/reader.hpp"
#include "sdmx/source.hpp"
#include "support/support.hpp"
#include "util/error.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <filesystem>

using namespace dataflow;
using namespace dataflow::sdmx;
using dataflow::test::sample;

namespace {

Catalog read_sample(const std::string& rel) {
    auto bytes = test::read_file(sample(rel));
    return read_catalog(bytes, rel);
}

Catalog read_bundled() {
    auto bytes = test::read_file(test::bundled_catalog());
    return read_catalog(bytes, "istat-dataflows-2020.xml");
}

Catalog read_text(std::string text) {
    return read_catalog(text, "doc.xml");
}

/// The InputError message for a document; fails the test when it parses.
std::string error_for(std::string text, const std::string& name = "doc.xml",
                      const ReadOptions& options = {}) {
    try {
        read_catalog(text, name, options);
    } catch (const InputError& e) {
        return e.what();
    }
    FAIL("expected an InputError");
    return {};
}

const Dataflow& find(const Catalog& c, std::string_view id) {
    auto it = std::find_if(c.dataflows.begin(), c.dataflows.end(),
                           [&](const Dataflow& d) { return d.id == id; });
    REQUIRE(it != c.dataflows.end());
    return *it;
}

const std::string k_head21 =
    R"(<?xml version="1.0" encoding="UTF-8"?>)"
    R"(<m:Structure xmlns:m="http://www.sdmx.org/resources/sdmxml/schemas/v2_1/message" )"
    R"(xmlns:s="http://www.sdmx.org/resources/sdmxml/schemas/v2_1/structure" )"
    R"(xmlns:c="http://www.sdmx.org/resources/sdmxml/schemas/v2_1/common">)"
    R"(<m:Header><m:ID>X</m:ID></m:Header><m:Structures><s:Dataflows>)";
const std::string k_tail21 = "</s:Dataflows></m:Structures></m:Structure>";

} // namespace

TEST_SUITE("sdmx") {
    TEST_CASE("ISTAT 2020 list: 456 dataflows with every field kept") {
        auto c = read_bundled(); // ondata/guida-api-istat rawdata/dataflow.xml
        CHECK(c.format == "SDMX-ML 2.1");
        REQUIRE(c.dataflows.size() == 456);
        const auto& d = c.dataflows.front();
        CHECK(d.id == "101_1015");
        CHECK(d.agency_id == "IT1");
        CHECK(d.version == "1.2");
        CHECK(d.is_final == false);
        CHECK(d.urn == "urn:sdmx:org.sdmx.infomodel.datastructure.Dataflow=IT1:101_1015(1.2)");
        REQUIRE(d.names.size() == 2);
        CHECK(d.names[0].lang == "it");
        CHECK(d.names[0].text == "Coltivazioni");
        CHECK(d.names[1].lang == "en");
        CHECK(d.structure.id == "DCSP_COLTIVAZIONI");
        CHECK(d.structure.agency_id == "IT1");
        CHECK(d.source_line > 1);
        // The one dataflow with descriptions, and the one with only an Italian name.
        const auto& with_desc = find(c, "161_81");
        CHECK_FALSE(with_desc.descriptions.empty());
        const auto& only_it = find(c, "27_945");
        REQUIRE(only_it.names.size() == 1);
        CHECK(only_it.names[0].lang == "it");
        CHECK(reference_name_en(only_it) == nullptr);
        // Whitespace is kept verbatim: 116 names (in 74 dataflows) have double or trailing spaces.
        std::size_t spaced = 0;
        for (const auto& f : c.dataflows) {
            for (const auto& n : f.names) {
                spaced += n.text.find("  ") != std::string::npos ||
                          (!n.text.empty() && (n.text.back() == ' ' || n.text.front() == ' '));
            }
        }
        CHECK(spaced == 116);
    }

    TEST_CASE("INSEE list (mes/str/com prefixes, fr/en, hyphenated ids)") {
        auto c = read_sample("khaeru__sdmx-test-data/INSEE/dataflow.xml");
        REQUIRE(c.dataflows.size() == 663);
        const auto& d = find(c, "DEFAILLANCES-ENT-DEP");
        CHECK(d.agency_id == "FR1");
        CHECK_FALSE(d.is_final.has_value());
        CHECK(d.names.front().lang == "fr");
        CHECK(reference_name_it(d) == nullptr);
        REQUIRE(reference_name_en(d) != nullptr);
        CHECK(display_name(d, std::vector<std::string>{"fr"}) == d.names.front().text);
    }

    TEST_CASE("OECD list: escaped HTML descriptions, dotted agency, NonProductionDataflow") {
        auto c = read_sample("fditraglia__claude-checks-ft/dataflows.xml");
        REQUIRE(c.dataflows.size() == 116);
        const auto& d = find(c, "DSD_FUA_CLIM@DF_CLIM_PROJ");
        CHECK(d.agency_id == "OECD.CFE.EDS");
        CHECK(d.non_production);
        CHECK_FALSE(d.descriptions.empty());
        CHECK(d.descriptions.front().text.find("<p>") != std::string::npos); // &lt;p&gt; decoded
        CHECK(d.urn.empty());
        // Every dataflow of this OECD sub-agency is marked NonProductionDataflow = true.
        auto np = std::count_if(c.dataflows.begin(), c.dataflows.end(),
                                [](const Dataflow& f) { return f.non_production; });
        CHECK(np == 116);
    }

    TEST_CASE("current ISTAT platform: annotations, LAST_UPDATE, en before it") {
        auto c =
            read_sample("khaeru__sdmx-test-data/recorded/"
                        "2556f1775294929a__ISTAT_dataflow_47_850_references-datastructure.xml");
        REQUIRE(c.dataflows.size() == 1);
        const auto& d = c.dataflows.front();
        CHECK(d.id == "47_850");
        CHECK(d.last_update == "2025-11-14T16:15:51.591Z");
        REQUIRE(d.annotations.size() == 3);
        CHECK(d.annotations[0].id == "METADATA_URL");
        REQUIRE(d.annotations[0].texts.size() == 2);
        CHECK(d.annotations[0].texts[0].text.find("&metadataSetId") != std::string::npos);
        REQUIRE(reference_name_it(d) != nullptr);
        CHECK(*reference_name_it(d) == "Servizi  socio-educativi per la prima infanzia");
        CHECK(display_name(d, std::vector<std::string>{"it", "en"}) ==
              "Servizi  socio-educativi per la prima infanzia");
        CHECK(d.structure.id == "DCIS_SERVSOCEDU1");
    }

    TEST_CASE("SDMX 2.0: default namespaces, capitalised URIs, KeyFamilyRef") {
        auto c = read_sample("nbbrd__sdmx-dl/sdmx-dl-format-xml/src/test/resources/tests/sdmxdl/"
                             "format/xml/other/sdmx-Dataflows20.xml");
        CHECK(c.format == "SDMX-ML 2.0");
        REQUIRE(c.dataflows.size() == 2);
        CHECK(c.dataflows[0].id == "DS-BOP_2017M06");
        CHECK(c.dataflows[0].structure.id == "BOP_2017M06");
        CHECK(c.dataflows[0].structure.agency_id == "IMF");
        CHECK(c.dataflows[0].names[0].text == "Balance of Payments (BOP), 2017 M06");
    }

    TEST_CASE("SDMX 2.0 answer with KeyFamily elements is reported as such") {
        auto bytes = test::read_file(sample("nbbrd__sdmx-dl/sdmx-dl-format-xml/src/test/resources/"
                                            "tests/sdmxdl/format/xml/nbb/Dataflows.xml"));
        auto msg = error_for(bytes, "nbb.xml");
        CHECK(msg.find("23 KeyFamily") != std::string::npos);
        CHECK(msg.find("SDMX-ML 2.0") != std::string::npos);
    }

    TEST_CASE("SDMX 3.0: structure reference is a URN as text") {
        auto c = read_sample("khaeru__sdmx-test-data/IMF/01R.xml");
        CHECK(c.format == "SDMX-ML 3.0");
        REQUIRE(c.dataflows.size() == 1);
        const auto& s = c.dataflows[0].structure;
        CHECK(s.urn ==
              "urn:sdmx:org.sdmx.infomodel.datastructure.DataStructure=IMF:ECOFIN_DSD(1.0)");
        CHECK(s.id == "ECOFIN_DSD");
        CHECK(s.agency_id == "IMF");
        CHECK(s.version == "1.0");
        auto v3 = read_sample("khaeru__sdmx-test-data/v3/xml/dataflow.xml");
        CHECK(v3.dataflows.size() == 1);
    }

    TEST_CASE("Eurostat: one-line message, m/s/c prefixes, escaped XML in annotations") {
        auto c = read_sample(
            "knifflig__sdmxflow/tests/data/sdmx/estat/lfsa_egai2d/raw/dataflow_all.xml");
        REQUIRE(c.dataflows.size() == 1);
        const auto& d = c.dataflows[0];
        CHECK(d.id == "LFSA_EGAI2D");
        CHECK(d.names.size() == 3);
        CHECK(d.annotations.size() == 14);
    }

    TEST_CASE("pretty-printed copy with split attributes and only an Italian name") {
        auto c = read_sample("SDMXISTATTOOLKIT__DATABROWSER/source/databrowserhub/test/"
                             "DataBrowser.Benchmark/JsonStatConvert/DF_TR_AEREO+IT1+1.0.xml");
        REQUIRE(c.dataflows.size() == 1);
        CHECK(c.dataflows[0].id == "DF_TR_AEREO");
        CHECK(display_name(c.dataflows[0], std::vector<std::string>{"en"}) == "traffico aereo");
    }

    TEST_CASE("SDMX-JSON 2.0: FMR flows, official sample and the ISTAT slice") {
        auto fmr = read_sample("bis-med-it__pysdmx/tests/api/fmr/samples/df/flows.json");
        CHECK(fmr.format == "SDMX-JSON 2.0");
        REQUIRE(fmr.dataflows.size() == 5);
        CHECK_FALSE(fmr.dataflows[0].structure.urn.empty());
        CHECK_FALSE(fmr.dataflows[0].structure.id.empty());
        auto official =
            read_sample("khaeru__sdmx-test-data/v3/json/structure/constructed-sample.json");
        CHECK(official.dataflows.size() == 1);
        auto istat = read_sample("andrerecio__IstatApi.jl/test/fixtures/dataflows_IT1_slice.json");
        REQUIRE(istat.dataflows.size() == 63);
        const auto& d = istat.dataflows[0];
        CHECK(reference_name_it(d) != nullptr);
        CHECK(reference_name_en(d) != nullptr);
        // This file writes slash dates month first (03/18/2024): every LAST_UPDATE parses.
        CHECK(std::all_of(istat.dataflows.begin(), istat.dataflows.end(),
                          [](const Dataflow& f) { return f.last_update.has_value(); }));
        CHECK(istat.warnings.empty());
    }

    TEST_CASE("the header's Prepared: SDMX-ML 2.0, 2.1, 3.0 and SDMX-JSON meta.prepared") {
        CHECK(read_bundled().prepared == "2020-05-03T14:30:56.7239925+02:00");
        CHECK(read_sample("nbbrd__sdmx-dl/sdmx-dl-format-xml/src/test/resources/tests/sdmxdl/"
                          "format/xml/other/sdmx-Dataflows20.xml")
                  .prepared == "2022-05-31T09:11:27");
        CHECK(read_sample("khaeru__sdmx-test-data/v3/xml/dataflow.xml").prepared ==
              "2021-03-08T22:02:01Z");
        CHECK(read_sample("bis-med-it__pysdmx/tests/api/fmr/samples/df/flows.json").prepared ==
              "2023-08-14T11:57:49Z");
        // Trimmed; absent is empty; a Prepared outside the Header is not the message's.
        auto padded = k_head21;
        padded.replace(padded.find("</m:Header>"), 0,
                       "<m:Prepared>\n  2024-01-02T03:04:05Z \n</m:Prepared>");
        CHECK(read_text(padded + R"(<s:Dataflow id="A" agencyID="X" version="1.0"/>)" + k_tail21)
                  .prepared == "2024-01-02T03:04:05Z");
        CHECK(read_text(k_head21 + R"(<s:Dataflow id="A" agencyID="X" version="1.0"/>)" + k_tail21)
                  .prepared.empty());
        std::string json =
            R"({"meta": {"prepared": " 2025-01-01T00:00:00Z "}, "data": {"dataflows": []}})";
        CHECK(read_catalog(json, "x.json").prepared == "2025-01-01T00:00:00Z");
        std::string no_meta = R"({"data": {"dataflows": []}})";
        CHECK(read_catalog(no_meta, "x.json").prepared.empty());
    }

    TEST_CASE("namespaces are matched by URI, never by prefix") {
        // Default namespace for structure, odd prefixes, and a misleading prefix 'structure'
        // bound to a non-SDMX URI that must not be taken for SDMX.
        std::string doc =
            R"(<x:Structure xmlns:x="http://www.sdmx.org/resources/sdmxml/schemas/v2_1/message">)"
            R"(<x:Structures><Dataflows xmlns="http://www.sdmx.org/resources/sdmxml/schemas/v2_1/structure">)"
            R"(<Dataflow id="A" agencyID="Z" version="1.0"><q:Name xmlns:q="http://www.sdmx.org/resources/sdmxml/schemas/v2_1/common" xml:lang="it">Nome</q:Name></Dataflow>)"
            R"(<structure:Dataflow xmlns:structure="urn:not-sdmx" id="B"/>)"
            R"(</Dataflows></x:Structures></x:Structure>)";
        auto c = read_text(doc);
        REQUIRE(c.dataflows.size() == 1);
        CHECK(c.dataflows[0].id == "A");
        CHECK(c.dataflows[0].names[0].text == "Nome");
    }

    TEST_CASE("BOM, no declaration, CRLF, comments inside ID and Name") {
        std::string doc =
            "\xEF\xBB\xBF" + k_head21.substr(k_head21.find("?>") + 2) +
            "\r\n<s:Dataflow id=\"X\"><c:Name xml:lang=\"it\">Popo<!-- c -->lazione</c:Name>"
            "\r\n<!-- a comment --><c:Name>NoLang</c:Name>"
            "<s:Structure><URN>urn:sdmx:org.sdmx.infomodel.datastructure.DataStructure="
            "IT1:DCIS_<!-- split -->POPRES1(1.0)</URN></s:Structure></s:Dataflow>\r\n" +
            k_tail21;
        auto c = read_text(doc);
        REQUIRE(c.dataflows.size() == 1);
        CHECK(c.dataflows[0].names[0].text == "Popolazione");
        CHECK(c.dataflows[0].names[1].lang.empty());
        // The DSD's id is element text here (a URN): the comment inside it is skipped.
        CHECK(c.dataflows[0].structure.id == "DCIS_POPRES1");
        CHECK(c.dataflows[0].structure.agency_id == "IT1");
        CHECK(c.dataflows[0].structure.version == "1.0");

        // SDMX 2.0 names the DSD by KeyFamilyID text; a comment inside it is skipped too.
        std::string doc20 =
            R"(<m:Structure xmlns:m="http://www.SDMX.org/resources/SDMXML/schemas/v2_0/message" )"
            R"(xmlns:s="http://www.SDMX.org/resources/SDMXML/schemas/v2_0/structure">)"
            R"(<m:Dataflows><s:Dataflow id="Y" agencyID="Z"><s:Name>Nome</s:Name>)"
            R"(<s:KeyFamilyRef><s:KeyFamilyID>DSD<!-- c -->_Y</s:KeyFamilyID>)"
            R"(<s:KeyFamilyAgencyID>Z</s:KeyFamilyAgencyID></s:KeyFamilyRef></s:Dataflow>)"
            R"(</m:Dataflows></m:Structure>)";
        auto c20 = read_text(doc20);
        REQUIRE(c20.dataflows.size() == 1);
        CHECK(c20.dataflows[0].structure.id == "DSD_Y");
        CHECK(c20.dataflows[0].structure.agency_id == "Z");
    }

    TEST_CASE("reference name rules: last 'it' wins, else the first untagged name") {
        auto c = read_text(
            k_head21 +
            R"(<s:Dataflow id="A"><c:Name xml:lang="de">Deutsch</c:Name><c:Name>NoLang</c:Name><c:Name xml:lang="en">Eng</c:Name></s:Dataflow>)"
            R"(<s:Dataflow id="B"><c:Name xml:lang="it">Primo</c:Name><c:Name xml:lang="it">Secondo</c:Name></s:Dataflow>)"
            R"(<s:Dataflow id="C"><c:Name xml:lang="fr">Seul</c:Name></s:Dataflow>)" +
            k_tail21);
        REQUIRE(c.dataflows.size() == 3);
        CHECK(*reference_name_it(c.dataflows[0]) == "NoLang");
        CHECK(*reference_name_en(c.dataflows[0]) == "Eng");
        CHECK(*reference_name_it(c.dataflows[1]) == "Secondo");
        CHECK(reference_name_it(c.dataflows[2]) == nullptr);
        CHECK(display_name(c.dataflows[2], std::vector<std::string>{"it", "en"}) == "Seul");
    }

    TEST_CASE("annotation flags: NonProduction, ONLY_FILE, HIDDEN, both LAST_UPDATE forms") {
        auto ann = [](const std::string& id, const std::string& title) {
            return "<c:Annotation id=\"" + id + "\"><c:AnnotationTitle>" + title +
                   "</c:AnnotationTitle><c:AnnotationType>" + id +
                   "</c:AnnotationType></c:Annotation>";
        };
        auto c = read_text(
            k_head21 + "<s:Dataflow id=\"A\"><c:Annotations>" +
            ann("LAST_UPDATE", "14/11/2025 16:15:51") + ann("NonProductionDataflow", "true") +
            ann("DATAFLOW_CATALOG_TYPE", "ONLY_FILE") + ann("DATAFLOW_HIDDEN", "true") +
            "</c:Annotations></s:Dataflow><s:Dataflow id=\"B\"><c:Annotations>" +
            ann("LAST_UPDATE", "garbage") + ann("NonProductionDataflow", "false") +
            "</c:Annotations></s:Dataflow>" + k_tail21);
        const auto& a = c.dataflows[0];
        CHECK(a.last_update == "2025-11-14T16:15:51Z");
        CHECK(a.non_production);
        CHECK(a.file_only);
        CHECK(a.hidden);
        const auto& b = c.dataflows[1];
        CHECK_FALSE(b.last_update.has_value());
        CHECK_FALSE(b.non_production);
        REQUIRE(c.warnings.size() == 1);
        CHECK(c.warnings[0].find("garbage") != std::string::npos);
    }

    TEST_CASE("an empty Dataflows element is a valid, empty list") {
        auto c = read_text(k_head21 + k_tail21);
        CHECK(c.dataflows.empty());
    }

    TEST_CASE("multi-megabyte single line") {
        std::string doc = k_head21;
        for (int i = 0; i < 30000; ++i) {
            doc += "<s:Dataflow id=\"F" + std::to_string(i) +
                   "\"><c:Name xml:lang=\"it\">Popolazione residente</c:Name></s:Dataflow>";
        }
        doc += k_tail21;
        REQUIRE(doc.size() > 2'000'000);
        REQUIRE(doc.find('\n') == std::string::npos);
        auto c = read_text(doc);
        CHECK(c.dataflows.size() == 30000);
    }

    TEST_CASE("not a dataflow list: each gets a message naming what it is") {
        auto err =
            error_for(test::read_file(sample("bis-med-it__pysdmx/tests/io/samples/error.xml")));
        CHECK(err.find("SDMX error message") != std::string::npos);
        CHECK(err.find("code 150") != std::string::npos);

        auto data = error_for(
            test::read_file(sample("khaeru__sdmx-test-data/ECB_EXR/1/M.USD.EUR.SP00.A.xml")));
        CHECK(data.find("data message (GenericData)") != std::string::npos);

        auto footer = error_for(test::read_file(sample("khaeru__sdmx-test-data/ESTAT/footer.xml")));
        CHECK(footer.find("footer says") != std::string::npos);

        auto dsd =
            error_for(test::read_file(sample("khaeru__sdmx-test-data/ECB_EXR/1/structure.xml")));
        CHECK(dsd.find("holds no dataflows") != std::string::npos);
        CHECK(dsd.find("DataStructures (1)") != std::string::npos);

        auto empty =
            error_for(test::read_file(sample("bis-med-it__pysdmx/tests/io/samples/valid_bom.xml")));
        CHECK(empty.find("holds no dataflows") != std::string::npos);

        auto html = error_for("<!DOCTYPE html><html><head><title>503 Service Unavailable</title>"
                              "</head><body><p>down</p></body></html>");
        CHECK(html.find("HTML page") != std::string::npos);
        CHECK(html.find("503 Service Unavailable") != std::string::npos);

        auto other = error_for("<root xmlns=\"urn:x\"/>");
        CHECK(other.find("not an SDMX message") != std::string::npos);
        CHECK(other.find("urn:x") != std::string::npos);

        auto text = error_for("hello world");
        CHECK(text.find("neither XML nor JSON") != std::string::npos);
    }

    TEST_CASE("malformed XML gives FILE:LINE:COL") {
        auto full = test::read_file(test::bundled_catalog());
        auto msg = error_for(full.substr(0, 5000), "cut.xml");
        CHECK(msg.starts_with("cut.xml:"));
        CHECK(msg.find("malformed XML") != std::string::npos);
        CHECK(msg.find("truncated") != std::string::npos);
        auto mismatch = error_for("<?xml version=\"1.0\"?>\n<a>\n  <b></c>\n</a>", "m.xml");
        CHECK(mismatch.starts_with("m.xml:3:"));
    }

    TEST_CASE("invalid UTF-8 is reported with its byte offset") {
        auto msg = error_for("<?xml version=\"1.0\"?>\n<a>caf\xE9</a>", "l.xml");
        CHECK(msg.starts_with("l.xml:2:7:"));
        CHECK(msg.find("byte offset 28") != std::string::npos);
    }

    TEST_CASE("billion laughs fails fast without expanding anything") {
        std::string doc = "<?xml version=\"1.0\"?>\n<!DOCTYPE lolz [\n<!ENTITY lol \"lol\">\n";
        for (int i = 1; i < 10; ++i) {
            doc += "<!ENTITY lol" + std::to_string(i + 1) + " \"";
            for (int k = 0; k < 10; ++k) {
                doc += i == 1 ? "&lol;" : "&lol" + std::to_string(i) + ";";
            }
            doc += "\">\n";
        }
        doc += "]>\n<lolz>&lol10;</lolz>";
        auto msg = error_for(doc, "lol.xml");
        CHECK(msg.find("DTD") != std::string::npos);
        CHECK(msg.starts_with("lol.xml:2:"));
    }

    TEST_CASE("100,000-deep nesting is refused with a clear message") {
        std::string deep = k_head21.substr(0, k_head21.find("<m:Header>"));
        deep += "<m:Structures>";
        for (int i = 0; i < 100000; ++i) {
            deep += "<x>";
        }
        for (int i = 0; i < 100000; ++i) {
            deep += "</x>";
        }
        deep += "</m:Structures></m:Structure>";
        auto msg = error_for(deep);
        CHECK(msg.find("nested deeper than 256") != std::string::npos);

        std::string json(100000, '[');
        json += std::string(100000, ']');
        auto jmsg = error_for(json, "deep.json");
        CHECK(jmsg.find("nested deeper than 256") != std::string::npos);
        CHECK(jmsg.starts_with("deep.json:1:257:"));
    }

    TEST_CASE("JSON: malformed, not SDMX, errors, data messages, wrong types") {
        CHECK(error_for("{\"data\": {\"dataflows\": [", "t.json").starts_with("t.json:1:"));
        CHECK(error_for("{\"foo\": 1}").find("not SDMX") != std::string::npos);
        CHECK(error_for("[1, 2]").find("not SDMX") != std::string::npos);
        CHECK(
            error_for(R"({"errors": [{"code": 404, "title": "No results"}]})").find("No results") !=
            std::string::npos);
        CHECK(error_for(R"({"data": {"dataSets": []}})").find("data message") != std::string::npos);
        CHECK(error_for(R"({"data": {"codelists": [{}]}})").find("codelists (1)") !=
              std::string::npos);
        CHECK(error_for(R"({"data": {"dataflows": [{"id": 5}]}})").find("data.dataflows[0].id") !=
              std::string::npos);
        CHECK(
            error_for(R"({"data": {"dataflows": [{"id": "A", "names": ["x"]}]}})").find("names") !=
            std::string::npos);
    }

    TEST_CASE("review fixes: second root, AnnotationValue, agency from the URN") {
        auto two = error_for(k_head21 + k_tail21 + "\n<html>502 Bad Gateway</html>");
        CHECK(two.find("second root element <html>") != std::string::npos);
        CHECK(two.starts_with("doc.xml:2:"));

        std::string v3 =
            R"x(<m:Structure xmlns:m="http://www.sdmx.org/resources/sdmxml/schemas/v3_0/message" )x"
            R"x(xmlns:s="http://www.sdmx.org/resources/sdmxml/schemas/v3_0/structure" )x"
            R"x(xmlns:c="http://www.sdmx.org/resources/sdmxml/schemas/v3_0/common"><m:Structures><s:Dataflows>)x"
            R"x(<s:Dataflow id="A" urn="urn:sdmx:org.sdmx.infomodel.datastructure.Dataflow=IT1:A(1.0)">)x"
            R"x(<c:Annotations><c:Annotation id="DATAFLOW_HIDDEN"><c:AnnotationValue>false</c:AnnotationValue></c:Annotation>)x"
            R"x(<c:Annotation id="LAST_UPDATE"><c:AnnotationValue>2024-01-02T03:04:05Z</c:AnnotationValue></c:Annotation></c:Annotations>)x"
            R"x(<s:Structure>urn:sdmx:org.sdmx.infomodel.datastructure.DataStructure=ESTAT:DSD(1.0)</s:Structure>)x"
            R"x(</s:Dataflow></s:Dataflows></m:Structures></m:Structure>)x";
        auto c = read_text(v3);
        REQUIRE(c.dataflows.size() == 1);
        CHECK_FALSE(c.dataflows[0].hidden);
        CHECK(c.dataflows[0].last_update == "2024-01-02T03:04:05Z");
        CHECK(c.dataflows[0].agency_id == "IT1"); // its own URN, not the DSD's agency
        CHECK(c.dataflows[0].structure.agency_id == "ESTAT");
    }

    TEST_CASE("positions count the original bytes (CRLF, entities, multi-line text)") {
        std::string doc = k_head21 + "\r\n";
        for (int i = 0; i < 10; ++i) {
            doc += "<s:Dataflow id=\"F" + std::to_string(i) +
                   "\"><c:Name xml:lang=\"it\">riga &amp; uno\r\nriga "
                   "&lt;due&gt;\r\n</c:Name></s:Dataflow>\r\n";
        }
        doc += "<s:Dataflow id=\"BAD\"></s:Wrong>\r\n" + k_tail21;
        // 1 header line + 10 dataflows x 3 lines: the bad dataflow is on line 32.
        auto msg = error_for(doc, "crlf.xml");
        CHECK(msg.starts_with("crlf.xml:32:"));
        auto good = doc;
        good.replace(good.find("<s:Dataflow id=\"BAD\"></s:Wrong>"), 31, "<s:Dataflow id=\"OK\"/>");
        auto c = read_text(good);
        REQUIRE(c.dataflows.size() == 11);
        CHECK(c.dataflows[0].source_line == 2);
        CHECK(c.dataflows[10].source_line == 32);
    }

    TEST_CASE("JSON: error messages win over an empty data, odd types never escape") {
        CHECK(error_for(R"({"errors":[{"code":500,"title":"Server down"}],"data":null})")
                  .find("Server down") != std::string::npos);
        CHECK(error_for(R"({"errors":[{"code":404,"title":null,"detail":"no such flow"}]})")
                  .find("no such flow") != std::string::npos);
        auto c = read_text(R"({"data":{"dataflows":[{"id":"A","links":[{"rel":null}]}]}})");
        CHECK(c.dataflows.size() == 1);
    }

    TEST_CASE("sources: missing, directory, empty, over the cap") {
        test::TempDir dir;
        auto missing = (dir.path() / "nope.xml").string();
        CHECK_THROWS_WITH_AS(FileSource(missing).fetch({}), doctest::Contains("no such file"),
                             InputError);
        CHECK_THROWS_WITH_AS(FileSource(dir.path().string()).fetch({}),
                             doctest::Contains("is a directory"), InputError);
        auto empty = dir.file("empty.xml", "");
        CHECK_THROWS_WITH_AS(FileSource(empty).fetch({}), doctest::Contains("is empty"),
                             InputError);
        auto big = dir.file("big.xml", std::string(5000, ' '));
        CHECK_THROWS_WITH_AS(FileSource(big).fetch(ReadLimits{4096}),
                             doctest::Contains("larger than the limit of 4.0 KiB"), InputError);
        CHECK(FileSource(big).fetch(ReadLimits{5000}).bytes.size() == 5000);
    }

    TEST_CASE("sources: a large regular file is mapped, with fetch()'s errors") {
        test::TempDir dir;
        auto missing = (dir.path() / "nope.xml").string();
        CHECK_THROWS_WITH_AS(FileSource(missing).map({}), doctest::Contains("no such file"),
                             InputError);
        CHECK_THROWS_WITH_AS(FileSource(dir.path().string()).map({}),
                             doctest::Contains("is a directory"), InputError);
        auto small = dir.file("small.xml", std::string(k_map_min_bytes - 1, ' '));
        CHECK_FALSE(FileSource(small).map({}).has_value()); // read instead
        CHECK_FALSE(FileSource(dir.file("empty.xml", "")).map({}).has_value());
        auto big = dir.file("big.xml", std::string(k_map_min_bytes, 'x'));
        CHECK_THROWS_WITH_AS(FileSource(big).map(ReadLimits{k_map_min_bytes - 1}),
                             doctest::Contains("larger than the limit of"), InputError);
        auto mapped = FileSource(big).map(ReadLimits{k_map_min_bytes});
        REQUIRE(mapped.has_value());
        CHECK(mapped->bytes() == std::string(k_map_min_bytes, 'x'));
        CHECK_FALSE(mapped->changed());
        CHECK_FALSE(make_local_source("-")->map({}).has_value()); // standard input is read
    }

    TEST_CASE("all_annotations off keeps only the annotations the derived facts come from") {
        const std::string doc =
            k_head21 +
            R"(<s:Dataflow id="A" agencyID="IT1" version="1.0"><c:Annotations>)"
            R"(<c:Annotation id="METADATA_URL"><c:AnnotationTitle>METADATA_URL</c:AnnotationTitle>)"
            R"(<c:AnnotationText xml:lang="en">https://x/y</c:AnnotationText></c:Annotation>)"
            R"(<c:Annotation><c:AnnotationTitle>21/03/2024</c:AnnotationTitle>)"
            R"(<c:AnnotationType>LAST_<!-- split -->UPDATE</c:AnnotationType></c:Annotation>)"
            R"(<c:Annotation id="DATAFLOW_HIDDEN"/>)"
            R"(<c:Annotation id="X"><c:AnnotationType>NonProductionDataflow</c:AnnotationType>)"
            R"(<c:AnnotationTitle>false</c:AnnotationTitle></c:Annotation>)"
            R"(<c:Annotation id="Y"><c:AnnotationType>DATAFLOW_CATALOG_TYPE</c:AnnotationType>)"
            R"(<c:AnnotationType>OTHER</c:AnnotationType></c:Annotation>)"
            R"(</c:Annotations><c:Name xml:lang="it">Nome</c:Name></s:Dataflow>)" +
            k_tail21;
        auto all_bytes = doc;
        auto all = read_catalog(all_bytes, "doc.xml");
        auto lean_bytes = doc;
        ReadOptions lean_options;
        lean_options.all_annotations = false;
        auto lean = read_catalog(lean_bytes, "doc.xml", lean_options);
        REQUIRE(all.dataflows.size() == 1);
        REQUIRE(lean.dataflows.size() == 1);
        const auto& a = all.dataflows[0];
        const auto& l = lean.dataflows[0];
        CHECK(a.annotations.size() == 5);
        // The type split by a comment still counts; the last AnnotationType is the type (OTHER).
        REQUIRE(l.annotations.size() == 3);
        CHECK(l.annotations[0].type == "LAST_UPDATE");
        CHECK(l.annotations[1].id == "DATAFLOW_HIDDEN");
        CHECK(l.annotations[2].type == "NonProductionDataflow");
        CHECK(l.last_update == a.last_update);
        CHECK(l.last_update == "2024-03-21T00:00:00Z");
        CHECK(l.hidden == a.hidden);
        CHECK(l.hidden);
        CHECK(l.non_production == a.non_production);
        CHECK_FALSE(l.non_production);
        CHECK(l.file_only == a.file_only);
        CHECK(l.names.size() == 1);
        CHECK(all.warnings == lean.warnings);
    }

    TEST_CASE("all_annotations off in SDMX-JSON: the same facts, warnings and errors") {
        std::size_t read = 0;
        std::size_t refused = 0;
        std::size_t dropped = 0;
        for (const auto& e : std::filesystem::recursive_directory_iterator(
                 std::filesystem::path(DATAFLOW_FIXTURES_DIR))) {
            if (!e.is_regular_file() || e.path().extension() != ".json") {
                continue;
            }
            CAPTURE(e.path().string());
            auto doc = test::read_file(e.path().string());
            ReadOptions lean_options;
            lean_options.all_annotations = false;
            auto all_bytes = doc;
            auto lean_bytes = doc;
            std::string all_error;
            std::string lean_error;
            Catalog all;
            Catalog lean;
            try {
                all = read_catalog(all_bytes, "doc.json");
            } catch (const InputError& x) {
                all_error = x.what();
            }
            try {
                lean = read_catalog(lean_bytes, "doc.json", lean_options);
            } catch (const InputError& x) {
                lean_error = x.what();
            }
            CHECK(all_error == lean_error);
            if (!all_error.empty()) {
                ++refused;
                continue;
            }
            ++read;
            REQUIRE(all.dataflows.size() == lean.dataflows.size());
            for (std::size_t i = 0; i < all.dataflows.size(); ++i) {
                const auto& a = all.dataflows[i];
                const auto& l = lean.dataflows[i];
                CHECK(a.id == l.id);
                CHECK(a.last_update == l.last_update);
                CHECK(a.non_production == l.non_production);
                CHECK(a.file_only == l.file_only);
                CHECK(a.hidden == l.hidden);
                CHECK(a.names.size() == l.names.size());
                for (const auto& ann : l.annotations) {
                    CHECK((is_fact_annotation(ann.id) || is_fact_annotation(ann.type)));
                }
                dropped += a.annotations.size() - l.annotations.size();
            }
            CHECK(all.warnings == lean.warnings);
        }
        CHECK(read >= 3);
        CHECK(dropped > 0); // some fixture has annotations the facts do not need
        MESSAGE(read << " SDMX-JSON fixtures read, " << refused << " refused alike, " << dropped
                     << " annotations not kept");
    }

    TEST_CASE("the bundled catalogue reads to the same facts with all_annotations off") {
        auto all = read_bundled();
        auto bytes = test::read_file(test::bundled_catalog());
        ReadOptions options;
        options.all_annotations = false;
        auto lean = read_catalog(bytes, "istat-dataflows-2020.xml", options);
        REQUIRE(all.dataflows.size() == lean.dataflows.size());
        for (std::size_t i = 0; i < all.dataflows.size(); ++i) {
            const auto& a = all.dataflows[i];
            const auto& l = lean.dataflows[i];
            CHECK(a.id == l.id);
            CHECK(a.source_line == l.source_line);
            CHECK(a.last_update == l.last_update);
            CHECK(a.last_update_ms == l.last_update_ms);
            CHECK(a.non_production == l.non_production);
            CHECK(a.file_only == l.file_only);
            CHECK(a.hidden == l.hidden);
            CHECK(a.names.size() == l.names.size());
            for (const auto& ann : l.annotations) {
                CHECK((is_fact_annotation(ann.id) || is_fact_annotation(ann.type)));
            }
        }
        CHECK(all.warnings == lean.warnings);
    }

    TEST_CASE("line numbers are exact across CRLF, a BOM and lines longer than 16 bytes") {
        std::string doc = "\xEF\xBB\xBF" + k_head21 + "\r\n";
        for (int i = 0; i < 40; ++i) {
            doc += "<s:Dataflow id=\"F" + std::to_string(i) + "\">" + std::string(i % 23, ' ') +
                   "\r\n<c:Name xml:lang=\"it\">caf\xC3\xA9 " + std::string(i % 17, 'x') +
                   "</c:Name>\n</s:Dataflow>\r\n";
        }
        doc += k_tail21;
        auto c = read_text(doc);
        REQUIRE(c.dataflows.size() == 40);
        for (std::size_t i = 0; i < 40; ++i) {
            CHECK(c.dataflows[i].source_line == 2 + 3 * i);
        }
    }
}

// The streaming data-message counter: goldens from real agency files, chunking, truncation.

#include "sdmx/data_counter.hpp"
#include "support/support.hpp"

#include <doctest/doctest.h>

#include <random>

using dataflow::sdmx::DataCounter;
using dataflow::sdmx::DataCounts;
using dataflow::test::sample;

namespace {

DataCounts count_in_chunks(const std::string& body, std::size_t chunk) {
    DataCounter counter;
    for (std::size_t i = 0; i < body.size(); i += chunk) {
        if (!counter.feed(std::string_view(body).substr(i, chunk))) {
            break;
        }
    }
    return counter.finish();
}

DataCounts count(const std::string& body) {
    return count_in_chunks(body, body.size() + 1);
}

bool has(const std::string& s, const std::string& needle) {
    return s.find(needle) != std::string::npos;
}

const char* k_json_data = R"({
  "meta": {"id": "IREF", "prepared": "2026-01-01T00:00:00Z"},
  "data": {
    "dataSets": [{
      "action": "Information",
      "series": {
        "0:0:0": {"attributes": [0], "observations": {"0": [1.5, 0], "1": [2.5, 0], "2": [null]}},
        "0:1:0": {"observations": {"0": ["x\"}{", 0]}}
      }
    }, {
      "observations": {"0:0": [1], "0:1": [2]}
    }],
    "structure": {"dimensions": {"series": [{"id": "FREQ", "values": [{"id": "A"}]}]}}
  }
})";

} // namespace

TEST_SUITE("data counter") {
    TEST_CASE("goldens: real GenericData, StructureSpecificData and footer messages") {
        struct Golden {
            const char* path;
            std::uint64_t series;
            std::uint64_t observations;
            const char* format;
        };
        const Golden goldens[] = {
            {"AndreaBozzo__Osservatorio/data_124_1157.xml", 20, 140, "SDMX-ML 2.1 GenericData"},
            {"khaeru__sdmx-test-data/ECB_EXR/1/M.USD.EUR.SP00.A.xml", 1, 252,
             "SDMX-ML 2.1 GenericData"},
            {"khaeru__sdmx-test-data/ISTAT/22_289.xml", 2, 8, "SDMX-ML 2.1 StructureSpecificData"},
            {"khaeru__sdmx-test-data/ESTAT/footer.xml", 0, 0, "SDMX-ML 2.1 GenericData"},
        };
        for (const auto& g : goldens) {
            CAPTURE(g.path);
            auto body = dataflow::test::read_file(sample(g.path));
            auto c = count(body);
            CHECK(c.error == "");
            CHECK(c.complete);
            CHECK(c.series == g.series);
            CHECK(c.observations == g.observations);
            CHECK(c.format == g.format);
            CHECK(c.bytes == body.size());
            // Any chunking gives the same result.
            for (std::size_t chunk : {1u, 7u, 4096u}) {
                auto chunked = count_in_chunks(body, chunk);
                CHECK(chunked.series == g.series);
                CHECK(chunked.observations == g.observations);
                CHECK(chunked.complete);
            }
        }
        auto footer =
            count(dataflow::test::read_file(sample("khaeru__sdmx-test-data/ESTAT/footer.xml")));
        CHECK(has(footer.footer, "Due to the large query the response will be written to a file"));
        CHECK(has(footer.footer, "Please check the location periodic every 5 minutes"));
    }

    TEST_CASE("other real data messages are counted, structure messages are not data") {
        auto recorded = count(dataflow::test::read_file(
            sample("khaeru__sdmx-test-data/recorded/"
                   "b1957b05ba522041__ISTAT_data_47_850_A.001001+001002.AUTP.ALL.ALL.1.xml")));
        CHECK(recorded.error == "");
        CHECK(recorded.observations > 0);
        auto ss = count(dataflow::test::read_file(
            sample("nbbrd__sdmx-dl/sdmx-dl-format-xml/src/test/resources/internal/sdmxdl/format/"
                   "xml/10100139_187.xml")));
        CHECK(ss.error == "");
        CHECK(ss.series == 1); // an empty <Series/>: StatCan sent no observations
        CHECK(ss.observations == 0);
        CHECK(has(ss.format, "StructureSpecificData"));
        auto structure = count(dataflow::test::read_file(dataflow::test::bundled_catalog()));
        CHECK(structure.error == "a structure message, not data");
        auto error = count(
            dataflow::test::read_file(sample("bis-med-it__pysdmx/tests/io/samples/error.xml")));
        CHECK(error.error == "");
        CHECK(error.sdmx_error_code.has_value());
        CHECK_FALSE(error.sdmx_error_text.empty());
    }

    TEST_CASE("namespaces are resolved by URI, not by prefix") {
        const std::string doc =
            R"(<m:GenericData xmlns:m="http://www.sdmx.org/resources/sdmxml/schemas/v2_1/message" )"
            R"(xmlns:g="http://www.sdmx.org/resources/sdmxml/schemas/v2_1/data/generic" )"
            R"(xmlns:c="http://www.sdmx.org/resources/sdmxml/schemas/v2_1/common">)"
            R"(<m:DataSet><g:Series><g:Obs/><g:Obs><g:ObsValue value="1"/></g:Obs></g:Series>)"
            R"(<c:Obs/><x:Obs xmlns:x="http://www.sdmx.org/resources/sdmxml/schemas/v2_1/data/generic"/>)"
            R"(<!-- <g:Obs/> --><![CDATA[<g:Obs/>]]></m:DataSet></m:GenericData>)";
        auto c = count(doc);
        CHECK(c.error == "");
        CHECK(c.series == 1);
        CHECK(c.observations == 3); // c:Obs is in the common namespace; comments and CDATA are text
        // Obs outside a DataSet do not count.
        auto outside =
            count(R"(<GenericData><Header><Obs/></Header><DataSet><Obs/></DataSet></GenericData>)");
        CHECK(outside.observations == 1);
    }

    TEST_CASE("SDMX-ML 3.0 StructureSpecificData and 2.0 CompactData") {
        const std::string v3 =
            R"(<?xml version="1.0" encoding="UTF-8"?>)"
            R"(<message:StructureSpecificData xmlns:message="http://www.sdmx.org/resources/sdmxml/schemas/v3_0/message" )"
            R"(xmlns:ss="http://www.sdmx.org/resources/sdmxml/schemas/v3_0/data/structurespecific" )"
            R"(xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" )"
            R"x(xmlns:ns1="urn:sdmx:org.sdmx.infomodel.datastructure.DataStructure=ECB:ECB_EXR1(1.0)">)x"
            R"(<message:Header><message:ID>x</message:ID></message:Header>)"
            R"(<message:DataSet ss:structureRef="ECB_EXR1" xsi:type="ns1:DataSetType" ss:action="Replace">)"
            R"(<Series FREQ="M" CURRENCY="USD"><Obs TIME_PERIOD="2020-01" OBS_VALUE="1.1"/>)"
            R"(<Obs TIME_PERIOD="2020-02" OBS_VALUE="1.2"/></Series>)"
            R"(<Series FREQ="M" CURRENCY="JPY"><Obs TIME_PERIOD="2020-01" OBS_VALUE="120"/></Series>)"
            R"(</message:DataSet></message:StructureSpecificData>)";
        auto c = count(v3);
        CHECK(c.error == "");
        CHECK(c.format == "SDMX-ML 3.0 StructureSpecificData");
        CHECK(c.series == 2);
        CHECK(c.observations == 3);
        const std::string compact =
            R"(<CompactData xmlns="http://www.SDMX.org/resources/SDMXML/schemas/v2_0/message" )"
            R"(xmlns:bis="urn:sdmx:org.sdmx.infomodel.keyfamily.KeyFamily=BIS:BIS_CBS:compact">)"
            R"(<Header><ID>x</ID></Header><bis:DataSet><bis:Series FREQ="Q"><bis:Obs TIME_PERIOD="2020-Q1" OBS_VALUE="1"/>)"
            R"(</bis:Series></bis:DataSet></CompactData>)";
        auto c2 = count(compact);
        CHECK(c2.error == "");
        CHECK(c2.format == "SDMX-ML 2.0 CompactData");
        CHECK(c2.series == 1);
        CHECK(c2.observations == 1);
    }

    TEST_CASE("SDMX-JSON data: series and observations, chunked anywhere") {
        std::string doc = k_json_data;
        auto c = count(doc);
        CHECK(c.error == "");
        CHECK(c.complete);
        CHECK(c.format == "SDMX-JSON data");
        CHECK(c.series == 2);
        CHECK(c.observations == 6);
        for (std::size_t chunk = 1; chunk < 40; chunk += 3) {
            auto chunked = count_in_chunks(doc, chunk);
            CHECK(chunked.series == 2);
            CHECK(chunked.observations == 6);
        }
        auto err = count(R"({"meta": {}, "errors": [{"code": 100, "title": "No results found"}]})");
        CHECK(err.error == "");
        CHECK(err.format == "SDMX-JSON error");
        CHECK(err.sdmx_error_text == "No results found");
        CHECK(err.sdmx_error_code == "100");
        CHECK(err.no_results());
        auto truncated = count(doc.substr(0, doc.size() / 2));
        CHECK(has(truncated.error, "the JSON document stops at depth"));
        CHECK_FALSE(truncated.complete);
        CHECK(has(count(R"({"hello": "world"})").error, "no dataSets"));
        CHECK(has(count("{\"a\": [1, 2,, 3]}").error, "not valid JSON"));
    }

    TEST_CASE("a document that stops half-way says how far it got") {
        auto body =
            dataflow::test::read_file(sample("AndreaBozzo__Osservatorio/data_124_1157.xml"));
        auto cut = body.substr(0, body.size() / 2);
        auto c = count(cut);
        CHECK_FALSE(c.complete);
        CHECK(has(c.error, "the document stops inside <"));
        CHECK(has(c.error, "after " + std::to_string(cut.size()) + " bytes"));
        CHECK(c.observations > 0);
        CHECK(c.observations < 140);
    }

    TEST_CASE("garbage, HTML, DTDs, mismatched tags and deep nesting are refused") {
        CHECK(has(count("Service Unavailable").error, "neither XML nor JSON"));
        CHECK(has(count("<html><body>Error 500</body></html>").error, "not an SDMX data message"));
        CHECK(has(count("<!DOCTYPE x [<!ENTITY a 'b'>]><x/>").error, "DOCTYPE"));
        CHECK(has(count("<a><b></a>").error, "</a> closes <b>"));
        CHECK(has(count("<a/><b/>").error, "a second root element"));
        CHECK(has(count("").error, "empty"));
        std::string deep;
        for (int i = 0; i < 300; ++i) {
            deep += "<a>";
        }
        CHECK(has(count(deep).error, "deeper than 256"));
        // A BOM is fine.
        auto bom = count("\xEF\xBB\xBF<GenericData><DataSet><Obs/></DataSet></GenericData>");
        CHECK(bom.error == "");
        CHECK(bom.observations == 1);
    }

    TEST_CASE("constant memory on a large generated stream") {
        // 20,000 series x 50 observations generated on the fly, fed in 64 KiB pieces: the counter
        // holds no more than one tag at a time (the 200 MB figure is in bench/README.md).
        DataCounter counter;
        std::string head =
            R"(<?xml version="1.0" encoding="UTF-8"?><message:GenericData xmlns:message="http://www.sdmx.org/resources/sdmxml/schemas/v2_1/message" xmlns:generic="http://www.sdmx.org/resources/sdmxml/schemas/v2_1/data/generic"><message:DataSet>)";
        REQUIRE(counter.feed(head));
        std::string buffer;
        for (int s = 0; s < 20000; ++s) {
            buffer +=
                R"(<generic:Series><generic:SeriesKey><generic:Value id="REF_AREA" value="IT"/></generic:SeriesKey>)";
            for (int o = 0; o < 50; ++o) {
                buffer +=
                    R"(<generic:Obs><generic:ObsDimension value="2020"/><generic:ObsValue value="1.5"/></generic:Obs>)";
            }
            buffer += "</generic:Series>";
            if (buffer.size() > 65536) {
                REQUIRE(counter.feed(buffer));
                buffer.clear();
            }
        }
        buffer += "</message:DataSet></message:GenericData>";
        REQUIRE(counter.feed(buffer));
        auto c = counter.finish();
        CHECK(c.error == "");
        CHECK(c.series == 20000);
        CHECK(c.observations == 1'000'000);
        CHECK(c.bytes > 90'000'000);
    }
}

// The streaming SDMX-ML reader (lib/sdmx/xml_stream.cpp) against the pugixml reader it sits in
// front of (ReadOptions::xml_stream = false): read_catalog() must give the same catalogue, field
// by field, or the same error (class and message), for every fixture and for inputs made to
// break it; so must the reader split in two (ReadOptions::threads) and read_catalog_readonly(). The
// streaming reader gives up on what it does not read exactly as pugixml does, so an error is always
// pugixml's; the tests also check that it does read the common case.

#include "sdmx/reader.hpp"
#include "sdmx/source.hpp"
#include "sdmx/xml_stream.hpp"
#include "support/support.hpp"

#include <doctest/doctest.h>
#include <fmt/format.h>

#include <algorithm>
#include <cstddef>
#include <filesystem>
#include <mutex>
#include <optional>
#include <random>
#include <sched.h>
#include <string>
#include <typeinfo>
#include <vector>

using namespace dataflow;
using namespace dataflow::sdmx;

namespace {

// ---- a canonical text of a whole catalogue (structured bindings: a new field breaks the build)

std::string quote(std::string_view s) {
    std::string out = "\"";
    for (unsigned char c : s) {
        if (c < 0x20 || c >= 0x7F || c == '"' || c == '\\') {
            out += fmt::format("\\x{:02X}", c);
        } else {
            out += static_cast<char>(c);
        }
    }
    return out + "\"";
}

template <class T>
std::string opt(const std::optional<T>& v) {
    if (!v) {
        return "none";
    }
    if constexpr (std::is_same_v<T, std::string>) {
        return quote(*v);
    } else {
        return fmt::format("{}", *v);
    }
}

void put_texts(std::string& out, std::string_view what, const std::vector<LocalizedText>& texts) {
    for (const auto& t : texts) {
        const auto& [lang, text] = t;
        out += fmt::format("  {} {}={}\n", what, quote(lang), quote(text));
    }
}

void put_categories(std::string& out, const std::vector<Category>& cats, const std::string& at) {
    for (std::size_t i = 0; i < cats.size(); ++i) {
        const auto& [id, names, children] = cats[i];
        auto here = fmt::format("{}/{}", at, i);
        out += fmt::format("  category {} id={}\n", here, quote(id));
        put_texts(out, "   name", names);
        put_categories(out, children, here);
    }
}

void put_flow(std::string& out, const Dataflow& f) {
    const auto& [id, agency_id, version, urn, is_final, names, descriptions, structure, annotations,
                 last_update, last_update_ms, non_production, file_only, hidden, source_line] = f;
    out += fmt::format("flow id={} agency={} version={} urn={} final={} line={}\n", quote(id),
                       quote(agency_id), quote(version), quote(urn), opt(is_final), source_line);
    put_texts(out, "name", names);
    put_texts(out, "description", descriptions);
    const auto& [s_id, s_agency, s_version, s_urn] = structure;
    out += fmt::format("  structure {} {} {} {}\n", quote(s_id), quote(s_agency), quote(s_version),
                       quote(s_urn));
    for (const auto& a : annotations) {
        const auto& [a_id, title, type, url, texts] = a;
        out += fmt::format("  annotation id={} title={} type={} url={}\n", quote(a_id),
                           quote(title), quote(type), quote(url));
        put_texts(out, " text", texts);
    }
    out += fmt::format("  facts update={} ms={} nonprod={} file_only={} hidden={}\n",
                       opt(last_update), opt(last_update_ms), non_production, file_only, hidden);
}

std::string describe(const Catalog& c) {
    const auto& [format, prepared, dataflows, category_schemes, categorisations, warnings] = c;
    std::string out = fmt::format("format={} prepared={}\n", quote(format), quote(prepared));
    for (const auto& f : dataflows) {
        put_flow(out, f);
    }
    for (const auto& s : category_schemes) {
        const auto& [id, agency_id, version, names, categories, source_line] = s;
        out += fmt::format("scheme id={} agency={} version={} line={}\n", quote(id),
                           quote(agency_id), quote(version), source_line);
        put_texts(out, "name", names);
        put_categories(out, categories, "");
    }
    for (const auto& k : categorisations) {
        const auto& [id, agency_id, version, flow_id, flow_agency, flow_version, scheme_id,
                     scheme_agency, scheme_version, category, source_line] = k;
        out +=
            fmt::format("categorisation {} {} {} flow={} {} {} scheme={} {} {} category={} "
                        "line={}\n",
                        quote(id), quote(agency_id), quote(version), quote(flow_id),
                        quote(flow_agency), quote(flow_version), quote(scheme_id),
                        quote(scheme_agency), quote(scheme_version), quote(category), source_line);
    }
    for (const auto& w : warnings) {
        out += fmt::format("warning {}\n", quote(w));
    }
    return out;
}

// ---- running both readers ----------------------------------------------------------------------

std::string outcome(std::string bytes, ReadOptions options, bool stream, bool readonly = false) {
    options.xml_stream = stream;
    try {
        return "ok\n" + describe(readonly ? read_catalog_readonly(bytes, "doc.xml", options)
                                          : read_catalog(bytes, "doc.xml", options));
    } catch (const std::exception& e) {
        return fmt::format("error {}: {}", typeid(e).name(), e.what());
    }
}

/// Whether this thread may run on more than one CPU: else the split readers run one after the
/// other and the first reads the whole (ReadOptions::threads).
bool several_cpus() {
    cpu_set_t set;
    return sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) >= 2;
}

struct Tally {
    std::size_t ok = 0, errors = 0, streamed = 0, split = 0;
};

/// Both readers agree on `bytes`, with all annotations and with the facts' only; and so does
/// the streaming reader split in two (ReadOptions::threads), however small the document.
void agree(std::string_view bytes, const std::string& label, Tally* tally = nullptr,
           ReadOptions options = {}) {
    for (bool all : {true, false}) {
        options.all_annotations = all;
        const std::size_t before = xml_stream_reads();
        auto fast = outcome(std::string(bytes), options, true);
        const bool streamed = xml_stream_reads() != before;
        auto dom = outcome(std::string(bytes), options, false);
        ReadOptions two = options;
        two.threads = 2;
        two.split_min_bytes = 0;
        const std::size_t splits = xml_stream_splits();
        auto halves = outcome(std::string(bytes), two, true);
        const bool split = xml_stream_splits() != splits;
        // On read-only bytes (a mapped file): what pugixml reads is read from a copy.
        auto readonly = outcome(std::string(bytes), options, true, true);
        if (readonly != dom) {
            FAIL_CHECK(fmt::format("read_catalog_readonly and pugixml disagree on {} "
                                   "(all_annotations={})\ninput: {}\nreadonly: {}\npugixml: {}",
                                   label, all, quote(bytes.substr(0, 400)), readonly.substr(0, 300),
                                   dom.substr(0, 300)));
        }
        if (halves != dom) {
            FAIL_CHECK(fmt::format("the streaming reader split in two and pugixml disagree on {} "
                                   "(all_annotations={})\ninput: {}\nsplit: {}\npugixml: {}",
                                   label, all, quote(bytes.substr(0, 400)), halves.substr(0, 300),
                                   dom.substr(0, 300)));
        }
        if (tally != nullptr && all) {
            tally->split += split ? 1 : 0;
        }
        if (fast != dom) {
            std::size_t at = 0;
            while (at < fast.size() && at < dom.size() && fast[at] == dom[at]) {
                ++at;
            }
            auto from = fast.rfind('\n', at) == std::string::npos ? 0 : fast.rfind('\n', at) + 1;
            FAIL_CHECK(fmt::format("the streaming and pugixml readers disagree on {} "
                                   "(all_annotations={})\ninput: {}\nstream: {}\npugixml: {}",
                                   label, all, quote(bytes.substr(0, 400)), fast.substr(from, 300),
                                   dom.substr(from, 300)));
        }
        if (tally != nullptr && all) {
            (fast.starts_with("ok") ? tally->ok : tally->errors)++;
            tally->streamed += streamed ? 1 : 0;
        }
    }
}

std::vector<std::filesystem::path> xml_inputs() {
    std::vector<std::filesystem::path> out;
    for (std::string dir : {DATAFLOW_FIXTURES_DIR, DATAFLOW_SOURCE_DIR "/tests/fuzz/corpus",
                            DATAFLOW_SOURCE_DIR "/tests/bad-inputs", DATAFLOW_EXAMPLES_DIR}) {
        for (const auto& e : std::filesystem::recursive_directory_iterator(dir)) {
            if (e.is_regular_file() && e.path().extension() == ".xml") {
                out.push_back(e.path());
            }
        }
    }
    std::sort(out.begin(), out.end());
    return out;
}

// ---- constructed messages ----------------------------------------------------------------------

const std::string k_head =
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<!-- a service -->\n"
    "<message:Structure xmlns:message=\"http://www.sdmx.org/resources/sdmxml/schemas/v2_1/"
    "message\" xmlns:structure=\"http://www.sdmx.org/resources/sdmxml/schemas/v2_1/structure\" "
    "xmlns:common=\"http://www.sdmx.org/resources/sdmxml/schemas/v2_1/common\">\n"
    "  <message:Header><message:ID>X</message:ID>"
    "<message:Prepared> 2020-05-03T14:30:56 </message:Prepared></message:Header>\n"
    "  <message:Structures>\n    <structure:Dataflows>\n";
const std::string k_tail = "    </structure:Dataflows>\n  </message:Structures>\n"
                           "</message:Structure>\n";

std::string flow(std::string_view body,
                 std::string_view attrs = "id=\"F1\" agencyID=\"IT1\" "
                                          "version=\"1.0\" isFinal=\"true\"") {
    return fmt::format("      <structure:Dataflow {}>\n{}\n      </structure:Dataflow>\n", attrs,
                       body);
}

const std::string k_body =
    "        <common:Annotations>\n"
    "          <common:Annotation id=\"a1\"><common:AnnotationTitle>2020-01-02</common:"
    "AnnotationTitle><common:AnnotationType>LAST_UPDATE</common:AnnotationType></common:"
    "Annotation>\n"
    "          <common:Annotation><common:AnnotationType>LAYOUT</common:AnnotationType>"
    "<common:AnnotationText xml:lang=\"it\">testo</common:AnnotationText></common:Annotation>\n"
    "        </common:Annotations>\n"
    "        <common:Name xml:lang=\"it\">Coltivazioni &amp; raccolti</common:Name>\n"
    "        <common:Name xml:lang=\"en\">Crops</common:Name>\n"
    "        <common:Description xml:lang=\"en\">All the crops</common:Description>\n"
    "        <structure:Structure><Ref id=\"DSD\" version=\"1.2\" agencyID=\"IT1\"/>"
    "</structure:Structure>";

std::string message(std::string_view flows) {
    return k_head + std::string(flows) + k_tail;
}

std::string base_message() {
    return message(flow(k_body) +
                   flow("<common:Name>Second</common:Name>",
                        "id=\"F2\" urn=\"urn:sdmx:org.sdmx.infomodel.datastructure.Dataflow="
                        "IT2:F2(1.0)\""));
}

/// Variations of one Name's text, of its attributes, of a flow's content and of the message.
std::vector<std::string> constructed_messages() {
    std::vector<std::string> out;
    for (std::string text : {"a &amp; b &lt;c&gt; &quot;d&quot; &apos;e&apos;",
                             "&#65;&#x42;&#x10FFFF;&#233;&#xe9;",
                             "&#x20AC; &#8364; &#x7F;&#x80;&#x7FF;&#x800;&#xFFFF;&#x10000;",
                             "&#0;",
                             "&#x0;",
                             "&#x;",
                             "&#;",
                             "&foo;",
                             "a & b",
                             "&#X41;",
                             "&#xD800;",
                             "&#1114112;",
                             "&#00000065;",
                             "&#x0041;",
                             "&amp",
                             "&lt",
                             "&#65",
                             "<![CDATA[a<b&amp;]]>",
                             "<![CDATA[\r\nx\ry]]>",
                             "a<![CDATA[ ]]>b",
                             "<![CDATA[]]>",
                             "<![CDATA[x",
                             "<![CDAT[x]]>",
                             "a<!-- c -->b",
                             "<!-- c -- d -->x",
                             " <!--x--> y ",
                             "a<!--",
                             "a<?pi x?>b",
                             "<? x?>",
                             "<?x",
                             "  ",
                             " \r\n ",
                             "\r\n a \r\n",
                             "a\rb",
                             "a\r\nb",
                             "a\r\r\nb",
                             "\t",
                             "x]]>y",
                             "a>b",
                             "a<b/>c<b>d</b>e",
                             "a<common:Name>n</common:Name>b",
                             "<!DOCTYPE x>",
                             "<!x>",
                             "a</b>",
                             "caf\xC3\xA9",
                             "\xE2\x82\xAC"}) {
        out.push_back(message(flow("<common:Name xml:lang=\"it\">" + text + "</common:Name>")));
    }
    for (std::string attrs : {"xml:lang=\"\tit\r\n\"",
                              "xml:lang=\"i&amp;t\"",
                              "xml:lang='it'",
                              "lang=\"de\"",
                              "lang=\"de\" xml:lang=\"fr\"",
                              "xml:lang=\"a\" xml:lang=\"b\"",
                              "xml:lang = \"it\" ",
                              "xml:lang=\"it\"lang=\"x\"",
                              "xml:lang=\"a<b\"",
                              "xml:lang=\"it",
                              "xml:lang=it",
                              "xml:lang",
                              "xml:lang=\"&#x9;&#10;\"",
                              "xml:lang=\"a\r\rb\"",
                              "xml:lang=\"&bad;\"",
                              "xmlns=\"urn:x\"",
                              "xmlns:common=\"urn:x\"",
                              "xmlns:common=\"\"",
                              "9a=\"x\"",
                              "=\"x\"",
                              "xml:lang=\"it\"/",
                              "xml:lang=\"it\" /"}) {
        out.push_back(message(flow("<common:Name " + attrs + ">N</common:Name>")));
    }
    for (std::string body :
         {"<structure:Structure><URN> urn:sdmx:org.sdmx.infomodel.datastructure.DataStructure="
          "IT1:DSD(1.0) </URN></structure:Structure>",
          "<structure:Structure>urn:sdmx:org.sdmx.infomodel.datastructure.DataStructure=A:B(1)"
          "</structure:Structure>",
          "<structure:Structure><x/><Ref id=\"A\"/><URN>u</URN></structure:Structure>",
          "<structure:Structure><Ref id=\"A\"/></structure:Structure><structure:Structure>"
          "<Ref id=\"B\"/></structure:Structure>",
          "<structure:KeyFamilyRef><structure:KeyFamilyID> K </structure:KeyFamilyID>"
          "<structure:KeyFamilyAgencyID>A</structure:KeyFamilyAgencyID><Version>1</Version>"
          "</structure:KeyFamilyRef>",
          "<structure:KeyFamilyID>K</structure:KeyFamilyID>",
          "<common:Annotations><common:Annotation id=\"NonProductionDataflow\"/>"
          "<common:Annotation><common:AnnotationType>X</common:AnnotationType><common:"
          "AnnotationType>DATAFLOW_HIDDEN</common:AnnotationType><common:AnnotationValue>true"
          "</common:AnnotationValue><common:AnnotationURL>u</common:AnnotationURL></common:"
          "Annotation><other/></common:Annotations>",
          "<common:Annotations><common:Annotation><common:AnnotationType>LAST_UPDATE</common:"
          "AnnotationType><common:AnnotationTitle>not a date</common:AnnotationTitle></common:"
          "Annotation></common:Annotations>",
          "<common:Name xmlns:common=\"urn:other\">hidden</common:Name>",
          "<Name xmlns=\"http://www.sdmx.org/resources/sdmxml/schemas/v2_1/common\">n</Name>",
          "<common:Name>a<common:Name>b</common:Name></common:Name>",
          "<common:Description/><common:Name/>",
          "<common:Name></common:Nam>",
          "<common:Name></common:Name >",
          "<common:Name></common:Name\n>",
          "<common:Name></common:Name x>",
          "<common:Name>",
          "</common:Name>",
          "<a><b></a></b>",
          "<common:Name >x</common:Name>",
          "< common:Name>x</common:Name>"}) {
        out.push_back(message(flow(body)));
    }
    const std::string base = base_message();
    auto root_end = base.find("<message:Header>");
    for (const std::string& doc : std::vector<std::string>{
             base + "<second/>",
             base + "text",
             base + "<!-- c --><?pi?>\n",
             "text" + base,
             "<!DOCTYPE x>" + base,
             "\xEF\xBB\xBF" + base,
             "\xEF\xBB\xBF\xEF\xBB\xBF" + base,
             "<![CDATA[x]]>" + base,
             base.substr(0, 100) + std::string(1, '\0') + base.substr(100),
             message(""),
             message("<structure:Dataflow/>"),
             k_head + k_tail.substr(0, 30),
             base.substr(0, root_end) + "<message:Prepared>2021</message:Prepared>" +
                 base.substr(root_end),
             message(flow("", "id=\"a\" id=\"b\" agencyID=\"\" urn=\"urn:x=AG:ID(1)\"")),
             message(flow("", "isFinal=\"1\"")),
             message(flow("", "isFinal=\"yes\"")),
             message("<structure:KeyFamilies><structure:KeyFamily/></structure:KeyFamilies>"),
             "<Structure xmlns=\"http://www.SDMX.org/resources/SDMXML/schemas/v2_0/message\" "
             "xmlns:s=\"http://www.SDMX.org/resources/SDMXML/schemas/v2_0/structure\"><Dataflows>"
             "<s:Dataflow id=\"A\"><s:Name>n</s:Name></s:Dataflow></Dataflows></Structure>",
             "<mes:Structure "
             "xmlns:mes=\"http://www.sdmx.org/resources/sdmxml/schemas/v3_0/message\""
             " xmlns:str=\"http://www.sdmx.org/resources/sdmxml/schemas/v3_0/structure\"><mes:"
             "Structures><str:Dataflows><str:Dataflow id=\"A\"><str:Structure>urn:a=B:C(1)</str:"
             "Structure></str:Dataflow></str:Dataflows></mes:Structures></mes:Structure>",
             "<message:Error xmlns:message=\"http://www.sdmx.org/resources/sdmxml/schemas/v2_1/"
             "message\"/>",
             "<html><title>x</title></html>",
             "<root xmlns=\"urn:x\"/>"}) {
        out.push_back(doc);
    }
    // A NUL byte ends the document for pugixml, wherever it is.
    const std::string with_all =
        message(flow("<common:Name xml:lang=\"it\">a<!-- c --><?p x?><![CDATA[d]]></common:Name>"
                     "<x y=\"z\">t</x>"));
    for (std::string marker :
         {"<?xml", "a service", "message:Structure xmlns", "v2_1/common", "<message:Prepared>",
          " 2020", "Dataflow id", "\"F1", "xml:lang", "=\"it", ">a<", " c ", "?p x", "[d]", "y=\"z",
          ">t<", "</x", "</common:Name", "    </structure:Dataflows>"}) {
        for (std::size_t shift : {0, 1, 2}) {
            auto at = with_all.find(marker) + shift;
            out.push_back(with_all.substr(0, at) + std::string(1, '\0') + with_all.substr(at));
        }
    }
    out.push_back(with_all + std::string(1, '\0'));
    return out;
}

/// `depth` elements nested at the root's child (walked) or in a flow's name (not walked).
std::string nested(std::size_t depth, bool in_flow) {
    std::string open, close;
    for (std::size_t i = 0; i < depth; ++i) {
        open += "<x>";
        close += "</x>";
    }
    return in_flow ? message(flow("<common:Name>" + open + close + "</common:Name>"))
                   : message(open + close);
}

} // namespace

TEST_SUITE("sdmx xml stream") {
    TEST_CASE("XML stream and pugixml agree on every XML fixture, bad input and seed") {
        auto files = xml_inputs();
        REQUIRE(files.size() >= 40);
        Tally tally;
        for (const auto& path : files) {
            agree(test::read_file(path.string()), path.string(), &tally);
        }
        CHECK(tally.ok >= 15);
        CHECK(tally.errors >= 10);
        CHECK(tally.streamed >= 10); // the fast path reads the real dataflow lists
        if (several_cpus()) {
            CHECK(tally.split >= 5); // and splits those of two flows or more
        }
    }

    TEST_CASE("XML stream reads the bundled catalogue through read_catalog") {
        auto bytes = test::read_file(test::bundled_catalog());
        const std::size_t before = xml_stream_reads();
        std::string copy = bytes;
        auto catalog = read_catalog(copy, "istat.xml");
        CHECK(xml_stream_reads() == before + 1);
        CHECK(copy == bytes); // the input is left as it was
        CHECK(catalog.dataflows.size() == 456);
        auto dom_bytes = bytes;
        ReadOptions dom;
        dom.xml_stream = false;
        CHECK(describe(catalog) == describe(read_catalog(dom_bytes, "istat.xml", dom)));
        CHECK(xml_stream_reads() == before + 1);
    }

    TEST_CASE("XML stream split in two reads the bundled catalogue, and alone on one CPU") {
        auto bytes = test::read_file(test::bundled_catalog());
        auto read = [&](const ReadOptions& options) {
            std::string copy = bytes;
            return describe(read_catalog(copy, "istat.xml", options));
        };
        const auto expected = read({});
        ReadOptions two;
        two.threads = 2;
        two.split_min_bytes = 0;
        const std::size_t splits = xml_stream_splits();
        CHECK(read(two) == expected);
        CHECK(xml_stream_splits() == splits + (several_cpus() ? 1 : 0));
        // Only the calling thread's CPU: util::run_in_parallel() runs the second reader after
        // the first, which must not wait for it at the split and reads the whole alone.
        cpu_set_t all;
        REQUIRE(sched_getaffinity(0, sizeof all, &all) == 0);
        cpu_set_t here;
        CPU_ZERO(&here);
        CPU_SET(sched_getcpu(), &here);
        REQUIRE(sched_setaffinity(0, sizeof here, &here) == 0);
        const auto alone = read(two);
        REQUIRE(sched_setaffinity(0, sizeof all, &all) == 0);
        CHECK(alone == expected);
        CHECK(xml_stream_splits() == splits + (several_cpus() ? 1 : 0));
    }

    TEST_CASE("XML stream: done_with is told each part read past, in order, and changes "
              "nothing") {
        // About 10 MB: done_with comes every 4 MiB of each reader's part.
        std::string flows;
        for (int i = 0; flows.size() < (std::size_t{10} << 20); ++i) {
            flows += flow(k_body, fmt::format("id=\"F{}\" agencyID=\"IT1\" version=\"1.0\"", i));
        }
        const std::string bytes = message(flows);
        const auto expected = outcome(bytes, {}, true, true);
        REQUIRE(expected.starts_with("ok\n"));
        for (unsigned threads : {1u, 2u}) {
            CAPTURE(threads);
            std::mutex mutex;
            std::vector<std::pair<std::size_t, std::size_t>> told;
            ReadOptions options;
            options.threads = threads;
            options.split_min_bytes = 0;
            options.done_with = [&](const char* from, const char* to) {
                std::lock_guard lock(mutex);
                told.emplace_back(static_cast<std::size_t>(from - bytes.data()),
                                  static_cast<std::size_t>(to - bytes.data()));
            };
            CHECK(describe(read_catalog_readonly(bytes, "doc.xml", options)) == expected.substr(3));
            REQUIRE(told.size() >= 2);
            std::sort(told.begin(), told.end());
            std::size_t covered = 0;
            for (std::size_t i = 0; i < told.size(); ++i) {
                CHECK(told[i].first < told[i].second);
                CHECK(told[i].second <= bytes.size());
                if (i > 0) {
                    CHECK(told[i - 1].second <= told[i].first); // each part once
                }
                covered += told[i].second - told[i].first;
                // Each ends at a Dataflow's start tag: what lies before it is read.
                CHECK(std::string_view(bytes)
                          .substr(told[i].second - 1)
                          .starts_with("<structure:Dataflow "));
            }
            CHECK(covered >= bytes.size() / 2);
        }
    }

    TEST_CASE("XML stream split in two: the same catalogue whatever lies at the split") {
        // 40 flows; what is put among them where the second reader looks for its start tag
        // (about halfway) must not change the result: start tags inside comments, CDATA,
        // processing instructions or attribute values, flows under another element or in a
        // second Dataflows, prefixes bound on the flow or bound again to another namespace.
        auto flows = [](std::size_t from, std::size_t to) {
            std::string out;
            for (std::size_t i = from; i < to; ++i) {
                out += flow(i % 3 == 0 ? k_body : "<common:Name>N</common:Name>",
                            fmt::format("id=\"F{}\" agencyID=\"IT1\" version=\"1.0\"", i));
            }
            return out;
        };
        const std::string d = "<structure:Dataflow id=\"X\" agencyID=\"IT9\"><common:Name>X"
                              "</common:Name></structure:Dataflow>";
        std::vector<std::string> middles = {
            "",
            "<!-- " + d + " -->",
            "<![CDATA[" + d + "]]>",
            "<?pi " + d + "?>",
            "<structure:Other note='" + d + "'/>",
            "<structure:Other>" + d + d + "</structure:Other>",
            "<other:Wrap xmlns:other=\"urn:other\">" + d + "</other:Wrap>",
            "</structure:Dataflows><structure:Dataflows>" + d,
            "</structure:Dataflows><structure:Codelists/><structure:Dataflows>" + d,
            "<structure:Dataflow xmlns:structure=\"urn:not-sdmx\" id=\"Y\"/>" + d,
            "<structure:Dataflow id=\"Z\" xmlns:common=\"urn:not-sdmx\"><common:Name>Z"
            "</common:Name></structure:Dataflow>",
            "text between flows " + d,
            "<structure:Dataflow id=\"bad\"><common:Name>unclosed</structure:Dataflow>",
            "</structure:Dataflows></message:Structures><message:Structures>"
            "<structure:Dataflows>" +
                d,
            "</structure:Dataflows></message:Structures></message:Structure>",
            "<structure:Dataflow id=\"deep\">" + std::string(300, ' ') + "</structure:Dataflow>",
            // The state differs at the split yet the second reader would read on without error:
            // only the comparison of states keeps its flows out.
            "</structure:Dataflows><structure:Dataflows xmlns:common=\"urn:not-sdmx\">" + d,
            "<message:Header><message:Prepared>2021-01-01</message:Prepared></message:Header>",
        };
        const std::string prepared = "<message:Prepared> 2020-05-03T14:30:56 </message:Prepared>";
        Tally tally;
        for (std::size_t i = 0; i < middles.size(); ++i) {
            // The second reader starts about halfway through what follows the first flow.
            for (std::size_t at : {18, 20, 22, 39}) {
                auto doc = message(flows(0, at) + middles[i] + flows(at, 40));
                if (middles[i].find("Prepared") != std::string::npos) {
                    doc.erase(doc.find(prepared), prepared.size()); // the one in the middle
                }
                agree(doc, fmt::format("middle {} after flow {}", i, at), &tally);
            }
        }
        CHECK(tally.ok > 30);
        CHECK(tally.errors >= 4);
        if (several_cpus()) {
            CHECK(tally.split > 20);
        }
    }

    TEST_CASE("read_catalog on two threads: the same UTF-8 verdict around the halfway split") {
        // Over 1 MiB, so that the UTF-8 check is split in two (ReadOptions::threads); long
        // ASCII names, so that the bytes around the middle are a name's text.
        std::string flows;
        for (int i = 0; flows.size() < (std::size_t{3} << 19); ++i) {
            flows += flow("<common:Name>" + std::string(200, 'N') + "</common:Name>",
                          fmt::format("id=\"F{}\" agencyID=\"IT1\" version=\"1.0\"", i));
        }
        const std::string base = message(flows);
        const std::size_t mid = base.size() / 2;
        ReadOptions two;
        two.threads = 2;
        Tally tally;
        for (std::string_view bytes :
             {"\xC3\xA9", "\xE2\x82\xAC", "\xF0\x9F\x98\x80", "\xC3", "\x80", "\xE2\x82",
              "\xF0\x9F\x98", "\xED\xA0\x80", "\xC3\xA9\x80", "\n", "\n\n"}) {
            for (std::size_t at = mid - 5; at <= mid + 5; ++at) {
                std::string doc = base;
                REQUIRE(doc.compare(at, bytes.size(), std::string(bytes.size(), 'N')) == 0);
                doc.replace(at, bytes.size(), bytes);
                const auto label = fmt::format("{} at {} (middle {})", quote(bytes), at, mid);
                const auto one = outcome(doc, {}, true);
                CHECK_MESSAGE(outcome(doc, two, true) == one, label);
                CHECK_MESSAGE(outcome(doc, {}, false) == one, label);
                (one.starts_with("ok") ? tally.ok : tally.errors)++;
            }
        }
        CHECK(tally.ok == 5 * 11);
        CHECK(tally.errors == 6 * 11);
    }

    TEST_CASE("XML stream split in two: LAST_UPDATE dates read in the whole catalogue's order") {
        // Each reader derives its flows' facts in the order its own dates say; when the
        // catalogue's order differs (the other half holds the only telling date), the facts
        // and their warnings must come out as if read in one piece.
        auto dated = [](std::size_t i, const std::string& date) {
            return flow("<common:Annotations><common:Annotation><common:AnnotationTitle>" + date +
                            "</common:AnnotationTitle><common:AnnotationType>LAST_UPDATE"
                            "</common:AnnotationType></common:Annotation></common:Annotations>"
                            "<common:Name>N</common:Name>",
                        fmt::format("id=\"F{}\" agencyID=\"IT1\" version=\"1.0\"", i));
        };
        struct Halves {
            std::string first, second; ///< the one telling date of each half ("" none)
        };
        Tally tally;
        for (const auto& [first, second] : std::vector<Halves>{
                 {"", "03/18/2024"},           // month first, said by the second half only
                 {"03/18/2024", ""},           // by the first half only
                 {"18/03/2024", "03/18/2024"}, // both: day first, the second's is not a date
                 {"03/18/2024", "18/03/2024"},
                 {"", ""},
                 {"not a date", "2024-03-18"}}) {
            std::string flows;
            for (std::size_t i = 0; i < 40; ++i) {
                std::string date = i == 5 && !first.empty()     ? first
                                   : i == 35 && !second.empty() ? second
                                                                : "04/03/2020";
                flows += dated(i, date);
            }
            agree(message(flows), fmt::format("dates {} and {}", quote(first), quote(second)),
                  &tally);
        }
        CHECK(tally.ok == 6);
        if (several_cpus()) {
            CHECK(tally.split == 6);
        }
    }

    TEST_CASE("XML stream and pugixml agree on constructed messages") {
        Tally tally;
        auto docs = constructed_messages();
        for (std::size_t i = 0; i < docs.size(); ++i) {
            agree(docs[i], fmt::format("constructed message {}", i), &tally);
        }
        CHECK(tally.ok > 40);
        CHECK(tally.errors > 10);
        CHECK(tally.streamed > 30);
    }

    TEST_CASE(
        "XML stream and pugixml agree on messages cut at every byte and fixtures cut at many") {
        Tally tally;
        auto base = base_message();
        for (std::size_t at = 0; at < base.size(); ++at) {
            agree(std::string_view(base).substr(0, at), fmt::format("base cut at {}", at), &tally);
        }
        for (const auto& path : xml_inputs()) {
            auto bytes = test::read_file(path.string());
            if (bytes.size() > 300'000) {
                continue;
            }
            for (std::size_t cut = 0; cut < 30; ++cut) {
                std::size_t at = bytes.size() * cut / 30 + cut % 7;
                if (at < bytes.size()) {
                    agree(std::string_view(bytes).substr(0, at),
                          fmt::format("{} cut at {}", path.string(), at), &tally);
                }
            }
        }
        CHECK(tally.errors > 1000);
    }

    TEST_CASE("XML stream and pugixml agree on randomly damaged messages") {
        std::mt19937 rng(20261202);
        std::string alphabet = "<>/=\"'&;#x!-[]?: \r\n\tAa0\xC3\xA9";
        alphabet += '\0';
        std::vector<std::string> inputs = {base_message()};
        for (const char* name : {"istat-5-flows.xml", "sdmx30-dataflow.xml", "sdmx20-dataflows.xml",
                                 "flow-with-description.xml", "bom.xml"}) {
            inputs.push_back(test::read_file(
                DATAFLOW_SOURCE_DIR "/tests/fuzz/corpus/fuzz_catalog_xml/" + std::string(name)));
        }
        Tally tally;
        for (std::size_t n = 0; n < inputs.size(); ++n) {
            for (int round = 0; round < 300; ++round) {
                std::string doc = inputs[n];
                for (int edits = 1 + round % 3; edits > 0 && !doc.empty(); --edits) {
                    std::size_t at = rng() % doc.size();
                    char c = alphabet[rng() % alphabet.size()];
                    switch (rng() % 3) {
                    case 0:
                        doc[at] = c;
                        break;
                    case 1:
                        doc.insert(doc.begin() + static_cast<std::ptrdiff_t>(at), c);
                        break;
                    default:
                        doc.erase(at, 1 + rng() % 4);
                        break;
                    }
                }
                agree(doc, fmt::format("input {} damaged, round {}", n, round), &tally);
            }
        }
        CHECK(tally.errors > 100);
        CHECK(tally.streamed > 100);
    }

    TEST_CASE("XML stream and pugixml agree on nesting at and beyond the depth limit") {
        Tally tally;
        for (std::size_t depth : {1, 50, 252, 253, 254, 255, 256, 300}) {
            agree(nested(depth, false), fmt::format("{} levels in the walk", depth), &tally);
            agree(nested(depth, true), fmt::format("{} levels in a name", depth), &tally);
        }
        ReadOptions shallow;
        shallow.max_depth = 5;
        for (std::size_t depth : {0, 1, 2, 3}) {
            agree(nested(depth, false), fmt::format("{} levels, limit 5", depth), &tally, shallow);
            agree(nested(depth, true), fmt::format("{} levels in a name, limit 5", depth), &tally,
                  shallow);
        }
        CHECK(tally.errors >= 4);
        CHECK(tally.streamed >= 8);
    }
}

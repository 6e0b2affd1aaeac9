// End-to-end: the real `dataflow` binary, its exit codes, stdout and stderr.

#include "support/support.hpp"

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include <sys/stat.h>
#include <unistd.h>
#include <utility>

using dataflow::test::run_process;
using dataflow::test::sample;
using dataflow::test::TempDir;

namespace {

dataflow::test::ProcessResult df(std::vector<std::string> args, const std::string& input = {},
                                 const std::vector<std::string>& env = {}) {
    args.insert(args.begin(), DATAFLOW_BIN);
    return run_process(args, input, env);
}

/// The bundled catalogue with its flows `times` times over (the copies with new ids).
std::string bundled_times(int times) {
    auto bytes = dataflow::test::read_file(dataflow::test::bundled_catalog());
    auto from = bytes.find("      <structure:Dataflow ");
    auto to = bytes.find("    </structure:Dataflows>");
    REQUIRE(from != std::string::npos);
    REQUIRE(to != std::string::npos);
    const std::string flows = bytes.substr(from, to - from);
    std::string more;
    for (int copy = 1; copy < times; ++copy) {
        std::string c = flows;
        const std::string prefix = "<structure:Dataflow id=\"C" + std::to_string(copy) + "_";
        for (auto at = c.find("<structure:Dataflow id=\""); at != std::string::npos;
             at = c.find("<structure:Dataflow id=\"", at + prefix.size())) {
            c.replace(at, 24, prefix);
        }
        more += c;
    }
    bytes.insert(to, more);
    return bytes;
}

/// `doc` analysed from a file (mapped) and from stdin: the same exit code, the same report or
/// the same error at the same LINE:COL; returns the two runs (file, stdin).
std::pair<dataflow::test::ProcessResult, dataflow::test::ProcessResult>
same_as_stdin(const TempDir& dir, const std::string& doc, int flows) {
    auto path = dir.file("big.xml", doc);
    auto file = df({"analyze", path, "-o", "json", "--limit", "0"});
    auto stdin_ = df({"analyze", "-", "-o", "json", "--limit", "0"}, doc);
    CHECK(file.exit_code == stdin_.exit_code);
    if (stdin_.exit_code != 0) {
        CHECK(file.out.empty());
        auto at = stdin_.err.find("<stdin>:");
        REQUIRE(at != std::string::npos);
        CHECK(file.err.find(path + stdin_.err.substr(at + 7, 12)) != std::string::npos);
        return {file, stdin_};
    }
    auto a = nlohmann::json::parse(file.out);
    auto b = nlohmann::json::parse(stdin_.out);
    CHECK(a["total_analyzed"] == flows);
    CHECK(a["category_counts"] == b["category_counts"]);
    CHECK(a["categorized_dataflows"] == b["categorized_dataflows"]);
    return {file, stdin_};
}

/// Expects a failure with `code`, nothing on stdout, and `fragment` on stderr.
void expect_failure(const dataflow::test::ProcessResult& r, int code, const std::string& fragment) {
    CAPTURE(r.err);
    CHECK(r.exit_code == code);
    CHECK(r.out.empty());
    CHECK(r.err.find(fragment) != std::string::npos);
}

} // namespace

TEST_SUITE("cli") {
    TEST_CASE("analyze the bundled catalogue in every output format") {
        auto table = df({"analyze", dataflow::test::bundled_catalog()});
        CHECK(table.exit_code == 0);
        CHECK(table.err.empty());
        CHECK(table.out.find("popolazione") != std::string::npos);
        CHECK(table.out.find("100 of 456 dataflows shown") != std::string::npos);

        auto json = df({"analyze", dataflow::test::bundled_catalog(), "-o", "json"});
        REQUIRE(json.exit_code == 0);
        auto j = nlohmann::json::parse(json.out);
        CHECK(j["total_analyzed"] == 456);
        CHECK(j["category_counts"]["lavoro"] == 57);

        auto csv = df({"analyze", dataflow::test::bundled_catalog(), "-o", "csv", "--limit", "0"});
        REQUIRE(csv.exit_code == 0);
        CHECK(std::count(csv.out.begin(), csv.out.end(), '\n') >= 457);

        auto summary = df({"analyze", dataflow::test::bundled_catalog(), "-o", "summary"});
        REQUIRE(summary.exit_code == 0);
        CHECK(summary.out.find("Total dataflows analyzed: 456") != std::string::npos);
    }

    TEST_CASE(
        "a large file (mapped, read by two threads) gives the report its bytes on stdin give") {
        // The bundled catalogue's flows 5 times over (new ids): over the 1 MiB from which a
        // file is mapped rather than read and the reader splits its work.
        const std::string big = bundled_times(5);
        REQUIRE(big.size() > std::size_t{1} << 20);
        TempDir dir;
        // Also two the streaming reader leaves to pugixml (a DTD; a syntax error near the
        // end): they are read from a copy of the mapping, with the same errors.
        auto dtd = big;
        dtd.insert(dtd.find("<message:Structure"), "<!DOCTYPE message:Structure>\n");
        auto broken = big;
        broken.insert(broken.rfind("</structure:Dataflow>"), "<common:Name>");
        for (const auto& doc : {big, dtd, broken}) {
            same_as_stdin(dir, doc, 456 * 5);
        }
    }

    TEST_CASE("a file of 32 MiB and more lets go of what was read, and reports the same") {
        // Over 32 MiB, the pages the reader has read past leave the resident set
        // (util::MappedFile::drop); an error found near the end, which pugixml then reads
        // from a copy of the whole mapping, reads those pages again: the same bytes.
        const std::string big = bundled_times(150);
        REQUIRE(big.size() > std::size_t{33} << 20);
        auto broken = big;
        broken.insert(broken.rfind("</structure:Dataflow>"), "<common:Name>");
        TempDir dir;
        for (const auto& doc : {big, broken}) {
            auto [file, stdin_] = same_as_stdin(dir, doc, 456 * 150);
            // Not resident both: the 36 MB file and what is made from it.
            CHECK((file.exit_code != 0 || file.max_rss_kib < stdin_.max_rss_kib));
        }
    }

    TEST_CASE("stdin as source, filters and options") {
        auto input = dataflow::test::read_file(dataflow::test::bundled_catalog());
        auto r = df({"analyze", "-", "-o", "json", "--category", "lavoro,salute", "--min-score",
                     "8", "--limit", "3", "--sort", "id", "--match", "word", "--lang", "en,it"},
                    input);
        REQUIRE(r.exit_code == 0);
        auto j = nlohmann::json::parse(r.out);
        CHECK(j["source"]["name"] == "<stdin>");
        auto groups = j["categorized_dataflows"];
        CHECK(groups.size() == 2);
        CHECK(groups["lavoro"].size() + groups["salute"].size() == 3);
        for (auto& [k, list] : groups.items()) {
            for (auto& d : list) {
                CHECK(d["relevance_score"].get<int>() >= 8);
            }
        }
    }

    TEST_CASE("every real sample: a dataflow list gives a report, anything else exit 1") {
        struct Case {
            const char* path;
            int code;
            const char* fragment; // on stdout (success) or stderr (failure)
        };
        const Case cases[] = {
            {"AndreaBozzo__Osservatorio/data_124_1157.xml", 1, "data message (GenericData)"},
            {"SDMXISTATTOOLKIT__DATABROWSER/source/databrowserhub/test/DataBrowser.Benchmark/"
             "JsonStatConvert/DF_TR_AEREO+IT1+1.0.xml",
             0, "analyzed: 1"},
            {"andrerecio__IstatApi.jl/test/fixtures/dataflows_IT1_slice.json", 0, "analyzed: 63"},
            {"bis-med-it__pysdmx/tests/api/fmr/samples/df/flows.json", 0, "analyzed: 5"},
            {"bis-med-it__pysdmx/tests/io/samples/error.xml", 1, "SDMX error message"},
            {"bis-med-it__pysdmx/tests/io/samples/valid_bom.xml", 1, "holds no dataflows"},
            {"fditraglia__claude-checks-ft/dataflows.xml", 0, "analyzed: 116"},
            {"khaeru__sdmx-test-data/ECB_EXR/1/M.USD.EUR.SP00.A.xml", 1, "data message"},
            {"khaeru__sdmx-test-data/ECB_EXR/1/structure.xml", 1, "DataStructures (1)"},
            {"khaeru__sdmx-test-data/ESTAT/footer.xml", 1, "footer says"},
            {"khaeru__sdmx-test-data/IMF/01R.xml", 0, "analyzed: 1"},
            {"khaeru__sdmx-test-data/IMF/CL_FREQ-3.0-structure.xml", 1, "Codelists (1)"},
            {"khaeru__sdmx-test-data/INSEE/dataflow.xml", 0, "analyzed: 663"},
            {"khaeru__sdmx-test-data/INSEE/gh-205.xml", 0, "analyzed: 1"},
            {"khaeru__sdmx-test-data/ISTAT/22_289-structure.xml", 1, "DataStructures (1)"},
            {"khaeru__sdmx-test-data/ISTAT/22_289.xml", 1, "StructureSpecificData"},
            {"khaeru__sdmx-test-data/ISTAT/actualconstraint-0.xml", 1, "Constraints (1)"},
            {"khaeru__sdmx-test-data/recorded/"
             "2556f1775294929a__ISTAT_dataflow_47_850_references-datastructure.xml",
             0, "analyzed: 1"},
            {"khaeru__sdmx-test-data/recorded/"
             "b1957b05ba522041__ISTAT_data_47_850_A.001001+001002.AUTP.ALL.ALL.1.xml",
             1, "data message"},
            {"khaeru__sdmx-test-data/v3/json/structure/constructed-sample.json", 0, "analyzed: 1"},
            {"khaeru__sdmx-test-data/v3/xml/dataflow.xml", 0, "analyzed: 1"},
            {"knifflig__sdmxflow/tests/data/sdmx/estat/lfsa_egai2d/raw/dataflow_all.xml", 0,
             "analyzed: 1"},
            {"nbbrd__sdmx-dl/sdmx-dl-format-xml/src/test/resources/internal/sdmxdl/format/xml/"
             "10100139_187.xml",
             1, "StructureSpecificData"},
            {"nbbrd__sdmx-dl/sdmx-dl-format-xml/src/test/resources/internal/sdmxdl/format/xml/"
             "FlowWithDescription.xml",
             0, "analyzed: 2"},
            {"nbbrd__sdmx-dl/sdmx-dl-format-xml/src/test/resources/tests/sdmxdl/format/xml/ecb/"
             "EcbDataflows.xml",
             0, "analyzed: 3"},
            {"nbbrd__sdmx-dl/sdmx-dl-format-xml/src/test/resources/tests/sdmxdl/format/xml/nbb/"
             "Dataflows.xml",
             1, "KeyFamily"},
            {"nbbrd__sdmx-dl/sdmx-dl-format-xml/src/test/resources/tests/sdmxdl/format/xml/other/"
             "sdmx-Dataflows20.xml",
             0, "analyzed: 2"},
            {"ondata__guida-api-istat/esempi/CL_FREQ.xml", 1, "Codelists (1)"},
            {"ondata__guida-api-istat/rawdata/DCIS_POPRES1/datastructure.xml", 1,
             "DataStructures (1)"},
            {"ondata__guida-api-istat/rawdata/categoryscheme.xml", 1, "CategorySchemes (1)"},
            // ondata__guida-api-istat/rawdata/dataflow.xml, kept once: as the bundled catalogue.
            {"examples/istat-dataflows-2020.xml", 0, "analyzed: 456"},
        };
        CHECK(std::size(cases) == 31);
        for (const auto& c : cases) {
            CAPTURE(c.path);
            auto path = std::string_view(c.path).starts_with("examples/")
                            ? std::string(DATAFLOW_SOURCE_DIR) + "/" + c.path
                            : sample(c.path);
            auto r = df({"analyze", path, "-o", "summary"});
            CHECK(r.exit_code == c.code);
            CHECK(r.signal == 0);
            if (c.code == 0) {
                CHECK(r.out.find(c.fragment) != std::string::npos);
            } else {
                expect_failure(r, c.code, c.fragment);
                CHECK(r.err.find("dataflow: error: ") == 0);
            }
        }
    }

    TEST_CASE("bad input files: clear message, exit 1, nothing on stdout") {
        TempDir dir;
        expect_failure(df({"analyze", (dir.path() / "missing.xml").string()}), 1, "no such file");
        expect_failure(df({"analyze", dir.path().string()}), 1, "is a directory");
        expect_failure(df({"analyze", dir.file("empty.xml", "")}), 1, "is empty");
        auto catalog = dataflow::test::read_file(dataflow::test::bundled_catalog());
        expect_failure(df({"analyze", dir.file("cut.xml", catalog.substr(0, 5000))}), 1,
                       "malformed XML");
        expect_failure(
            df({"analyze",
                dir.file("page.html", "<!doctype html><html><title>Login</title></html>")}),
            1, "HTML page");
        auto latin1 =
            df({"analyze", dir.file("latin1.xml", "<?xml version=\"1.0\"?>\n<a>caf\xE9</a>")});
        expect_failure(latin1, 1, "invalid UTF-8 at byte offset 28");
        CHECK(latin1.err.find("latin1.xml:2:7:") != std::string::npos);
        std::string lol = "<?xml version=\"1.0\"?>\n<!DOCTYPE l [<!ENTITY a \"aaaaaaaaaa\">"
                          "<!ENTITY b \"&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;\">]>\n<l>&b;</l>";
        expect_failure(df({"analyze", dir.file("lol.xml", lol)}), 1, "DTD");
        std::string deep =
            "<m:Structure xmlns:m=\"http://www.sdmx.org/resources/sdmxml/schemas/v2_1/message\">";
        for (int i = 0; i < 100000; ++i) {
            deep += "<a>";
        }
        for (int i = 0; i < 100000; ++i) {
            deep += "</a>";
        }
        deep += "</m:Structure>";
        expect_failure(df({"analyze", dir.file("deep.xml", deep)}), 1, "nested deeper than");
        expect_failure(df({"analyze", dir.file("x.json", "{\"hello\": \"world\"}")}), 1,
                       "JSON that is not SDMX");
        expect_failure(
            df({"analyze", dataflow::test::bundled_catalog(), "--max-input-bytes", "100K"}), 1,
            "larger than the limit of 100.0 KiB");
        // A BOM is fine.
        auto bom = df({"analyze", dir.file("bom.xml", "\xEF\xBB\xBF" + catalog), "-o", "summary"});
        CHECK(bom.exit_code == 0);
        CHECK(bom.out.find("analyzed: 456") != std::string::npos);
    }

    TEST_CASE("an unreadable file is an input error") {
        TempDir dir;
        if (::geteuid() != 0) {
            auto path = dir.file("secret.xml", "<a/>");
            ::chmod(path.c_str(), 0);
            expect_failure(df({"analyze", path}), 1, "permission denied");
        } else {
            // root reads any file mode; /proc/self/mem opens but every read at offset 0 fails.
            expect_failure(df({"analyze", "/proc/self/mem"}), 1, "read failed");
        }
    }

    TEST_CASE("control characters from the input never reach the terminal") {
        TempDir dir;
        std::string doc =
            R"(<m:Structure xmlns:m="http://www.sdmx.org/resources/sdmxml/schemas/v2_1/message" )"
            R"(xmlns:s="http://www.sdmx.org/resources/sdmxml/schemas/v2_1/structure" )"
            R"(xmlns:c="http://www.sdmx.org/resources/sdmxml/schemas/v2_1/common"><m:Structures><s:Dataflows>)"
            R"(<s:Dataflow id="A&#27;]0;pwned&#7;"><c:Annotations><c:Annotation><c:AnnotationTitle>x&#27;[2J</c:AnnotationTitle>)"
            R"(<c:AnnotationType>LAST_UPDATE</c:AnnotationType></c:Annotation></c:Annotations>)"
            R"(<c:Name xml:lang="it">PIL &#27;[2J&#27;[31mrosso&#155;1m</c:Name></s:Dataflow>)"
            R"(</s:Dataflows></m:Structures></m:Structure>)";
        auto path = dir.file("esc.xml", doc);
        for (const char* fmt : {"table", "summary"}) {
            auto r = df({"analyze", path, "-o", fmt});
            CAPTURE(fmt);
            CHECK(r.exit_code == 0);
            CHECK(r.out.find('\x1b') == std::string::npos);
            CHECK(r.out.find('\x07') == std::string::npos);
            CHECK(r.out.find("\xC2\x9B") == std::string::npos);
            CHECK(r.err.find('\x1b') == std::string::npos); // the LAST_UPDATE warning quotes it
            CHECK(r.err.find("LAST_UPDATE") != std::string::npos);
        }
        // JSON keeps the text exactly, escaped.
        auto j = nlohmann::json::parse(df({"analyze", path, "-o", "json"}).out);
        CHECK(j["categorized_dataflows"]["economia"][0]["id"] == "A\x1b]0;pwned\x07");
    }

    TEST_CASE("usage errors exit 2 and never leak CLI11's codes") {
        auto cat = dataflow::test::bundled_catalog();
        auto unknown = df({"analyze", cat, "--category", "sport"});
        expect_failure(unknown, 2, "unknown category 'sport'; valid categories: popolazione");
        expect_failure(df({"analyze", cat, "--limit", "-1"}), 2, "--limit");
        expect_failure(df({"analyze", cat, "--sort", "nonsense"}), 2, "--sort");
        expect_failure(df({"analyze", cat, "--no-such-option"}), 2, "no-such-option");
        expect_failure(df({"analyze", "http://exa mple.org/rest/dataflow/IT1"}), 2,
                       "source 'http://exa mple.org/rest/dataflow/IT1' contains a space");
        expect_failure(df({}), 2, "subcommand");
        expect_failure(df({"analyze", cat, "--max-input-bytes", "lots"}), 2, "not a size");
        expect_failure(df({"analyze", cat, "--max-input-bytes", "17179869184G"}), 2, "too large");
        expect_failure(df({"analyze", cat, "-o", "xml"}), 2, "--output");
        expect_failure(df({"analyze", cat, "--lang", "it,e n"}), 2, "--lang");
    }

    TEST_CASE("rule files: errors with FILE:LINE:COL, exit 1") {
        TempDir dir;
        auto cat = dataflow::test::bundled_catalog();
        auto syntax = dir.file("syntax.toml", "[[rules]\ncategory = \"x\"\n");
        auto r = df({"analyze", cat, "--rules", syntax});
        expect_failure(r, 1, "syntax.toml:1:");
        auto empty_kw =
            dir.file("nokw.toml", "[[rules]]\ncategory = \"x\"\npriority = 1\nkeywords = []\n");
        expect_failure(df({"analyze", cat, "--rules", empty_kw}), 1, "nokw.toml:4:");
        auto neg = dir.file("neg.toml",
                            "[[rules]]\ncategory = \"x\"\npriority = -1\nkeywords = [\"a\"]\n");
        expect_failure(df({"analyze", cat, "--rules", neg}), 1, "neg.toml:3:");
        auto good = dir.file("good.toml", "[[rules]]\ncategory = \"agricoltura\"\npriority = "
                                          "3\nkeywords = [\"coltiv\", \"agri\"]\n");
        auto ok = df({"analyze", cat, "--rules", good, "-o", "json", "--category", "agricoltura"});
        REQUIRE(ok.exit_code == 0);
        auto j = nlohmann::json::parse(ok.out);
        CHECK(j["category_counts"].size() == 2);
        CHECK(j["category_counts"]["agricoltura"].get<int>() > 0);
    }

    TEST_CASE("global options, version and help") {
        auto v = df({"--version"});
        CHECK(v.exit_code == 0);
        CHECK(v.out.find("dataflow ") == 0);
        auto h = df({"analyze", "--help"});
        CHECK(h.exit_code == 0);
        CHECK(h.out.find("--min-score") != std::string::npos);
        auto q =
            df({"analyze", sample("andrerecio__IstatApi.jl/test/fixtures/dataflows_IT1_slice.json"),
                "-o", "summary", "-q"});
        CHECK(q.exit_code == 0);
        CHECK(q.err.empty());
        // Global options are accepted after the subcommand too.
        auto lvl = df({"analyze", "--log-level", "debug", dataflow::test::bundled_catalog(), "-o",
                       "summary"});
        CHECK(lvl.exit_code == 0);
        CHECK(lvl.err.find("analysed 456 dataflows") != std::string::npos);
        expect_failure(df({"--log-level", "loud", "analyze", "x"}), 2, "--log-level");
    }

    TEST_CASE("JSON logs are valid JSON whatever the message holds") {
        TempDir dir;
        auto path = (dir.path() / "we\"ird\\name\tx.xml").string();
        auto r = df({"--log-format", "json", "analyze", path});
        CHECK(r.exit_code == 1);
        REQUIRE_FALSE(r.err.empty());
        std::size_t start = 0;
        int lines = 0;
        while (start < r.err.size()) {
            auto end = r.err.find('\n', start);
            auto line = r.err.substr(start, end - start);
            auto j = nlohmann::json::parse(line);
            CHECK(j["level"] == "error");
            CHECK(j["message"].get<std::string>().find("we\"ird\\name\tx.xml") !=
                  std::string::npos);
            CHECK(j.contains("time"));
            ++lines;
            start = end + 1;
        }
        CHECK(lines >= 1);
    }

    TEST_CASE("colour: never when piped unless asked, never with NO_COLOR") {
        auto cat = dataflow::test::bundled_catalog();
        CHECK(df({"analyze", cat}).out.find("\x1b[") == std::string::npos);
        CHECK(df({"analyze", cat, "--color", "always"}).out.find("\x1b[") != std::string::npos);
        auto wide = df({"analyze", cat, "--limit", "3"}, {}, {"COLUMNS=60"});
        REQUIRE(wide.exit_code == 0);
        auto first_line = wide.out.substr(0, wide.out.find('\n'));
        CHECK(first_line.size() <= 60);
        CHECK(first_line.find("NAME") != std::string::npos);

        // At a terminal: colour by default, none with NO_COLOR (any non-empty value) or
        // TERM=dumb, and an explicit --color always still wins (no-color.org).
        const std::vector<std::string> args{DATAFLOW_BIN, "analyze", cat, "--limit", "5"};
        auto tty = dataflow::test::run_on_terminal(args, {"TERM=xterm"});
        REQUIRE(tty.exit_code == 0);
        CHECK(tty.out.find("\x1b[") != std::string::npos);
        CHECK(tty.out.find("NAME") != std::string::npos);
        auto no_color = dataflow::test::run_on_terminal(args, {"TERM=xterm", "NO_COLOR=1"});
        REQUIRE(no_color.exit_code == 0);
        CHECK(no_color.out.find("\x1b[") == std::string::npos);
        CHECK(no_color.out.find("NAME") != std::string::npos);
        auto empty = dataflow::test::run_on_terminal(args, {"TERM=xterm", "NO_COLOR="});
        CHECK(empty.out.find("\x1b[") != std::string::npos); // empty means unset
        auto dumb = dataflow::test::run_on_terminal(args, {"TERM=dumb"});
        CHECK(dumb.out.find("\x1b[") == std::string::npos);
        auto forced = args;
        forced.insert(forced.end(), {"--color", "always"});
        CHECK(dataflow::test::run_on_terminal(forced, {"TERM=xterm", "NO_COLOR=1"})
                  .out.find("\x1b[") != std::string::npos);
        auto never = args;
        never.insert(never.end(), {"--color", "never"});
        CHECK(dataflow::test::run_on_terminal(never, {"TERM=xterm"}).out.find("\x1b[") ==
              std::string::npos);
    }
}

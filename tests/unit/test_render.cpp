#include "analysis/render.hpp"
#include "sdmx/reader.hpp"
#include "support/support.hpp"
#include "util/json_writer.hpp"
#include "util/utf8.hpp"

#include <doctest/doctest.h>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

using namespace dataflow;
using namespace dataflow::analysis;

namespace {

struct Fixture {
    sdmx::Catalog catalog;
    Categorizer categorizer{default_rules(), MatchMode::substring};
    Report report;

    explicit Fixture(std::size_t limit = 100) {
        auto bytes = test::read_file(test::bundled_catalog());
        catalog = sdmx::read_catalog(bytes, "istat.xml");
        AnalysisOptions o;
        o.limit = limit;
        report = analyze(catalog, categorizer, o);
        report.source_name = "istat.xml";
        report.source_format = catalog.format;
        report.analysis_timestamp = "2026-11-29T10:00:00Z";
        report.analysis_duration_seconds = 0.012;
    }
};

/// Minimal RFC 4180 reader: rows of fields.
std::vector<std::vector<std::string>> parse_csv(const std::string& text) {
    std::vector<std::vector<std::string>> rows(1);
    std::string field;
    bool quoted = false;
    for (std::size_t i = 0; i < text.size(); ++i) {
        char ch = text[i];
        if (quoted) {
            if (ch == '"' && i + 1 < text.size() && text[i + 1] == '"') {
                field += '"';
                ++i;
            } else if (ch == '"') {
                quoted = false;
            } else {
                field += ch;
            }
        } else if (ch == '"') {
            quoted = true;
        } else if (ch == ',') {
            rows.back().push_back(field);
            field.clear();
        } else if (ch == '\r' && i + 1 < text.size() && text[i + 1] == '\n') {
            rows.back().push_back(field);
            field.clear();
            rows.emplace_back();
            ++i;
        } else {
            field += ch;
        }
    }
    if (rows.back().empty()) {
        rows.pop_back();
    }
    return rows;
}

} // namespace

TEST_SUITE("render") {
    TEST_CASE("JSON report has the reference API's field names") {
        Fixture f;
        auto j = nlohmann::json::parse(render_json(f.report));
        CHECK(j["total_analyzed"] == 456);
        CHECK(j["category_counts"]["popolazione"] == 44);
        CHECK(j["category_counts"]["altri"] == 279);
        CHECK(j["tableau_ready_count"] == 0);
        CHECK(j["test_results"].empty());
        CHECK(j["analysis_timestamp"] == "2026-11-29T10:00:00Z");
        auto pm = j["performance_metrics"];
        CHECK(pm["dataflows_processed"] == 456);
        CHECK(pm["categories_found"] == 7);
        CHECK(pm["tests_performed"] == 0);
        CHECK(pm["analysis_duration_seconds"].get<double>() == doctest::Approx(0.012));
        // Category keys in rule order, altri last.
        std::vector<std::string> keys;
        for (auto& [k, v] : j["categorized_dataflows"].items()) {
            keys.push_back(k);
        }
        CHECK(keys.size() == 7);
        std::size_t total = 0;
        for (auto& [k, v] : j["categorized_dataflows"].items()) {
            total += v.size();
        }
        CHECK(total == 100);
        auto first = j["categorized_dataflows"]["popolazione"][0];
        for (const char* field :
             {"id", "agency", "version", "name_it", "name_en", "display_name", "names",
              "description", "category", "relevance_score", "matched_keywords", "confidence",
              "last_update", "non_production", "file_only"}) {
            CAPTURE(field);
            CHECK(first.contains(field));
        }
        CHECK(first["category"] == "popolazione");
        CHECK(first["agency"] == "IT1");
        CHECK(first["names"].contains("it"));
        CHECK(first["last_update"].is_null());
        CHECK(first["matched_keywords"].is_array());
    }

    TEST_CASE("JSON: name_en is null when there is no English name") {
        Fixture f(0);
        auto j = nlohmann::json::parse(render_json(f.report));
        bool found = false;
        for (auto& [k, list] : j["categorized_dataflows"].items()) {
            for (auto& d : list) {
                if (d["id"] == "27_945") {
                    found = true;
                    CHECK(d["name_en"].is_null());
                    CHECK(d["name_it"].is_string());
                }
            }
        }
        CHECK(found);
    }

    TEST_CASE("CSV is RFC 4180: header, quoting, CRLF") {
        Fixture f(0);
        auto csv = render_csv(f.report);
        auto rows = parse_csv(csv);
        REQUIRE(rows.size() == 457);
        CHECK(rows[0][0] == "category");
        CHECK(rows[0].size() == 21);
        for (const auto& r : rows) {
            CHECK(r.size() == 21);
        }
        CHECK(csv.find("\r\n") != std::string::npos);
        // A description with commas and a newline survives the round trip.
        sdmx::Catalog cat;
        sdmx::Dataflow d;
        d.id = "Q";
        d.names = {{"it", "Nome, \"citato\""}};
        d.descriptions = {{"it", "riga uno\nriga due"}};
        cat.dataflows.push_back(d);
        Categorizer c(default_rules(), MatchMode::substring);
        auto rep = analyze(cat, c, AnalysisOptions{});
        auto rows2 = parse_csv(render_csv(rep));
        REQUIRE(rows2.size() == 2);
        CHECK(rows2[1][5] == "Nome, \"citato\"");
        CHECK(rows2[1][15] == "riga uno\nriga due");
    }

    TEST_CASE("table fits the width, cuts long names with an ellipsis, colour only on request") {
        Fixture f(20);
        TableOptions t;
        t.width = 80;
        auto table = render_table(f.report, t);
        CHECK(table.find("\x1b[") == std::string::npos);
        std::size_t start = 0;
        bool cut = false;
        int rows = 0;
        while (start < table.size()) {
            auto end = table.find('\n', start);
            auto line = table.substr(start, end - start);
            if (rows <= 20) {
                CHECK(util::display_width(line) <= 80);
            }
            cut = cut || line.find("…") != std::string::npos;
            ++rows;
            start = end + 1;
        }
        CHECK(cut);
        t.color = true;
        CHECK(render_table(f.report, t).find("\x1b[") != std::string::npos);
    }

    TEST_CASE("summary lists every category with its count") {
        Fixture f;
        auto s = render_summary(f.report);
        CHECK(s.find("Total dataflows analyzed: 456") != std::string::npos);
        // The reference's goldens for the bundled catalogue, one line per category in rule
        // order, altri last: name padded to the widest, count, share of the total.
        const std::vector<std::pair<std::string, int>> golden{
            {"popolazione", 44}, {"economia", 45}, {"lavoro", 57}, {"territorio", 7},
            {"istruzione", 15},  {"salute", 9},    {"altri", 279}};
        std::size_t at = s.find("Category breakdown:\n");
        REQUIRE(at != std::string::npos);
        at += std::string_view("Category breakdown:\n").size();
        for (const auto& [name, n] : golden) {
            CAPTURE(name);
            auto line = fmt::format("  - {:<11} {:>6}  ({:5.1f}%)\n", name, n, 100.0 * n / 456);
            auto found = s.find(line, at);
            CHECK(found == at); // the next line, so order and completeness both hold
            if (found != std::string::npos) {
                at = found + line.size();
            }
        }
        // Nothing but the seven categories before the totals line.
        CHECK(s.compare(at, 9, "Returned:") == 0);
    }

    TEST_CASE("report members written into another document: the same bytes as the report") {
        // The service writes its envelope fields and then the report's members (cached once as
        // JsonMembers): the result must be byte for byte what writing them directly gives.
        Fixture f;
        auto members = util::JsonWriter::render_members(
            2, 1, [&](util::JsonWriter& w) { write_report_members(w, f.report); });
        std::string composed;
        util::JsonWriter w(composed, 2);
        w.begin_object();
        w.field("success", true);
        w.members(members);
        w.field("after", 1);
        w.end_object();
        std::string direct;
        util::JsonWriter d(direct, 2);
        d.begin_object();
        d.field("success", true);
        write_report_members(d, f.report);
        d.field("after", 1);
        d.end_object();
        CHECK(composed == direct);
        // Alone, the members make the report document itself.
        std::string alone;
        util::JsonWriter a(alone, 2);
        a.begin_object();
        a.members(members);
        a.end_object();
        CHECK(alone + "\n" == render_json(f.report));
        CHECK(nlohmann::json::parse(composed)["total_analyzed"] == 456);
        // Members rendered for another depth or indent are refused, not spliced wrongly.
        std::string nested;
        util::JsonWriter n(nested, 2);
        n.begin_object().key("inner").begin_object();
        CHECK_THROWS_AS(n.members(members), std::logic_error);
        std::string compact;
        util::JsonWriter c(compact, 0);
        c.begin_object();
        CHECK_THROWS_AS(c.members(members), std::logic_error);
    }
}

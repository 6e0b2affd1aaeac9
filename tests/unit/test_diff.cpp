#include "analysis/diff.hpp"
#include "analysis/rules.hpp"
#include "sdmx/reader.hpp"
#include "support/support.hpp"
#include "util/error.hpp"

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include <algorithm>

using namespace dataflow;
using namespace dataflow::analysis;

namespace {

const std::string k_prepared_2020 = "2020-05-03T14:30:56.7239925+02:00";

void replace_once(std::string& text, const std::string& from, const std::string& to) {
    auto at = text.find(from);
    REQUIRE_MESSAGE(at != std::string::npos, from);
    text.replace(at, from.size(), to);
}

/// Applies `edit` to the <structure:Dataflow> element of `id` in the XML text.
template <typename F>
void edit_flow(std::string& xml, const std::string& id, F edit) {
    auto start = xml.find("<structure:Dataflow id=\"" + id + "\"");
    REQUIRE_MESSAGE(start != std::string::npos, id);
    const std::string close = "</structure:Dataflow>";
    auto end = xml.find(close, start) + close.size();
    std::string block = xml.substr(start, end - start);
    edit(block);
    xml.replace(start, end - start, block);
}

std::string annotation(const std::string& type, const std::string& title) {
    return "<common:Annotations><common:Annotation><common:AnnotationTitle>" + title +
           "</common:AnnotationTitle><common:AnnotationType>" + type +
           "</common:AnnotationType></common:Annotation></common:Annotations>";
}

void annotate(std::string& xml, const std::string& id, const std::string& type,
              const std::string& title) {
    edit_flow(xml, id, [&](std::string& b) {
        auto name = b.find("<common:Name");
        b.insert(name, annotation(type, title));
    });
}

sdmx::Catalog parse(std::string xml, const std::string& name) {
    return sdmx::read_catalog(xml, name);
}

const std::string k_new_flow =
    R"(<structure:Dataflow id="DF_NEW_1" agencyID="IT1" version="1.0" isFinal="true">)"
    R"(<common:Name xml:lang="it">Occupati per settore</common:Name>)"
    R"(<common:Name xml:lang="en">Employed by sector</common:Name>)"
    R"(<structure:Structure><Ref id="DCCV_OCC" version="1.0" agencyID="IT1" /></structure:Structure>)"
    R"(</structure:Dataflow>)";

/// The ISTAT 2020 list (old) and a variant (new) with one change of each kind.
struct Variants {
    std::string old_xml = test::read_file(test::bundled_catalog());
    std::string new_xml;

    Variants() {
        annotate(old_xml, "161_81", "LAST_UPDATE", "2020-03-01T09:00:00Z");
        new_xml = old_xml;
        auto& x = new_xml;
        replace_once(x, k_prepared_2020, "2020-06-01T08:00:00Z");
        replace_once(x, "</structure:Dataflows>", k_new_flow + "</structure:Dataflows>");
        edit_flow(x, "101_1033", [](std::string& b) { b.clear(); });
        edit_flow(x, "101_1039", [](std::string& b) {
            replace_once(b, "(1.0)\" agencyID=\"IT1\" version=\"1.0\"",
                         "(1.1)\" agencyID=\"IT1\" version=\"1.1\"");
        });
        edit_flow(x, "101_1030", [](std::string& b) {
            replace_once(b, "Prodotti agroalimentari di qualità DOP/IGP e STG",
                         "Prodotti agroalimentari \"DOP, IGP\" e STG");
        });
        edit_flow(x, "22_289", [](std::string& b) { // whitespace only: not a change
            replace_once(b, "Popolazione residente  al 1° gennaio",
                         " Popolazione residente al\n 1°\tgennaio ");
            replace_once(b, "Resident population  on 1st January",
                         "Resident population on 1st January  ");
        });
        edit_flow(x, "161_81", [](std::string& b) {
            replace_once(b, "2020-03-01T09:00:00Z", "2020-05-02T10:30:00+02:00");
        });
        edit_flow(x, "101_1015",
                  [](std::string& b) { replace_once(b, "isFinal=\"false\"", "isFinal=\"true\""); });
        edit_flow(x, "27_945", [](std::string& b) {
            replace_once(b, "<Ref id=\"DCIS_DIVFIG1\" version=\"1.1\"",
                         "<Ref id=\"DCIS_DIVFIG1\" version=\"1.2\"");
            replace_once(b, "</common:Name>",
                         "</common:Name><common:Name xml:lang=\"en\">Divorces</common:Name>");
        });
        edit_flow(x, "24_186", [](std::string& b) {
            replace_once(b, ">Matrimoni<", ">Nozze<"); // popolazione -> altri
        });
        annotate(x, "29_316", "DATAFLOW_HIDDEN", "true");
    }
};

const Categorizer& categorizer() {
    static const Categorizer c{default_rules(), MatchMode::substring};
    return c;
}

CatalogDiff diff_of(const std::string& a, const std::string& b, const DiffOptions& o = {}) {
    return diff_catalogs(parse(a, "old.xml"), parse(b, "new.xml"), categorizer(), o);
}

const ChangedFlow& changed(const CatalogDiff& d, const std::string& id) {
    auto it = std::find_if(d.changed.begin(), d.changed.end(),
                           [&](const ChangedFlow& c) { return c.id == id; });
    REQUIRE_MESSAGE(it != d.changed.end(), id);
    return *it;
}

void check_changes(const ChangedFlow& c, const std::vector<FieldChange>& expected) {
    REQUIRE(c.changes.size() == expected.size());
    for (std::size_t i = 0; i < expected.size(); ++i) {
        CHECK(c.changes[i].field == expected[i].field);
        CHECK(c.changes[i].old_value == expected[i].old_value);
        CHECK(c.changes[i].new_value == expected[i].new_value);
    }
}

/// Minimal RFC 4180 reader: rows of fields.
std::vector<std::vector<std::string>> parse_csv(const std::string& text) {
    std::vector<std::vector<std::string>> rows;
    std::vector<std::string> row;
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
            row.push_back(std::move(field));
            field.clear();
        } else if (ch == '\r' && i + 1 < text.size() && text[i + 1] == '\n') {
            row.push_back(std::move(field));
            field.clear();
            rows.push_back(std::move(row));
            row.clear();
            ++i;
        } else {
            field += ch;
        }
    }
    return rows;
}

} // namespace

TEST_SUITE("diff") {
    TEST_CASE("ISTAT 2020 list against itself: no differences, 456 unchanged") {
        auto xml = test::read_file(test::bundled_catalog());
        auto d = diff_of(xml, xml);
        CHECK(d.empty());
        CHECK(d.unchanged == 456);
        CHECK(d.old_side.total == 456);
        CHECK(d.new_side.total == 456);
        CHECK(d.old_side.prepared == k_prepared_2020);
    }

    TEST_CASE("ISTAT 2020 variants: added, removed and every kind of change, field by field") {
        Variants v;
        auto d = diff_of(v.old_xml, v.new_xml);
        CHECK(d.old_side.prepared == k_prepared_2020);
        CHECK(d.new_side.prepared == "2020-06-01T08:00:00Z");
        CHECK(d.old_side.total == 456);
        CHECK(d.new_side.total == 456);

        REQUIRE(d.added.size() == 1);
        CHECK(d.added[0].agency == "IT1");
        CHECK(d.added[0].id == "DF_NEW_1");
        CHECK(d.added[0].version == "1.0");
        CHECK(d.added[0].name == "Occupati per settore");
        CHECK(d.added[0].category == "lavoro");
        CHECK(d.added[0].score == 8);

        REQUIRE(d.removed.size() == 1);
        CHECK(d.removed[0].agency == "IT1");
        CHECK(d.removed[0].id == "101_1033");
        CHECK(d.removed[0].version == "1.0");
        CHECK(d.removed[0].name == "Macellazioni");
        CHECK(d.removed[0].category == "altri");
        CHECK(d.removed[0].score == 0);

        // In the new catalogue's order; 22_289 (whitespace-only renames) is not among them.
        std::vector<std::string> ids;
        for (const auto& c : d.changed) {
            ids.push_back(c.id);
            CHECK(c.agency == "IT1");
        }
        CHECK(ids == std::vector<std::string>{"101_1015", "101_1030", "101_1039", "161_81",
                                              "24_186", "27_945", "29_316"});
        CHECK(d.unchanged == 456 - 1 - 7);

        const auto& final_flip = changed(d, "101_1015");
        CHECK(final_flip.name == "Coltivazioni");
        CHECK(final_flip.category == "altri");
        check_changes(final_flip, {{"is_final", "false", "true"}});

        const auto& renamed = changed(d, "101_1030");
        CHECK(renamed.name == "Prodotti agroalimentari \"DOP, IGP\" e STG");
        CHECK(renamed.category == "altri");
        check_changes(renamed, {{"name.it", "Prodotti agroalimentari di qualità DOP/IGP e STG",
                                 "Prodotti agroalimentari \"DOP, IGP\" e STG"}});

        const auto& reversioned = changed(d, "101_1039");
        CHECK(reversioned.name == "Agriturismo - comuni");
        check_changes(reversioned, {{"version", "1.0", "1.1"}});

        check_changes(changed(d, "161_81"),
                      {{"last_update", "2020-03-01T09:00:00Z", "2020-05-02T08:30:00Z"}});

        const auto& recategorised = changed(d, "24_186");
        CHECK(recategorised.name == "Nozze");
        CHECK(recategorised.category == "altri");
        CHECK(recategorised.score == 0);
        check_changes(recategorised,
                      {{"name.it", "Matrimoni", "Nozze"}, {"category", "popolazione", "altri"}});

        const auto& restructured = changed(d, "27_945");
        CHECK(restructured.name == "Divorzi -  Caratteristiche e figli minori affidati");
        CHECK(restructured.category == "popolazione");
        CHECK(restructured.score == 10);
        check_changes(restructured,
                      {{"name.en", "", "Divorces"},
                       {"structure", "IT1:DCIS_DIVFIG1(1.1)", "IT1:DCIS_DIVFIG1(1.2)"}});

        check_changes(changed(d, "29_316"), {{"hidden", "false", "true"}});
    }

    TEST_CASE("the reverse diff swaps added and removed and old and new values") {
        Variants v;
        auto d = diff_of(v.new_xml, v.old_xml);
        REQUIRE(d.added.size() == 1);
        CHECK(d.added[0].id == "101_1033");
        REQUIRE(d.removed.size() == 1);
        CHECK(d.removed[0].id == "DF_NEW_1");
        check_changes(changed(d, "101_1039"), {{"version", "1.1", "1.0"}});
        CHECK(changed(d, "24_186").category == "popolazione");
    }

    TEST_CASE("a dataflow listed twice counts once: the first entry") {
        auto xml = test::read_file(test::bundled_catalog());
        std::string dup = xml;
        auto start = dup.find("<structure:Dataflow id=\"101_1015\"");
        auto end = dup.find("</structure:Dataflow>", start) + 21;
        std::string copy = dup.substr(start, end - start);
        replace_once(copy, "version=\"1.2\"", "version=\"9.9\"");
        replace_once(dup, "</structure:Dataflows>", copy + "</structure:Dataflows>");
        auto d = diff_of(xml, dup);
        CHECK(d.empty());
        CHECK(d.unchanged == 456);
        CHECK(d.new_side.total == 456);
        // Both sides listing it twice: still one.
        auto twice = diff_of(dup, dup);
        CHECK(twice.empty());
        CHECK(twice.unchanged == 456);
    }

    TEST_CASE("dataflows are matched by agency and id together") {
        auto xml = test::read_file(test::bundled_catalog());
        std::string other = xml;
        edit_flow(other, "101_1015", [](std::string& b) {
            replace_once(b, "agencyID=\"IT1\" version", "agencyID=\"IT2\" version");
        });
        auto d = diff_of(xml, other);
        REQUIRE(d.added.size() == 1);
        CHECK(d.added[0].agency == "IT2");
        CHECK(d.added[0].id == "101_1015");
        REQUIRE(d.removed.size() == 1);
        CHECK(d.removed[0].agency == "IT1");
        CHECK(d.removed[0].id == "101_1015");
        CHECK(d.changed.empty());
        CHECK(d.unchanged == 455);
    }

    TEST_CASE("category and min-score filters keep what either side passes, count all unchanged") {
        Variants v;
        DiffOptions o;
        o.categories = {"popolazione"};
        auto d = diff_of(v.old_xml, v.new_xml, o);
        CHECK(d.added.empty());   // lavoro
        CHECK(d.removed.empty()); // altri
        std::vector<std::string> ids;
        for (const auto& c : d.changed) {
            ids.push_back(c.id);
        }
        // 24_186 was popolazione and is altri now: the old side passes.
        CHECK(ids == std::vector<std::string>{"24_186", "27_945", "29_316"});
        CHECK(d.unchanged == 448);

        DiffOptions scored;
        scored.min_score = 5;
        auto s = diff_of(v.old_xml, v.new_xml, scored);
        REQUIRE(s.added.size() == 1); // score 8
        CHECK(s.added[0].id == "DF_NEW_1");
        CHECK(s.removed.empty()); // score 0
        ids.clear();
        for (const auto& c : s.changed) {
            ids.push_back(c.id);
        }
        CHECK(ids == std::vector<std::string>{"24_186", "27_945", "29_316"}); // score 10
        CHECK(s.unchanged == 448);
        scored.min_score = 11;
        auto none = diff_of(v.old_xml, v.new_xml, scored);
        CHECK(none.empty());
        CHECK(none.unchanged == 448);
    }

    TEST_CASE("an unknown category is a usage error naming the valid ones") {
        auto xml = test::read_file(test::bundled_catalog());
        DiffOptions o;
        o.categories = {"sport"};
        try {
            diff_of(xml, xml, o);
            FAIL("expected a UsageError");
        } catch (const UsageError& e) {
            CHECK(std::string(e.what()).find("valid categories: popolazione") != std::string::npos);
        }
    }

    TEST_CASE("structure given only as a URN is compared as the URN, absent texts as empty") {
        sdmx::Catalog a;
        sdmx::Dataflow f;
        f.agency_id = "ESTAT";
        f.id = "une_rt_m";
        f.version = "1.0";
        f.structure.urn = "urn:x";
        f.descriptions = {{"", "Serie mensili"}};
        a.dataflows.push_back(f);
        sdmx::Catalog b = a;
        b.dataflows[0].structure.urn = "urn:y";
        b.dataflows[0].descriptions.clear();
        b.dataflows[0].last_update = "2024-01-02T03:04:05Z";
        b.dataflows[0].non_production = true;
        b.dataflows[0].file_only = true;
        auto d = diff_catalogs(a, b, categorizer(), {});
        REQUIRE(d.changed.size() == 1);
        CHECK(d.changed[0].name == "une_rt_m");
        check_changes(d.changed[0], {{"description.und", "Serie mensili", ""},
                                     {"structure", "urn:x", "urn:y"},
                                     {"last_update", "", "2024-01-02T03:04:05Z"},
                                     {"non_production", "false", "true"},
                                     {"file_only", "false", "true"}});
    }

    TEST_CASE("JSON: the documented shape, parsed back") {
        Variants v;
        auto d = diff_of(v.old_xml, v.new_xml);
        d.old_side.source = "old.xml";
        d.new_side.source = "https://example.org/rest/dataflow/IT1";
        auto j = nlohmann::json::parse(render_diff_json(d));
        CHECK(
            j["old"] ==
            nlohmann::json({{"source", "old.xml"}, {"prepared", k_prepared_2020}, {"total", 456}}));
        CHECK(j["new"]["source"] == "https://example.org/rest/dataflow/IT1");
        CHECK(j["new"]["prepared"] == "2020-06-01T08:00:00Z");
        CHECK(j["summary"] ==
              nlohmann::json({{"added", 1}, {"removed", 1}, {"changed", 7}, {"unchanged", 448}}));
        CHECK(j["added"][0] == nlohmann::json({{"agency", "IT1"},
                                               {"id", "DF_NEW_1"},
                                               {"version", "1.0"},
                                               {"name", "Occupati per settore"},
                                               {"category", "lavoro"},
                                               {"score", 8}}));
        CHECK(j["removed"][0]["id"] == "101_1033");
        REQUIRE(j["changed"].size() == 7);
        const auto& c = j["changed"][4];
        CHECK(c["id"] == "24_186");
        CHECK(c["name"] == "Nozze");
        CHECK(c["category"] == "altri");
        CHECK(c["changes"] ==
              nlohmann::json::parse(R"([{"field": "name.it", "old": "Matrimoni", "new": "Nozze"},
                 {"field": "category", "old": "popolazione", "new": "altri"}])"));
    }

    TEST_CASE("write_diff_entries writes only the three arrays into the open object") {
        Variants v;
        auto d = diff_of(v.old_xml, v.new_xml);
        std::string out;
        util::JsonWriter w(out);
        w.begin_object();
        w.field("seq", 7);
        write_diff_entries(w, d);
        w.end_object();
        auto j = nlohmann::json::parse(out);
        std::vector<std::string> keys;
        for (const auto& [k, val] : j.items()) {
            keys.push_back(k);
        }
        CHECK(keys == std::vector<std::string>{"added", "changed", "removed", "seq"});
        CHECK(j["changed"].size() == 7);
    }

    TEST_CASE("CSV: RFC 4180, one row per change, quotes doubled") {
        Variants v;
        auto d = diff_of(v.old_xml, v.new_xml);
        auto text = render_diff_csv(d);
        CHECK(text.find("\"Prodotti agroalimentari \"\"DOP, IGP\"\" e STG\"") != std::string::npos);
        auto rows = parse_csv(text);
        REQUIRE(rows.size() == 1 + 1 + 1 + 9); // header, added, removed, 9 changes
        CHECK(rows[0] == std::vector<std::string>{"kind", "agency", "id", "field", "old", "new",
                                                  "name", "category"});
        CHECK(rows[1] == std::vector<std::string>{"added", "IT1", "DF_NEW_1", "version", "", "1.0",
                                                  "Occupati per settore", "lavoro"});
        CHECK(rows[2] == std::vector<std::string>{"removed", "IT1", "101_1033", "version", "1.0",
                                                  "", "Macellazioni", "altri"});
        CHECK(rows[4] ==
              std::vector<std::string>{"changed", "IT1", "101_1030", "name.it",
                                       "Prodotti agroalimentari di qualità DOP/IGP e STG",
                                       "Prodotti agroalimentari \"DOP, IGP\" e STG",
                                       "Prodotti agroalimentari \"DOP, IGP\" e STG", "altri"});
        for (const auto& r : rows) {
            CHECK(r.size() == 8);
        }
    }

    TEST_CASE("table: grouped by kind, plain without colour, ANSI with it") {
        Variants v;
        auto d = diff_of(v.old_xml, v.new_xml);
        d.old_side.source = "old.xml";
        d.new_side.source = "new.xml";
        auto plain = render_diff_table(d, {100, false});
        CHECK(plain.find('\x1b') == std::string::npos);
        auto added = plain.find("Added (1)\n");
        auto removed = plain.find("Removed (1)\n");
        auto changes = plain.find("Changed (7)\n");
        REQUIRE(added != std::string::npos);
        REQUIRE(removed != std::string::npos);
        REQUIRE(changes != std::string::npos);
        CHECK(added < removed);
        CHECK(removed < changes);
        CHECK(plain.find("DF_NEW_1") > added);
        CHECK(plain.find("1.0 -> 1.1") != std::string::npos);
        CHECK(plain.find("Divorzi - Caratteristiche") != std::string::npos); // one line, spaces
        CHECK(plain.find("(none) -> Divorces") != std::string::npos);
        CHECK(plain.find("456 -> 456 dataflows: 1 added, 1 removed, 7 changed, 448 unchanged.") !=
              std::string::npos);
        for (std::size_t at = 0, next = 0; at < plain.size(); at = next + 1) {
            next = plain.find('\n', at);
            CHECK(plain.substr(at, next - at).size() <= 110); // names cut to the width
        }
        auto coloured = render_diff_table(d, {100, true});
        CHECK(coloured.find("\x1b[32m+\x1b[0m") != std::string::npos);
        CHECK(coloured.find("\x1b[31m-\x1b[0m") != std::string::npos);
    }

    TEST_CASE("summary: sides, counts, kinds of change") {
        Variants v;
        auto d = diff_of(v.old_xml, v.new_xml);
        d.old_side.source = "old.xml";
        d.new_side.source = "new.xml";
        auto s = render_diff_summary(d);
        CHECK(s.find("Old: old.xml (456 dataflows, prepared " + k_prepared_2020 + ")") !=
              std::string::npos);
        CHECK(s.find("Added: 1\nRemoved: 1\n") != std::string::npos);
        CHECK(s.find("Changed: 7 (version 1, name 3, structure 1, is_final 1, last_update 1, "
                     "hidden 1, category 1)") != std::string::npos);
        CHECK(s.find("Unchanged: 448") != std::string::npos);
    }
}

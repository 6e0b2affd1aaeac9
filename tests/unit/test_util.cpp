#include "util/error.hpp"
#include "util/json_writer.hpp"
#include "util/time.hpp"
#include "util/utf8.hpp"

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

using namespace dataflow;
using namespace dataflow::util;

TEST_SUITE("util") {
    TEST_CASE("find_invalid_utf8 reports the offset of the first bad byte") {
        CHECK_FALSE(find_invalid_utf8("plain ascii, long enough for the fast path").has_value());
        CHECK_FALSE(find_invalid_utf8("Mortalità e natalità — ok").has_value());
        CHECK(find_invalid_utf8("caf\xE9 au lait") == 3u);           // Latin-1 é
        CHECK(find_invalid_utf8("0123456789abcdef\xC0\xAF") == 16u); // overlong '/'
        CHECK(find_invalid_utf8("ab\xED\xA0\x80") == 2u);            // surrogate
        CHECK(find_invalid_utf8("ab\xF4\x90\x80\x80") == 2u);        // > U+10FFFF
        CHECK(find_invalid_utf8("ab\xE2\x82") == 2u);                // truncated
        CHECK_FALSE(find_invalid_utf8("\xF0\x9F\x98\x80 emoji").has_value());
    }

    TEST_CASE("to_lower is Unicode-aware like Python's str.lower") {
        CHECK(to_lower("MORTALITÀ") == "mortalità");
        CHECK(to_lower("ÉCONOMIE Générale") == "économie générale");
        CHECK(to_lower("ΑΘΗΝΑ") == "αθηνα");
        CHECK(to_lower("МОСКВА") == "москва");
        CHECK(to_lower("İstanbul") == "i\xCC\x87stanbul"); // U+0130 -> i + combining dot
        CHECK(to_lower("ＡＢＣ") == "ａｂｃ");
        CHECK(to_lower("日本 123") == "日本 123");
    }

    TEST_CASE("display width counts columns, not bytes") {
        CHECK(display_width("abc") == 3);
        CHECK(display_width("città") == 5);
        CHECK(display_width("日本") == 4);
        CHECK(display_width("e\xCC\x81") == 1); // e + combining acute
    }

    TEST_CASE("truncate_to_width cuts with an ellipsis and never splits a character") {
        CHECK(truncate_to_width("short", 10) == "short");
        CHECK(truncate_to_width("Popolazione residente", 10) == "Popolazio…");
        CHECK(display_width(truncate_to_width("Popolazione residente", 10)) == 10);
        CHECK(truncate_to_width("àààààà", 4) == "ààà…");
        CHECK(truncate_to_width("日本語テキスト", 5) == "日本…");
        CHECK(truncate_to_width("abc", 0).empty());
    }

    TEST_CASE("position_of gives 1-based line and code-point column") {
        std::string_view text = "ab\ncà\nxyz";
        CHECK(position_of(text, 0).line == 1);
        CHECK(position_of(text, 0).column == 1);
        auto p = position_of(text, 7); // the 'x' after "cà\n" (à is 2 bytes)
        CHECK(p.line == 3);
        CHECK(p.column == 1);
        auto q = position_of(text, 6); // the '\n' after "cà"
        CHECK(q.line == 2);
        CHECK(q.column == 3);
    }

    TEST_CASE("JSON strings are always valid JSON, whatever they contain") {
        std::string out;
        append_json_string(out, std::string_view("q\"b\\s\n\t\x01 é \xFF end"));
        auto parsed = nlohmann::json::parse(out);
        CHECK(parsed.get<std::string>() == "q\"b\\s\n\t\x01 é \xEF\xBF\xBD end");
        CHECK(out.find("\\u0001") != std::string::npos);
    }

    TEST_CASE("JsonWriter writes nested documents that parse back") {
        std::string out;
        JsonWriter w(out, 2);
        w.begin_object();
        w.field("n", 3);
        w.field("x", 0.5133333333333333);
        w.field("whole", 40.0);
        w.field("s", "a\"b");
        w.key("empty").begin_array().end_array();
        w.key("list").begin_array().value(1).value(true).null().end_array();
        w.key("obj").begin_object().field("k", std::optional<std::string>{}).end_object();
        w.end_object();
        auto j = nlohmann::json::parse(out);
        CHECK(j["n"] == 3);
        CHECK(j["x"].get<double>() == doctest::Approx(0.5133333333333333).epsilon(1e-15));
        CHECK(j["whole"].is_number_float());
        CHECK(j["s"] == "a\"b");
        CHECK(j["empty"].empty());
        CHECK(j["list"].size() == 3);
        CHECK(j["obj"]["k"].is_null());
    }

    TEST_CASE("timestamps in both ISTAT forms become UTC RFC 3339") {
        auto a = parse_timestamp("2025-11-14T16:15:51.591Z");
        REQUIRE(a);
        CHECK(format_rfc3339(*a) == "2025-11-14T16:15:51.591Z");
        auto b = parse_timestamp("14/11/2025 16:15:51");
        REQUIRE(b);
        CHECK(format_rfc3339(*b) == "2025-11-14T16:15:51Z");
        auto c = parse_timestamp("2026-05-18T10:20:30.7006994+02:00");
        REQUIRE(c);
        CHECK(format_rfc3339(*c) == "2026-05-18T08:20:30.700Z");
        auto d = parse_timestamp("2020-01-01");
        REQUIRE(d);
        CHECK(format_rfc3339(*d) == "2020-01-01T00:00:00Z");
        auto m = parse_timestamp("03/18/2024 14:26:38", DateOrder::month_first);
        REQUIRE(m);
        CHECK(format_rfc3339(*m) == "2024-03-18T14:26:38Z");
        CHECK_FALSE(parse_timestamp("03/18/2024 14:26:38"));  // day 03, month 18: invalid
        CHECK_FALSE(parse_timestamp("2025-02-30T00:00:00Z")); // no such day
        CHECK_FALSE(parse_timestamp("yesterday"));
        CHECK_FALSE(parse_timestamp("2025-11-14T16:15:51Zjunk"));
    }

    TEST_CASE("slash date order is detected per catalogue") {
        CHECK(detect_date_order({"14/11/2025 16:15:51", "01/02/2020"}) == DateOrder::day_first);
        CHECK(detect_date_order({"03/18/2024 14:26:38", "03/01/2022"}) == DateOrder::month_first);
        CHECK(detect_date_order({"01/02/2020"}) == DateOrder::day_first);
        CHECK(detect_date_order({"2025-11-14T16:15:51Z"}) == DateOrder::day_first);
    }

    TEST_CASE("one table maps error kinds to exit codes and HTTP statuses") {
        CHECK(InputError("x").info().exit_code == ExitCode::failure);
        CHECK(InputError("x").info().http_status == 400);
        CHECK(UsageError("x").info().exit_code == ExitCode::usage);
        CHECK(ConfigError("x").info().exit_code == ExitCode::config);
        CHECK(error_info(ErrorKind::unavailable).exit_code == ExitCode::unavailable);
        CHECK(error_info(ErrorKind::rate_limited).exit_code == ExitCode::rate_limited);
        CHECK(error_info(ErrorKind::rate_limited).http_status == 429);
    }
}

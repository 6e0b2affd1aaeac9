// The JSON bodies of the analysis endpoints: depth limit before parsing, and the depth pre-scan
// shared with the SDMX-JSON reader.

#include "service/requests.hpp"
#include "util/error.hpp"
#include "util/json_depth.hpp"

#include <doctest/doctest.h>

#include <string>

using namespace dataflow;
using service::k_max_body_depth;

namespace {

/// The message of the UsageError `f` throws ("" if it throws none).
template <typename F>
std::string usage_error_of(F&& f) {
    try {
        f();
    } catch (const UsageError& e) {
        return e.what();
    }
    return {};
}

bool has(const std::string& haystack, const std::string& needle) {
    return haystack.find(needle) != std::string::npos;
}

/// `{"a":{"a":...1...}}`, `levels` objects deep: valid JSON.
std::string object_chain(std::size_t levels) {
    std::string s;
    for (std::size_t i = 0; i < levels; ++i) {
        s += "{\"a\":";
    }
    s += "1";
    s.append(levels, '}');
    return s;
}

const std::string k_xml = "<Structure/>";

} // namespace

TEST_SUITE("requests") {
    TEST_CASE("json depth: a linear scan finds the first bracket beyond the limit") {
        CHECK_FALSE(util::json_depth_exceeds("", 0));
        CHECK_FALSE(util::json_depth_exceeds("[[]]", 2));
        CHECK(util::json_depth_exceeded_at("[[]]", 1) == std::size_t{1});
        CHECK(util::json_depth_exceeded_at("{\"a\":[{}]}", 2) == std::size_t{6});
        // Brackets inside strings, escaped quotes included, do not count.
        CHECK_FALSE(util::json_depth_exceeds(R"({"a":"[[[{{{\"[[["})", 1));
        // Closers without openers never make the depth negative.
        CHECK(util::json_depth_exceeded_at("]]]][[", 1) == std::size_t{5});
        std::string deep(1'000'000, '[');
        CHECK(util::json_depth_exceeded_at(deep, 64) == std::size_t{64});
    }

    TEST_CASE(
        "analysis body: 100000 nested open brackets are a UsageError naming the depth limit") {
        std::string body(100'000, '[');
        auto message = usage_error_of([&] { service::parse_analysis_body(body); });
        CHECK(has(message, "nested deeper than 64 levels"));
        CHECK(k_max_body_depth == 64);
    }

    TEST_CASE("analysis body: a valid 100000-deep object chain is refused for its depth") {
        // Valid JSON, so without the limit it would be parsed (and built) in full.
        auto body = object_chain(100'000);
        auto message = usage_error_of([&] { service::parse_analysis_body(body); });
        CHECK(has(message, "nested deeper than 64 levels"));
        std::string with_fields =
            R"({"xml_content":")" + k_xml + R"(","extra":)" + object_chain(100'000) + "}";
        CHECK(has(usage_error_of([&] { service::parse_analysis_body(with_fields); }),
                  "nested deeper than 64 levels"));
    }

    TEST_CASE("bulk body: deep arrays and object chains are refused for their depth") {
        std::string arrays = R"({"dataflow_ids":)" + std::string(100'000, '[') + "\"A\"" +
                             std::string(100'000, ']') + "}";
        CHECK(has(usage_error_of([&] { service::parse_bulk_body(arrays); }),
                  "nested deeper than 64 levels"));
        CHECK(has(usage_error_of([&] { service::parse_bulk_body(object_chain(100'000)); }),
                  "nested deeper than 64 levels"));
    }

    TEST_CASE("bodies at the depth limit, and brackets inside strings, are parsed as before") {
        // 64 levels: the body object and 63 more in an unknown field (ignored).
        std::string at_limit = R"({"xml_content":")" + k_xml + R"(","extra":)" +
                               object_chain(k_max_body_depth - 1) + "}";
        auto parsed = service::parse_analysis_body(at_limit);
        CHECK(parsed.xml_content == k_xml);
        std::string over_limit =
            R"({"xml_content":")" + k_xml + R"(","extra":)" + object_chain(k_max_body_depth) + "}";
        CHECK(has(usage_error_of([&] { service::parse_analysis_body(over_limit); }),
                  "nested deeper than 64 levels"));
        // An SDMX document full of brackets is a string, not nesting.
        std::string brackets(10'000, '[');
        auto in_string = service::parse_analysis_body(R"({"xml_content":")" + brackets + "\"}");
        CHECK(in_string.xml_content == brackets);
        auto bulk = service::parse_bulk_body(R"({"dataflow_ids":["22_289","DCIS_POPRES1"]})");
        CHECK(bulk.ids == std::vector<std::string>{"22_289", "DCIS_POPRES1"});
        // The other errors are unchanged.
        CHECK(has(usage_error_of([] { service::parse_analysis_body("[1]"); }),
                  "the body is a JSON array, not an object"));
    }
}

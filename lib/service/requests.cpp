#include "service/requests.hpp"

#include "util/error.hpp"
#include "util/json_depth.hpp"
#include "util/strings.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdint>

namespace dataflow::service {

namespace {

UsageError field_error(std::string_view name, std::string_view what) {
    return UsageError(fmt::format("{}: must be {}", name, what));
}

/// Why a body that must be a JSON object is not one: empty, not JSON at all, or JSON of another
/// type. `parsed` is `text` parsed without exceptions.
std::string not_an_object(std::string_view text, const nlohmann::json& parsed) {
    if (util::trim(text, util::k_space_tab_crlf).empty()) {
        return "the body is empty";
    }
    if (parsed.is_discarded()) {
        try {
            auto again = nlohmann::json::parse(text); // throws, saying where
            static_cast<void>(again);
        } catch (const nlohmann::json::parse_error& e) {
            return fmt::format("the body is not valid JSON (syntax error at byte {})", e.byte);
        } catch (const nlohmann::json::exception&) {
            // A number beyond double's range: not a parse_error.
        }
        return "the body is not valid JSON";
    }
    return fmt::format("the body is a JSON {}, not an object", parsed.type_name());
}

/// Parses `text` without exceptions, after refusing a body nested deeper than k_max_body_depth.
nlohmann::json parse_body(std::string_view text) {
    if (util::json_depth_exceeds(text, k_max_body_depth)) {
        throw UsageError(fmt::format("the body is JSON nested deeper than {} levels; request "
                                     "bodies are flat JSON objects",
                                     k_max_body_depth));
    }
    return nlohmann::json::parse(text, nullptr, false);
}

bool present(const nlohmann::json& body, const char* name) {
    auto it = body.find(name);
    return it != body.end() && !it->is_null();
}

} // namespace

AnalysisBody parse_analysis_body(std::string_view text) {
    auto body = parse_body(text);
    if (body.is_discarded() || !body.is_object()) {
        throw UsageError(fmt::format(
            "{}; it must be a JSON object (xml_content, categories, min_relevance_score, "
            "max_results, include_tests, only_tableau_ready)",
            not_an_object(text, body)));
    }
    AnalysisBody out;
    AnalysisRequest& a = out.request;
    if (present(body, "categories")) {
        const auto& categories = body["categories"];
        if (!categories.is_array()) {
            throw field_error("categories", "a list of category names");
        }
        for (const auto& cat : categories) {
            if (!cat.is_string()) {
                throw field_error("categories", "a list of category names");
            }
            a.categories.push_back(cat.get<std::string>());
        }
    }
    if (body.contains("min_relevance_score")) {
        if (!body["min_relevance_score"].is_number_integer()) {
            throw field_error("min_relevance_score", "an integer");
        }
        // Unsigned values beyond INT64_MAX read as int64 wrap; clamp from the unsigned side.
        const auto& v = body["min_relevance_score"];
        std::int64_t n = v.is_number_unsigned() ? static_cast<std::int64_t>(std::min<std::uint64_t>(
                                                      v.get<std::uint64_t>(), 1'000'000'000))
                                                : v.get<std::int64_t>();
        a.min_score = static_cast<int>(std::clamp<std::int64_t>(n, -1'000'000'000, 1'000'000'000));
    }
    if (body.contains("max_results")) {
        if (!body["max_results"].is_number_integer()) {
            throw field_error("max_results", "an integer");
        }
        const auto& v = body["max_results"];
        std::int64_t n =
            v.is_number_unsigned()
                ? static_cast<std::int64_t>(std::min<std::uint64_t>(v.get<std::uint64_t>(), 1000))
                : v.get<std::int64_t>();
        a.max_results = static_cast<int>(std::clamp<std::int64_t>(n, 1, 1000));
    }
    for (auto [name, target] : {std::pair{"include_tests", &a.include_tests},
                                std::pair{"only_tableau_ready", &a.only_ready}}) {
        if (body.contains(name)) {
            if (!body[name].is_boolean()) {
                throw field_error(name, "true or false");
            }
            *target = body[name].get<bool>();
        }
    }
    bool has_xml = present(body, "xml_content");
    bool has_path = present(body, "xml_file_path");
    if (has_xml == has_path) {
        throw UsageError("give exactly one of xml_content (the SDMX dataflow list) and "
                         "xml_file_path");
    }
    if (has_xml) {
        if (!body["xml_content"].is_string()) {
            throw field_error("xml_content", "a string holding the SDMX document");
        }
        out.xml_content = body["xml_content"].get<std::string>();
    } else {
        if (!body["xml_file_path"].is_string()) {
            throw field_error("xml_file_path", "a string");
        }
        out.xml_file_path = body["xml_file_path"].get<std::string>();
    }
    return out;
}

BulkBody parse_bulk_body(std::string_view text) {
    auto body = parse_body(text);
    if (body.is_discarded() || !body.is_object()) {
        throw UsageError(
            fmt::format("{}; it must be a JSON object with dataflow_ids (a list of 1 to 50 ids)",
                        not_an_object(text, body)));
    }
    if (!present(body, "dataflow_ids")) {
        throw UsageError("dataflow_ids: missing; the body must be a JSON object with "
                         "dataflow_ids (a list of 1 to 50 ids)");
    }
    if (!body["dataflow_ids"].is_array()) {
        throw field_error("dataflow_ids", "a list of 1 to 50 ids");
    }
    const auto& ids = body["dataflow_ids"];
    if (ids.empty() || ids.size() > 50) {
        throw UsageError(fmt::format("dataflow_ids: {} ids; give 1 to 50 per request", ids.size()));
    }
    BulkBody out;
    if (body.contains("include_tests")) {
        if (!body["include_tests"].is_boolean()) {
            throw UsageError("include_tests: must be true or false");
        }
        out.include_tests = body["include_tests"].get<bool>();
    }
    if (present(body, "max_concurrent") && !body["max_concurrent"].is_number_integer()) {
        // Accepted for compatibility with the reference (which clamped it to 1..10); probes
        // run in the background within the upstream budget, so its value changes nothing.
        throw field_error("max_concurrent", "an integer");
    }
    for (const auto& id : ids) {
        if (!id.is_string() || !util::is_sdmx_id(id.get<std::string>())) {
            throw UsageError("dataflow_ids: every id must be an SDMX identifier (letters, "
                             "digits, _ @ $ -)");
        }
        out.ids.push_back(id.get<std::string>());
    }
    return out;
}

} // namespace dataflow::service

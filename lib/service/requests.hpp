#pragma once
/// The JSON bodies of the analysis endpoints, parsed and checked field by field. Anything wrong
/// is a UsageError naming the field (a 400), never another exception: the fuzz target
/// tests/fuzz/fuzz_request_body.cpp holds these functions to that. A body nested deeper than
/// k_max_body_depth levels is a UsageError naming the limit.

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace dataflow::service {

/// Deepest nesting of objects and arrays a request body may have. The bodies are flat objects
/// (two levels); the limit is found by a linear pre-scan (util::json_depth_exceeded_at), so a
/// body of 100,000 `[` is refused before any parser builds or recurses through it.
inline constexpr std::size_t k_max_body_depth = 64;

/// Filters shared by the analysis endpoints (reference field names in the comments).
struct AnalysisRequest {
    std::vector<std::string> categories; ///< categories
    int min_score = 0;                   ///< min_relevance_score
    int max_results = 100;               ///< max_results, clamped to 1..1000
    bool include_tests = true;           ///< include_tests
    bool only_ready = false;             ///< only_tableau_ready
};

/// POST /api/analysis/dataflow: the filters and exactly one of the document or a file path.
struct AnalysisBody {
    AnalysisRequest request;
    std::optional<std::string> xml_content;
    std::optional<std::string> xml_file_path;
};
AnalysisBody parse_analysis_body(std::string_view body);

/// POST /api/analysis/dataflow/bulk: 1 to 50 SDMX identifiers.
struct BulkBody {
    std::vector<std::string> ids;
    bool include_tests = true;
};
BulkBody parse_bulk_body(std::string_view body);

} // namespace dataflow::service

// libFuzzer target: the JSON bodies of POST /api/analysis/dataflow and .../bulk. Anything wrong
// must be a UsageError (a 400 naming the field), never another exception; a body nested deeper
// than k_max_body_depth is never accepted.
#include "service/requests.hpp"
#include "util/error.hpp"
#include "util/json_depth.hpp"

#include <cstddef>
#include <cstdint>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::string_view body(reinterpret_cast<const char*>(data), size);
    const bool too_deep =
        dataflow::util::json_depth_exceeds(body, dataflow::service::k_max_body_depth);
    try {
        auto parsed = dataflow::service::parse_analysis_body(body);
        if (too_deep || parsed.xml_content.has_value() == parsed.xml_file_path.has_value() ||
            parsed.request.max_results < 1 || parsed.request.max_results > 1000) {
            __builtin_trap();
        }
    } catch (const dataflow::UsageError&) {
    }
    try {
        auto parsed = dataflow::service::parse_bulk_body(body);
        if (too_deep || parsed.ids.empty() || parsed.ids.size() > 50) {
            __builtin_trap();
        }
    } catch (const dataflow::UsageError&) {
    }
    return 0;
}

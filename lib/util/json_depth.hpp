#pragma once
/// A linear pre-scan of JSON text for its nesting depth, shared by the readers of untrusted JSON
/// (SDMX-JSON documents, request bodies): a document nested deeper than its reader accepts is
/// refused in one pass, without recursion, before a parser builds it.

#include <cstddef>
#include <optional>
#include <string_view>

namespace dataflow::util {

/// The byte offset of the first `{` or `[` (outside strings) that opens level `max_depth + 1`,
/// or nullopt when `text` never nests deeper than `max_depth`. Any bytes are accepted: whether
/// the text is valid JSON is left to the parser.
std::optional<std::size_t> json_depth_exceeded_at(std::string_view text,
                                                  std::size_t max_depth) noexcept;

/// True when `text` nests objects and arrays deeper than `max_depth` levels.
inline bool json_depth_exceeds(std::string_view text, std::size_t max_depth) noexcept {
    return json_depth_exceeded_at(text, max_depth).has_value();
}

} // namespace dataflow::util

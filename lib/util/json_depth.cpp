#include "util/json_depth.hpp"

#include <cstring>

namespace dataflow::util {

std::optional<std::size_t> json_depth_exceeded_at(std::string_view text,
                                                  std::size_t max_depth) noexcept {
    std::size_t depth = 0;
    bool in_string = false;
    for (std::size_t i = 0; i < text.size(); ++i) {
        char c = text[i];
        if (in_string) {
            // Strings are most of a request body (a whole catalogue in xml_content): jump to
            // the next quote or backslash with memchr rather than look at every byte.
            const char* p = text.data() + i;
            std::size_t left = text.size() - i;
            const auto* quote = static_cast<const char*>(std::memchr(p, '"', left));
            std::size_t span = quote != nullptr ? static_cast<std::size_t>(quote - p) : left;
            const auto* escape = static_cast<const char*>(std::memchr(p, '\\', span));
            if (escape != nullptr) {
                i += static_cast<std::size_t>(escape - p) + 1; // the escaped character too
            } else if (quote != nullptr) {
                i += span;
                in_string = false;
            } else {
                return std::nullopt; // an unterminated string: no more structure
            }
            continue;
        }
        if (c == '"') {
            in_string = true;
        } else if (c == '{' || c == '[') {
            if (++depth > max_depth) {
                return i;
            }
        } else if (c == '}' || c == ']') {
            depth = depth > 0 ? depth - 1 : 0;
        }
    }
    return std::nullopt;
}

} // namespace dataflow::util

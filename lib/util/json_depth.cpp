#include "util/json_depth.hpp"

namespace dataflow::util {

std::optional<std::size_t> json_depth_exceeded_at(std::string_view text,
                                                  std::size_t max_depth) noexcept {
    std::size_t depth = 0;
    bool in_string = false;
    for (std::size_t i = 0; i < text.size(); ++i) {
        char c = text[i];
        if (in_string) {
            if (c == '\\') {
                ++i; // the escaped character, a quote included
            } else if (c == '"') {
                in_string = false;
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

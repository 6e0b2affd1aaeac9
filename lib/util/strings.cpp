#include "util/strings.hpp"

#include <algorithm>

namespace dataflow::util {

std::string ascii_lower(std::string_view text) {
    std::string out(text);
    for (char& c : out) {
        c = ascii_lower(c);
    }
    return out;
}

bool starts_with_ci(std::string_view text, std::string_view prefix) noexcept {
    return text.size() >= prefix.size() &&
           std::equal(prefix.begin(), prefix.end(), text.begin(),
                      [](char a, char b) { return ascii_lower(a) == ascii_lower(b); });
}

std::string_view trim(std::string_view text, std::string_view chars) noexcept {
    return trim_right(trim_left(text, chars), chars);
}

std::string_view trim_left(std::string_view text, std::string_view chars) noexcept {
    auto b = text.find_first_not_of(chars);
    return text.substr(b == std::string_view::npos ? text.size() : b);
}

std::string_view trim_right(std::string_view text, std::string_view chars) noexcept {
    auto e = text.find_last_not_of(chars);
    return text.substr(0, e == std::string_view::npos ? 0 : e + 1);
}

std::string collapse_ws(std::string_view text) {
    std::string out;
    bool space = false;
    for (char c : text) {
        if (k_space_tab_crlf.find(c) != std::string_view::npos) {
            space = !out.empty();
            continue;
        }
        if (space) {
            out += ' ';
            space = false;
        }
        out += c;
    }
    return out;
}

bool is_sdmx_id(std::string_view id) noexcept {
    return !id.empty() && id.size() <= 255 && std::all_of(id.begin(), id.end(), is_sdmx_id_char);
}

} // namespace dataflow::util

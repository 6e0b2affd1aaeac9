#pragma once
/// Small ASCII string helpers shared by every layer: case folding, trimming, whitespace
/// collapsing and the SDMX identifier check. Bytes >= 0x80 are never changed or matched as
/// letters or spaces (UTF-8 text passes through untouched; Unicode case is util/utf8's job).

#include <string>
#include <string_view>

namespace dataflow::util {

/// What std::isspace counts as space in the "C" locale: space, \t, \n, \v, \f, \r.
inline constexpr std::string_view k_ascii_space = " \t\n\v\f\r";
/// XML's and JSON's whitespace: space, tab, CR, LF (no vertical tab or form feed).
inline constexpr std::string_view k_space_tab_crlf = " \t\r\n";

/// 'A'-'Z' to 'a'-'z'; every other byte unchanged.
constexpr char ascii_lower(char c) noexcept {
    return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}
/// The text with 'A'-'Z' lowered; every other byte unchanged.
std::string ascii_lower(std::string_view text);
/// Whether `text` begins with `prefix`, ignoring ASCII case.
bool starts_with_ci(std::string_view text, std::string_view prefix) noexcept;

/// Strips leading and trailing characters of `chars` (by default ASCII whitespace).
std::string_view trim(std::string_view text, std::string_view chars = k_ascii_space) noexcept;
/// Strips leading characters of `chars`.
std::string_view trim_left(std::string_view text, std::string_view chars = k_ascii_space) noexcept;
/// Strips trailing characters of `chars`.
std::string_view trim_right(std::string_view text, std::string_view chars = k_ascii_space) noexcept;

/// One line of text: every run of space, tab, CR and LF becomes one space, and runs at either
/// end are dropped. Other bytes (\v, \f included) are kept as they are.
std::string collapse_ws(std::string_view text);

/// A character of an SDMX identifier: [A-Za-z0-9_@$-].
constexpr bool is_sdmx_id_char(char c) noexcept {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '@' || c == '$' || c == '-';
}
/// An SDMX identifier (agency, dataflow): 1 to 255 of [A-Za-z0-9_@$-].
bool is_sdmx_id(std::string_view id) noexcept;

} // namespace dataflow::util

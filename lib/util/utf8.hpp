#pragma once
/// UTF-8 helpers shared by the readers, the categoriser and the renderers: validation,
/// Unicode-aware lower-casing, terminal display width, positions in a text.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace dataflow::util {

/// Byte offset of the first byte that is not part of well-formed UTF-8 (overlong forms,
/// surrogates and code points above U+10FFFF are ill-formed), or nullopt when all is valid.
std::optional<std::size_t> find_invalid_utf8(std::string_view text) noexcept;

/// find_invalid_utf8() that also appends to `line_starts` the offset after every '\n' (complete
/// only when the text is valid): one pass over a large input instead of two.
std::optional<std::size_t> find_invalid_utf8(std::string_view text,
                                             std::vector<std::size_t>& line_starts);

/// Decodes one code point at `pos` of valid UTF-8 and advances `pos`.
char32_t decode_utf8(std::string_view text, std::size_t& pos) noexcept;

/// Appends the UTF-8 encoding of `cp`.
void append_utf8(std::string& out, char32_t cp);

/// Unicode lower-casing as Python's str.lower() does it for all scripts with case (simple
/// mappings plus the one unconditional special case, U+0130). Input must be valid UTF-8.
std::string to_lower(std::string_view text);

/// True when the code point that ends right before byte `pos` is a letter or a digit.
bool alnum_before(std::string_view text, std::size_t pos) noexcept;

/// Columns the text takes on a terminal: East Asian wide/fullwidth = 2, combining marks and
/// format characters = 0, everything else 1.
std::size_t display_width(std::string_view text) noexcept;

/// Cuts the text to at most `width` columns, ending it with "…" when anything was cut.
std::string truncate_to_width(std::string_view text, std::size_t width);

/// 1-based line and column (in code points) of a byte offset.
struct TextPosition {
    std::size_t line = 1;
    std::size_t column = 1;
};
TextPosition position_of(std::string_view text, std::size_t offset) noexcept;

/// Text safe to print on a terminal: tabs and line breaks become spaces, other control
/// characters (C0, DEL, C1 — escape sequences could rewrite the screen) become U+FFFD.
std::string printable(std::string_view text);

} // namespace dataflow::util

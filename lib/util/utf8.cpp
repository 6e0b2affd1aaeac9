#include "util/utf8.hpp"

#include "util/strings.hpp"

#include <algorithm>
#include <cstring>
#include <type_traits>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace dataflow::util {

namespace {

/// Length of the well-formed sequence starting at `i`, or 0 if it is ill-formed.
std::size_t sequence_length(const unsigned char* s, std::size_t n, std::size_t i) noexcept {
    unsigned char c = s[i];
    if (c < 0x80) {
        return 1;
    }
    auto cont = [&](std::size_t k) { return i + k < n && (s[i + k] & 0xC0) == 0x80; };
    if (c >= 0xC2 && c <= 0xDF) {
        return cont(1) ? 2 : 0;
    }
    if (c >= 0xE0 && c <= 0xEF) {
        if (!cont(1) || !cont(2)) {
            return 0;
        }
        unsigned char c1 = s[i + 1];
        if (c == 0xE0 && c1 < 0xA0) {
            return 0; // overlong
        }
        if (c == 0xED && c1 >= 0xA0) {
            return 0; // surrogate
        }
        return 3;
    }
    if (c >= 0xF0 && c <= 0xF4) {
        if (!cont(1) || !cont(2) || !cont(3)) {
            return 0;
        }
        unsigned char c1 = s[i + 1];
        if (c == 0xF0 && c1 < 0x90) {
            return 0;
        }
        if (c == 0xF4 && c1 >= 0x90) {
            return 0;
        }
        return 4;
    }
    return 0;
}

// The Unicode properties read here, for code points from U+0080 up, as ICU gives them
// (generated at build time from it: util/unicode_tables_gen.cpp).
struct LowerCase {
    char32_t from;
    char32_t to;
};
struct CodeRange {
    char32_t first;
    char32_t last;
};
#include "util/unicode_tables.inc"

template <std::size_t N>
bool in(const CodeRange (&table)[N], char32_t cp) noexcept {
    const auto* it = std::upper_bound(std::begin(table), std::end(table), cp,
                                      [](char32_t c, const CodeRange& r) { return c < r.first; });
    return it != std::begin(table) && cp <= (it - 1)->last;
}

/// u_tolower(): the simple lower-case mapping.
char32_t lower_of(char32_t cp) noexcept {
    const auto* it = std::lower_bound(std::begin(k_lower), std::end(k_lower), cp,
                                      [](const LowerCase& l, char32_t c) { return l.from < c; });
    return it != std::end(k_lower) && it->from == cp ? it->to : cp;
}

/// Zero columns: non-spacing and enclosing marks, format characters (Mn, Me, Cf) and the
/// zero-width space, joiners and no-break space.
bool is_zero_width(char32_t cp) noexcept {
    return in(k_zero_width, cp);
}

std::size_t width_of(char32_t cp) noexcept {
    if (cp < 0x80) {
        return cp >= 0x20 && cp != 0x7F ? 1 : 0;
    }
    if (is_zero_width(cp)) {
        return 0;
    }
    return in(k_wide, cp) ? 2 : 1; // East Asian Wide and Fullwidth
}

} // namespace

namespace {

/// Validates `text` 16 bytes at a time (ASCII blocks need one test), handing `on_newlines` each
/// block's mask of '\n' bytes when it is not null.
template <typename OnNewlines>
std::optional<std::size_t> scan_utf8(std::string_view text, OnNewlines on_newlines) {
    const auto* s = reinterpret_cast<const unsigned char*>(text.data());
    const std::size_t n = text.size();
    std::size_t i = 0;
#if defined(__SSE2__)
    const __m128i nl = _mm_set1_epi8('\n');
    while (i + 16 <= n) {
        __m128i block = _mm_loadu_si128(reinterpret_cast<const __m128i*>(s + i));
        if constexpr (!std::is_same_v<OnNewlines, std::nullptr_t>) {
            on_newlines(i, static_cast<unsigned>(_mm_movemask_epi8(_mm_cmpeq_epi8(block, nl))));
        }
        auto high = static_cast<unsigned>(_mm_movemask_epi8(block));
        if (high == 0) {
            i += 16;
            continue;
        }
        // Sequences starting in this block; the last may run past it, and the next block
        // starts after it (continuation bytes are never '\n').
        std::size_t j = i + static_cast<std::size_t>(__builtin_ctz(high));
        while (j < i + 16) {
            std::size_t len = s[j] < 0x80 ? 1 : sequence_length(s, n, j);
            if (len == 0) {
                return j;
            }
            j += len;
        }
        i = j;
    }
#endif
    for (; i < n;) {
        if constexpr (!std::is_same_v<OnNewlines, std::nullptr_t>) {
            on_newlines(i, s[i] == '\n' ? 1u : 0u);
        }
        std::size_t len = sequence_length(s, n, i);
        if (len == 0) {
            return i;
        }
        i += len;
    }
    return std::nullopt;
}

} // namespace

std::optional<std::size_t> find_invalid_utf8(std::string_view text) noexcept {
    return scan_utf8(text, nullptr);
}

std::optional<std::size_t> find_invalid_utf8(std::string_view text,
                                             std::vector<std::size_t>& line_starts) {
    return scan_utf8(text, [&line_starts](std::size_t at, unsigned mask) {
        while (mask != 0) {
            line_starts.push_back(at + static_cast<std::size_t>(__builtin_ctz(mask)) + 1);
            mask &= mask - 1;
        }
    });
}

char32_t decode_utf8(std::string_view text, std::size_t& pos) noexcept {
    const auto* s = reinterpret_cast<const unsigned char*>(text.data());
    unsigned char c = s[pos];
    if (c < 0x80) {
        ++pos;
        return c;
    }
    std::size_t len = sequence_length(s, text.size(), pos);
    if (len == 0) {
        ++pos;
        return 0xFFFD;
    }
    char32_t cp = len == 2 ? (c & 0x1F) : len == 3 ? (c & 0x0F) : (c & 0x07);
    for (std::size_t k = 1; k < len; ++k) {
        cp = (cp << 6) | (s[pos + k] & 0x3F);
    }
    pos += len;
    return cp;
}

void append_utf8(std::string& out, char32_t cp) {
    if (cp < 0x80) {
        out += static_cast<char>(cp);
    } else if (cp < 0x800) {
        out += static_cast<char>(0xC0 | (cp >> 6));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
        out += static_cast<char>(0xE0 | (cp >> 12));
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
        out += static_cast<char>(0xF0 | (cp >> 18));
        out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    }
}

std::string to_lower(std::string_view text) {
    std::string out;
    out.reserve(text.size());
    std::size_t i = 0;
    while (i < text.size()) {
        auto c = static_cast<unsigned char>(text[i]);
        if (c < 0x80) {
            out += ascii_lower(static_cast<char>(c));
            ++i;
            continue;
        }
        char32_t cp = decode_utf8(text, i);
        if (cp == 0x0130) {
            // Python: 'İ'.lower() == 'i̇' (full case mapping, SpecialCasing.txt).
            out += 'i';
            append_utf8(out, 0x0307);
            continue;
        }
        append_utf8(out, lower_of(cp));
    }
    return out;
}

bool alnum_before(std::string_view text, std::size_t pos) noexcept {
    if (pos == 0) {
        return false;
    }
    std::size_t start = pos - 1;
    while (start > 0 && (static_cast<unsigned char>(text[start]) & 0xC0) == 0x80) {
        --start;
    }
    std::size_t p = start;
    char32_t cp = decode_utf8(text, p);
    if (cp < 0x80) {
        return (cp >= '0' && cp <= '9') || (cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z');
    }
    return in(k_alnum, cp); // letters and decimal digits, as u_isalnum()
}

std::size_t display_width(std::string_view text) noexcept {
    std::size_t width = 0;
    std::size_t i = 0;
    while (i < text.size()) {
        width += width_of(decode_utf8(text, i));
    }
    return width;
}

std::string truncate_to_width(std::string_view text, std::size_t width) {
    if (display_width(text) <= width) {
        return std::string(text);
    }
    if (width == 0) {
        return {};
    }
    std::string out;
    std::size_t used = 0;
    std::size_t i = 0;
    while (i < text.size()) {
        std::size_t start = i;
        std::size_t w = width_of(decode_utf8(text, i));
        if (used + w > width - 1) {
            break;
        }
        used += w;
        out.append(text.substr(start, i - start));
    }
    out += "\u2026";
    return out;
}

TextPosition position_of(std::string_view text, std::size_t offset) noexcept {
    TextPosition pos;
    if (offset > text.size()) {
        offset = text.size();
    }
    std::size_t line_start = 0;
    for (std::size_t i = 0; i < offset; ++i) {
        if (text[i] == '\n') {
            ++pos.line;
            line_start = i + 1;
        }
    }
    for (std::size_t i = line_start; i < offset; ++i) {
        if ((static_cast<unsigned char>(text[i]) & 0xC0) != 0x80) {
            ++pos.column;
        }
    }
    return pos;
}

std::string printable(std::string_view text) {
    std::string out;
    out.reserve(text.size());
    std::size_t i = 0;
    while (i < text.size()) {
        auto c = static_cast<unsigned char>(text[i]);
        if (c >= 0x20 && c < 0x7F) {
            out += static_cast<char>(c);
            ++i;
            continue;
        }
        std::size_t start = i;
        char32_t cp = decode_utf8(text, i);
        if (cp == '\t' || cp == '\n' || cp == '\r') {
            out += ' ';
        } else if (cp < 0x20 || cp == 0x7F || (cp >= 0x80 && cp <= 0x9F)) {
            out += "\xEF\xBF\xBD";
        } else {
            out.append(text.substr(start, i - start));
        }
    }
    return out;
}

} // namespace dataflow::util

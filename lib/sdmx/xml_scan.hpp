#pragma once
/// The byte-level pieces of the streaming SDMX-ML reader (sdmx/xml_stream.cpp): character
/// classes, SSE2 scans, and decoding of text and attribute values exactly as pugixml does with
/// parse_escapes | parse_eol | parse_wconv_attribute. Anything else makes them give up.

#include "util/utf8.hpp"

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <utility>

#ifdef __SSE2__
#include <emmintrin.h>
#endif

namespace dataflow::sdmx::xml_scan {

/// Thrown to abandon the fast path; caught in read_catalog_xml_stream() only.
struct GiveUp {};

[[noreturn]] inline void give_up() {
    throw GiveUp{};
}

constexpr std::uint8_t k_space = 1;
constexpr std::uint8_t k_name_start = 2;
constexpr std::uint8_t k_name = 4;

constexpr std::array<std::uint8_t, 256> make_classes() {
    std::array<std::uint8_t, 256> t{};
    t[' '] = t['\t'] = t['\n'] = t['\r'] = k_space;
    for (int c = 0; c < 256; ++c) {
        bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':';
        if (alpha) {
            t[static_cast<std::size_t>(c)] = k_name_start | k_name;
        } else if ((c >= '0' && c <= '9') || c == '-' || c == '.') {
            t[static_cast<std::size_t>(c)] = k_name;
        }
    }
    return t;
}
constexpr auto k_classes = make_classes();

inline bool is(char c, std::uint8_t cls) {
    return (k_classes[static_cast<unsigned char>(c)] & cls) != 0;
}

#ifdef __SSE2__
/// 16 bytes at a time: a bit per byte that is a name character ([A-Za-z0-9_:.-]).
inline unsigned name_mask(const char* p) {
    const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    const __m128i lower = _mm_or_si128(v, _mm_set1_epi8(0x20));
    const __m128i alpha = _mm_and_si128(_mm_cmpgt_epi8(lower, _mm_set1_epi8('a' - 1)),
                                        _mm_cmplt_epi8(lower, _mm_set1_epi8('z' + 1)));
    const __m128i digit = _mm_and_si128(_mm_cmpgt_epi8(v, _mm_set1_epi8('0' - 1)),
                                        _mm_cmplt_epi8(v, _mm_set1_epi8('9' + 1)));
    const __m128i other = _mm_or_si128(
        _mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8('_')), _mm_cmpeq_epi8(v, _mm_set1_epi8(':'))),
        _mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8('-')), _mm_cmpeq_epi8(v, _mm_set1_epi8('.'))));
    return static_cast<unsigned>(
        _mm_movemask_epi8(_mm_or_si128(_mm_or_si128(alpha, digit), other)));
}

/// A bit per byte that is XML whitespace.
inline unsigned space_mask(const char* p) {
    const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    const __m128i sp =
        _mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8(' ')), _mm_cmpeq_epi8(v, _mm_set1_epi8('\n')));
    const __m128i tab = _mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8('\t')),
                                     _mm_cmpeq_epi8(v, _mm_set1_epi8('\r')));
    return static_cast<unsigned>(_mm_movemask_epi8(_mm_or_si128(sp, tab)));
}
#endif

/// The first `c` at or after `p`; gives up at a NUL byte first (pugixml reads one as the end of
/// the document) or at the end. Inline: most runs between tags are shorter than a call to memchr
/// costs.
inline const char* find_byte(const char* p, const char* end, char c) {
#ifdef __SSE2__
    const __m128i needle = _mm_set1_epi8(c);
    const __m128i nul = _mm_setzero_si128();
    while (end - p >= 16) {
        const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
        unsigned m = static_cast<unsigned>(
            _mm_movemask_epi8(_mm_or_si128(_mm_cmpeq_epi8(v, needle), _mm_cmpeq_epi8(v, nul))));
        if (m != 0) {
            p += __builtin_ctz(m);
            if (*p == '\0') {
                give_up();
            }
            return p;
        }
        p += 16;
    }
#endif
    for (; p < end; ++p) {
        if (*p == c) {
            return p;
        }
        if (*p == '\0') {
            give_up();
        }
    }
    give_up();
}

/// `text` when it holds no NUL byte; gives up otherwise.
inline std::string_view without_nul(std::string_view text) {
    if (std::memchr(text.data(), '\0', text.size()) != nullptr) {
        give_up();
    }
    return text;
}

/// Whether the `n` bytes at `a` and `b` are equal (both readable for 16 bytes when `fast`).
inline bool same_bytes(const char* a, const char* b, std::size_t n, bool fast) {
#ifdef __SSE2__
    if (fast && n <= 16) {
        const __m128i va = _mm_loadu_si128(reinterpret_cast<const __m128i*>(a));
        const __m128i vb = _mm_loadu_si128(reinterpret_cast<const __m128i*>(b));
        unsigned m = static_cast<unsigned>(_mm_movemask_epi8(_mm_cmpeq_epi8(va, vb)));
        unsigned want = n == 16 ? 0xFFFFu : (1u << n) - 1;
        return (m & want) == want;
    }
    if (fast && n <= 32) {
        return same_bytes(a, b, 16, true) && same_bytes(a + 16, b + 16, n - 16, true);
    }
#else
    (void)fast;
#endif
    return std::memcmp(a, b, n) == 0;
}

/// The end of the run of name characters at `p`.
inline const char* skip_name(const char* p, const char* end) {
#ifdef __SSE2__
    while (end - p >= 16) {
        unsigned m = name_mask(p);
        if (m != 0xFFFF) {
            return p + __builtin_ctz(~m);
        }
        p += 16;
    }
#endif
    while (p < end && is(*p, k_name)) {
        ++p;
    }
    return p;
}

/// The end of the run of whitespace at `p`.
inline const char* skip_space(const char* p, const char* end) {
#ifdef __SSE2__
    while (end - p >= 16) {
        unsigned m = space_mask(p);
        if (m != 0xFFFF) {
            return p + __builtin_ctz(~m);
        }
        p += 16;
    }
#endif
    while (p < end && is(*p, k_space)) {
        ++p;
    }
    return p;
}

/// Decodes the reference at `p` ('&') into `out`; returns what follows it. pugixml leaves any
/// other '&' as written and turns &#0; into the end of the string: both give up here.
inline const char* decode_reference(const char* p, const char* end, std::string& out) {
    std::string_view rest(p + 1, static_cast<std::size_t>(end - p - 1));
    static constexpr std::pair<std::string_view, char> named[] = {
        {"amp;", '&'}, {"lt;", '<'}, {"gt;", '>'}, {"quot;", '"'}, {"apos;", '\''}};
    for (const auto& [name, c] : named) {
        if (rest.starts_with(name)) {
            out += c;
            return p + 1 + name.size();
        }
    }
    if (!rest.starts_with("#")) {
        give_up();
    }
    const bool hex = rest.starts_with("#x");
    std::size_t i = hex ? 2 : 1;
    const std::size_t max_digits = hex ? 6 : 7;
    std::uint32_t cp = 0;
    std::size_t digits = 0;
    for (; i < rest.size() && digits <= max_digits; ++i, ++digits) {
        char c = rest[i];
        if (c >= '0' && c <= '9') {
            cp = cp * (hex ? 16 : 10) + static_cast<std::uint32_t>(c - '0');
        } else if (hex && ((c | ' ') >= 'a' && (c | ' ') <= 'f')) {
            cp = cp * 16 + static_cast<std::uint32_t>((c | ' ') - 'a' + 10);
        } else {
            break;
        }
    }
    if (digits == 0 || digits > max_digits || i >= rest.size() || rest[i] != ';' || cp == 0 ||
        cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
        give_up();
    }
    util::append_utf8(out, static_cast<char32_t>(cp));
    return p + 1 + i + 1;
}

/// Character data as parse_escapes | parse_eol leave it.
inline void append_text(std::string_view raw, std::string& out) {
    const char* p = raw.data();
    const char* end = p + raw.size();
    while (p < end) {
        const char* s = p;
        while (s < end && *s != '&' && *s != '\r') {
            ++s;
        }
        out.append(p, s);
        if (s == end) {
            break;
        }
        if (*s == '\r') {
            out += '\n';
            ++s;
            s += s < end && *s == '\n' ? 1 : 0;
        } else {
            s = decode_reference(s, end, out);
        }
        p = s;
    }
}

/// A CDATA section's content as parse_eol leaves it.
inline void append_cdata(std::string_view raw, std::string& out) {
    for (std::size_t i = 0; i < raw.size(); ++i) {
        if (raw[i] == '\r') {
            out += '\n';
            i += i + 1 < raw.size() && raw[i + 1] == '\n' ? 1 : 0;
        } else {
            out += raw[i];
        }
    }
}

/// An attribute value as parse_escapes | parse_wconv_attribute leave it.
inline void attribute_value(std::string_view raw, std::string& out) {
    out.clear();
    const char* p = raw.data();
    const char* end = p + raw.size();
    while (p < end) {
        const char* s = p;
        while (s < end && *s != '&' && !is(*s, k_space)) {
            ++s;
        }
        out.append(p, s);
        if (s == end) {
            break;
        }
        if (*s == '&') {
            s = decode_reference(s, end, out);
        } else {
            out += ' ';
            bool crlf = *s == '\r' && s + 1 < end && s[1] == '\n';
            s += crlf ? 2 : 1;
        }
        p = s;
    }
}

inline std::string attribute_value(std::string_view raw) {
    std::string out;
    attribute_value(raw, out);
    return out;
}

inline bool whitespace_only(std::string_view raw) {
    for (char c : raw) {
        if (!is(c, k_space)) {
            return false;
        }
    }
    return true;
}

/// An element's character data: one run kept as written (decoded when taken: most elements
/// have exactly one), several decoded into `text` as they come.
struct Text {
    std::string_view raw;
    bool raw_cdata = false;
    std::uint8_t runs = 0; ///< 0, 1 (in `raw`) or 2 = several (in `text`)
    std::string text;

    void clear() { runs = 0; }
    void add(std::string_view run, bool cdata) {
        if (runs == 0) {
            raw = run;
            raw_cdata = cdata;
            runs = 1;
            return;
        }
        if (runs == 1) {
            text.clear();
            decode(raw, raw_cdata, text);
            runs = 2;
        }
        decode(run, cdata, text);
    }
    /// Takes over `other`'s text (for a swap of whole Texts: no copy of the string's bytes).
    void assign(Text& other) {
        raw = other.raw;
        raw_cdata = other.raw_cdata;
        runs = other.runs;
        if (runs == 2) {
            text.swap(other.text);
        }
    }
    /// The text into `out` (replacing it).
    void take_into(std::string& out) {
        out.clear();
        if (runs == 1) {
            decode(raw, raw_cdata, out);
        } else if (runs == 2) {
            out.swap(text);
        }
    }
    std::string take() {
        if (runs == 0) {
            return {};
        }
        if (runs == 1) {
            std::string out;
            decode(raw, raw_cdata, out);
            return out;
        }
        return std::move(text);
    }
    static void decode(std::string_view run, bool cdata, std::string& out) {
        if (cdata) {
            append_cdata(run, out);
        } else {
            append_text(run, out);
        }
    }
};

} // namespace dataflow::sdmx::xml_scan

// Build-time generator (not part of any library): writes the Unicode tables util/utf8.cpp
// reads — lower-case mappings, letters and digits, zero-width and wide code points — from ICU,
// so that the binary does not load ICU (0.25 ms of every command's start-up right after a large
// process, bench/README.md) and answers as ICU does. tests/unit/test_utf8_tables.cpp checks
// every code point against ICU.
//
//   unicode_tables_gen OUTPUT.inc

#include <unicode/uchar.h>
#include <unicode/uversion.h>

#include <cstdio>
#include <functional>
#include <string>
#include <vector>

namespace {

constexpr UChar32 k_last = 0x10FFFF;

/// The ranges [first, last] of code points from U+0080 up for which `has` holds.
std::vector<std::pair<UChar32, UChar32>> ranges(const std::function<bool(UChar32)>& has) {
    std::vector<std::pair<UChar32, UChar32>> out;
    for (UChar32 cp = 0x80; cp <= k_last; ++cp) {
        if (!has(cp)) {
            continue;
        }
        if (!out.empty() && out.back().second == cp - 1) {
            out.back().second = cp;
        } else {
            out.emplace_back(cp, cp);
        }
    }
    return out;
}

void write_ranges(std::FILE* f, const char* name,
                  const std::vector<std::pair<UChar32, UChar32>>& rs) {
    std::fprintf(f, "inline constexpr CodeRange %s[] = {\n", name);
    for (const auto& [first, last] : rs) {
        std::fprintf(f, "    {0x%04X, 0x%04X},\n", static_cast<unsigned>(first),
                     static_cast<unsigned>(last));
    }
    std::fprintf(f, "};\n\n");
}

} // namespace

int main(int argc, char** argv) {
    if (argc != 2) {
        std::fprintf(stderr, "usage: unicode_tables_gen OUTPUT.inc\n");
        return 2;
    }
    std::FILE* f = std::fopen(argv[1], "w");
    if (f == nullptr) {
        std::perror(argv[1]);
        return 1;
    }
    UVersionInfo unicode;
    u_getUnicodeVersion(unicode);
    std::fprintf(f,
                 "// Generated at build time by lib/util/unicode_tables_gen.cpp from ICU %s "
                 "(Unicode %u.%u): do not edit.\n\n",
                 U_ICU_VERSION, unicode[0], unicode[1]);
    std::fprintf(f, "inline constexpr LowerCase k_lower[] = {\n");
    for (UChar32 cp = 0x80; cp <= k_last; ++cp) {
        UChar32 lower = u_tolower(cp);
        if (lower != cp) {
            std::fprintf(f, "    {0x%04X, 0x%04X},\n", static_cast<unsigned>(cp),
                         static_cast<unsigned>(lower));
        }
    }
    std::fprintf(f, "};\n\n");
    write_ranges(f, "k_alnum", ranges([](UChar32 cp) { return u_isalnum(cp) != 0; }));
    write_ranges(f, "k_zero_width", ranges([](UChar32 cp) {
                     auto cat = u_charType(cp);
                     return cp == 0x200B || cp == 0x200C || cp == 0x200D || cp == 0x2060 ||
                            cp == 0xFEFF || cat == U_NON_SPACING_MARK || cat == U_ENCLOSING_MARK ||
                            cat == U_FORMAT_CHAR;
                 }));
    write_ranges(f, "k_wide", ranges([](UChar32 cp) {
                     auto ea = u_getIntPropertyValue(cp, UCHAR_EAST_ASIAN_WIDTH);
                     return ea == U_EA_WIDE || ea == U_EA_FULLWIDTH;
                 }));
    return std::fclose(f) == 0 ? 0 : 1;
}

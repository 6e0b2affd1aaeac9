// util/utf8.cpp's Unicode tables, generated from ICU at build time, against ICU itself: every
// code point, each property the binary reads.

#include "util/utf8.hpp"

#include <doctest/doctest.h>
#include <unicode/uchar.h>

#include <string>

using namespace dataflow;

namespace {

std::string utf8(char32_t cp) {
    std::string s;
    util::append_utf8(s, cp);
    return s;
}

} // namespace

TEST_SUITE("util") {
    TEST_CASE("Unicode tables: every code point lower-cases, classifies and measures as ICU") {
        std::size_t lower_differs = 0;
        std::size_t alnum_differs = 0;
        std::size_t width_differs = 0;
        std::size_t mapped = 0;
        for (char32_t cp = 0; cp <= 0x10FFFF; ++cp) {
            if (cp >= 0xD800 && cp <= 0xDFFF) {
                continue; // surrogates are not UTF-8
            }
            const auto c = static_cast<UChar32>(cp);
            const std::string s = utf8(cp);
            // to_lower: ICU's simple mapping, but U+0130 as Python's str.lower() ("i" U+0307).
            const std::string lower = util::to_lower(s);
            const std::string expected =
                cp == 0x0130 ? std::string("i\xCC\x87") : utf8(static_cast<char32_t>(u_tolower(c)));
            lower_differs += lower != expected ? 1 : 0;
            mapped += lower != s ? 1 : 0;
            // alnum_before: letters and decimal digits (u_isalnum), ASCII by hand.
            alnum_differs += util::alnum_before(s, s.size()) != (u_isalnum(c) != 0) ? 1 : 0;
            // display_width: C0/DEL 0, marks and format characters 0, wide 2, else 1.
            std::size_t width = 1;
            auto cat = u_charType(c);
            if (cp < 0x20 || cp == 0x7F) {
                width = 0;
            } else if (cp >= 0x80 && (cp == 0x200B || cp == 0x200C || cp == 0x200D ||
                                      cp == 0x2060 || cp == 0xFEFF || cat == U_NON_SPACING_MARK ||
                                      cat == U_ENCLOSING_MARK || cat == U_FORMAT_CHAR)) {
                width = 0;
            } else if (cp >= 0x80) {
                auto ea = u_getIntPropertyValue(c, UCHAR_EAST_ASIAN_WIDTH);
                width = ea == U_EA_WIDE || ea == U_EA_FULLWIDTH ? 2 : 1;
            }
            width_differs += util::display_width(s) != width ? 1 : 0;
        }
        CHECK(lower_differs == 0);
        CHECK(alnum_differs == 0);
        CHECK(width_differs == 0);
        CHECK(mapped > 1400); // the tables are not empty: Latin, Greek, Cyrillic, ...
        // Spot checks a reader can follow.
        CHECK(util::to_lower("ÀÉÎÕÜ ΣΑΣ Ж Ǆ") == "àéîõü σασ ж ǆ");
        CHECK(util::display_width("日本") == 4);
        CHECK(util::display_width("e\xCC\x81") == 1); // e + combining acute
        CHECK(util::alnum_before("città", 6));
        CHECK_FALSE(util::alnum_before("a—", 4)); // em dash
    }
}

// The compiled-in console font: the table made by tools/make-console-font from Lat15-VGA16.
#include "drivers/console_font.hpp"

#include <gtest/gtest.h>

#include <cstring>
#include <set>
#include <string>

namespace {

namespace font = drivers::console_font;

std::string rows_of(unsigned char c) { return {reinterpret_cast<const char*>(font::glyph(c)), font::kGlyphHeight}; }

bool blank(unsigned char c) { return rows_of(c) == std::string(font::kGlyphHeight, '\0'); }

TEST(ConsoleFont, SpaceIsBlank) { EXPECT_TRUE(blank(' ')); }

TEST(ConsoleFont, UppercaseAIsTheVgaGlyph) {
    //   ...#....
    //   ..###...
    //   .##.##..
    //   ##...##.
    //   ##...##.
    //   #######.
    const uint8_t a[] = {0x00, 0x00, 0x10, 0x38, 0x6c, 0xc6, 0xc6, 0xfe,
                         0xc6, 0xc6, 0xc6, 0xc6, 0x00, 0x00, 0x00, 0x00};
    EXPECT_EQ(std::memcmp(font::glyph('A'), a, sizeof(a)), 0);
}

TEST(ConsoleFont, EveryPrintableAsciiGlyphIsDrawnAndDistinct) {
    std::set<std::string> seen;
    for (unsigned c = '!'; c < 0x7F; ++c) {
        EXPECT_FALSE(blank(static_cast<unsigned char>(c))) << "glyph for '" << static_cast<char>(c) << "' is blank";
        EXPECT_TRUE(seen.insert(rows_of(static_cast<unsigned char>(c))).second)
            << "glyph for '" << static_cast<char>(c) << "' repeats another";
    }
}

TEST(ConsoleFont, ControlBytesShareTheReplacementGlyph) {
    EXPECT_FALSE(blank(0x01));
    EXPECT_EQ(rows_of(0x01), rows_of(0x7F));
    EXPECT_EQ(rows_of(0x01), rows_of(0x9B));
    EXPECT_NE(rows_of(0x01), rows_of('?'));
}

TEST(ConsoleFont, Latin1LettersHaveTheirOwnGlyphs) {
    // e-acute is an 'e' with an accent above it: not the replacement glyph, not a plain 'e'.
    EXPECT_NE(rows_of(0xE9), rows_of(0x01));
    EXPECT_NE(rows_of(0xE9), rows_of('e'));
}

}  // namespace

// The framebuffer text console on a std::vector framebuffer: layouts it accepts, pixels it draws
// (font, colour fields, pitch, cursor), and that the shadow path and the direct path agree.
#include "drivers/framebuffer_text.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <set>
#include <string>
#include <vector>

#include "drivers/console_font.hpp"

namespace {

using drivers::FramebufferText;
using drivers::LayoutError;
using drivers::PixelLayout;

constexpr unsigned kW = drivers::console_font::kGlyphWidth;
constexpr unsigned kH = drivers::console_font::kGlyphHeight;

PixelLayout xrgb(uint32_t width, uint32_t height, uint32_t pitch_bytes = 0) {
    return {width, height, pitch_bytes ? pitch_bytes : width * 4, 32, {16, 8}, {8, 8}, {0, 8}};
}

struct Screen {
    explicit Screen(const PixelLayout& layout, uint8_t fill = 0x5A)
        : layout(layout), pixels(size_t{layout.pitch_bytes} * layout.height, fill), cells(drivers::kConsoleCells) {
        auto started = console.init(layout, {cells.data(), cells.size()});
        EXPECT_TRUE(started.ok());
    }
    uint32_t at(unsigned x, unsigned y) const {
        uint32_t value;
        std::memcpy(&value, &pixels[size_t{y} * layout.pitch_bytes + x * 4], 4);
        return value;
    }
    void write(const std::string& text) { console.write(text.data(), text.size()); }
    void attach() { console.set_screen(pixels.data()); }
    void attach_shadow() {
        shadow.resize(console.shadow_bytes() / 4);
        console.set_shadow({shadow.data(), shadow.size()});
    }
    // The glyph row bits of the cell at (column, row), read back from the pixels.
    uint8_t bits(unsigned column, unsigned row, unsigned line) const {
        const uint32_t fg = drivers::encode_color(layout, drivers::kForeground);
        uint8_t out = 0;
        for (unsigned x = 0; x < kW; ++x)
            if (at(column * kW + x, row * kH + line) == fg) out |= 0x80 >> x;
        return out;
    }

    PixelLayout layout;
    std::vector<uint8_t> pixels;
    std::vector<char> cells;
    std::vector<uint32_t> shadow;
    FramebufferText console;
};

LayoutError error_of(const PixelLayout& layout) {
    auto checked = drivers::check_layout(layout);
    EXPECT_FALSE(checked.ok());
    return checked.error();
}

TEST(FramebufferLayout, AcceptsXrgb32) { EXPECT_TRUE(drivers::check_layout(xrgb(800, 600)).ok()); }

TEST(FramebufferLayout, RejectsDepthsOtherThan32) {
    PixelLayout layout = xrgb(800, 600);
    layout.bits_per_pixel = 24;
    EXPECT_EQ(error_of(layout), LayoutError::UnsupportedDepth);
    layout.bits_per_pixel = 16;
    EXPECT_EQ(error_of(layout), LayoutError::UnsupportedDepth);
}

TEST(FramebufferLayout, RejectsAColourFieldOutsideThePixel) {
    PixelLayout layout = xrgb(800, 600);
    layout.red = {28, 8};
    EXPECT_EQ(error_of(layout), LayoutError::BadColorField);
    layout.red = {16, 0};
    EXPECT_EQ(error_of(layout), LayoutError::BadColorField);
}

TEST(FramebufferLayout, RejectsPitchShorterThanARow) {
    EXPECT_EQ(error_of(xrgb(800, 600, 3196)), LayoutError::PitchTooSmall);
}

TEST(FramebufferLayout, RejectsAScreenSmallerThanAGlyph) { EXPECT_EQ(error_of(xrgb(7, 600)), LayoutError::TooSmall); }

// The kernel logs the reason it falls back to VGA text; each must say what was wrong.
TEST(FramebufferLayout, EveryRejectionHasItsOwnReason) {
    std::set<std::string> reasons;
    for (LayoutError error : {LayoutError::UnsupportedDepth, LayoutError::BadColorField, LayoutError::PitchTooSmall,
                              LayoutError::TooSmall})
        reasons.insert(drivers::describe(error));
    EXPECT_EQ(reasons.size(), 4u);
    EXPECT_EQ(reasons.count("?"), 0u);
}

TEST(FramebufferColour, FollowsTheFieldPositions) {
    const drivers::Rgb color{0x12, 0x34, 0x56};
    EXPECT_EQ(drivers::encode_color(xrgb(8, 16), color), 0x123456u);
    PixelLayout bgr = xrgb(8, 16);
    bgr.red = {0, 8};
    bgr.blue = {16, 8};
    EXPECT_EQ(drivers::encode_color(bgr, color), 0x563412u);
}

TEST(FramebufferColour, ScalesToTheFieldWidths) {
    // 10-bit channels (30-bit colour) and a 5-6-5 layout inside a 32-bit pixel.
    PixelLayout deep = {8, 16, 32, 32, {20, 10}, {10, 10}, {0, 10}};
    EXPECT_EQ(drivers::encode_color(deep, {0xFF, 0x80, 0x01}), (0x3FCu << 20) | (0x200u << 10) | 0x004u);
    PixelLayout narrow = {8, 16, 32, 32, {11, 5}, {5, 6}, {0, 5}};
    EXPECT_EQ(drivers::encode_color(narrow, {0xFF, 0xFF, 0xFF}), 0xFFFFu);
    const drivers::Rgb back = drivers::decode_color(deep, drivers::encode_color(deep, {0xAA, 0x55, 0x00}));
    EXPECT_EQ(back.red, 0xAA);
    EXPECT_EQ(back.green, 0x55);
    EXPECT_EQ(back.blue, 0x00);
}

TEST(FramebufferText, SizesTheGridToWholeGlyphs) {
    Screen s(xrgb(805, 610));
    EXPECT_EQ(s.console.grid().columns(), 100u);
    EXPECT_EQ(s.console.grid().rows(), 38u);
}

TEST(FramebufferText, DrawsNothingUntilItHasAScreen) {
    Screen s(xrgb(64, 32));
    s.write("A");
    for (uint8_t byte : s.pixels) ASSERT_EQ(byte, 0x5A);
}

TEST(FramebufferText, DrawsTheFontsGlyphInTheForegroundColour) {
    Screen s(xrgb(64, 32));
    s.attach();
    s.write("A");
    for (unsigned line = 0; line < kH; ++line)
        EXPECT_EQ(s.bits(0, 0, line), drivers::console_font::glyph('A')[line]) << line;
    EXPECT_EQ(s.at(0, 0), drivers::encode_color(s.layout, drivers::kBackground));
}

TEST(FramebufferText, HonoursThePitchAndLeavesThePaddingAlone) {
    // 24 pixels wide, 112 bytes per row: bytes 96..111 of each row are not the screen's.
    Screen s(xrgb(24, 16, 112));
    s.attach();
    s.write("AB");
    for (unsigned line = 0; line < kH; ++line) {
        EXPECT_EQ(s.bits(1, 0, line), drivers::console_font::glyph('B')[line]);
        for (unsigned byte = 96; byte < 112; ++byte) ASSERT_EQ(s.pixels[line * 112 + byte], 0x5A);
    }
}

TEST(FramebufferText, ClearsTheMarginOutsideTheTextArea) {
    Screen s(xrgb(20, 40));  // 2 x 2 characters; 4 columns and 8 lines of margin
    s.attach();
    const uint32_t background = drivers::encode_color(s.layout, drivers::kBackground);
    EXPECT_EQ(s.at(19, 0), background);
    EXPECT_EQ(s.at(0, 39), background);
}

TEST(FramebufferText, DrawsTheCursorAsAnUnderlineWhereTheNextCharacterGoes) {
    Screen s(xrgb(64, 32));
    s.attach();
    s.write("ab");
    EXPECT_EQ(s.bits(2, 0, drivers::kCursorFirstLine), 0xFF);
    EXPECT_EQ(s.bits(2, 0, 0), 0x00);
    EXPECT_NE(s.bits(1, 0, drivers::kCursorFirstLine), 0xFF);
    s.write("\n");  // the old row loses its cursor, the new one gets it
    EXPECT_EQ(s.bits(2, 0, drivers::kCursorFirstLine), 0x00);
    EXPECT_EQ(s.bits(0, 1, drivers::kCursorFirstLine), 0xFF);
}

TEST(FramebufferText, ScrollingShowsTheLaterLines) {
    Screen s(xrgb(32, 32));  // 4 x 2 characters
    s.attach_shadow();
    s.attach();
    s.write("A\nB\nC");
    for (unsigned line = 0; line < kH; ++line) {
        EXPECT_EQ(s.bits(0, 0, line), drivers::console_font::glyph('B')[line]);
        EXPECT_EQ(s.bits(0, 1, line), drivers::console_font::glyph('C')[line]);
    }
    EXPECT_EQ(s.bits(1, 1, drivers::kCursorFirstLine), 0xFF);
}

TEST(FramebufferText, ShadowAndDirectDrawingGiveTheSameScreen) {
    const PixelLayout layout = xrgb(120, 100, 500);
    Screen direct(layout), shadowed(layout);
    direct.attach();
    shadowed.attach_shadow();
    shadowed.attach();
    std::string log;
    for (int i = 0; i < 40; ++i) log += "line " + std::to_string(i) + (i % 3 ? "\tx\n" : " wraps past the edge\n");
    log += "sable$ ab\b \b";
    for (char c : log) {
        direct.write(std::string(1, c));
        shadowed.write(std::string(1, c));
    }
    EXPECT_EQ(direct.pixels, shadowed.pixels);
}

TEST(FramebufferText, WithAShadowAWriteCopiesOnlyTheRowsItChanged) {
    Screen s(xrgb(64, 64));  // 4 rows
    s.attach_shadow();
    s.attach();
    s.write("a\nb");
    std::fill(s.pixels.begin(), s.pixels.end(), 0x5A);
    s.write("c");
    EXPECT_EQ(s.bits(1, 1, 5), drivers::console_font::glyph('c')[5]);
    for (unsigned y = 0; y < kH; ++y) ASSERT_EQ(s.at(0, y), 0x5A5A5A5Au) << "row 0 was rewritten";
    for (unsigned y = 2 * kH; y < 4 * kH; ++y) ASSERT_EQ(s.at(0, y), 0x5A5A5A5Au) << "rows 2-3 were rewritten";
}

TEST(FramebufferText, TextWrittenWhileTheScreenIsAwayAppearsWhenItReturns) {
    Screen s(xrgb(64, 32));
    s.attach();
    s.console.set_screen(nullptr);
    s.write("Z");
    s.attach();
    for (unsigned line = 0; line < drivers::kCursorFirstLine; ++line)
        EXPECT_EQ(s.bits(0, 0, line), drivers::console_font::glyph('Z')[line]);
}

}  // namespace

// The console font: one 8x16 glyph per byte value, compiled in (console_font_data.cpp, made by
// tools/make-console-font from a Debian console font), so the framebuffer console needs no file
// system and draws what the host screen check draws.
#pragma once

#include <stddef.h>
#include <stdint.h>

namespace drivers::console_font {

inline constexpr unsigned kGlyphWidth = 8;
inline constexpr unsigned kGlyphHeight = 16;
inline constexpr size_t kGlyphCount = 256;

// Row r of a glyph is kGlyphs[c][r]; bit 7 is the leftmost pixel.
extern const uint8_t kGlyphs[kGlyphCount][kGlyphHeight];

inline const uint8_t* glyph(unsigned char c) { return kGlyphs[c]; }

}  // namespace drivers::console_font

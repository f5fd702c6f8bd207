// A text console drawn on a linear direct-colour framebuffer, as portable code: the caller hands
// it the framebuffer's bytes, the cells of its character grid and (once memory allows) a shadow
// buffer, so host tests and the host screen check draw exactly what the kernel draws.
//
// With a shadow, glyphs are drawn into RAM and the framebuffer is only ever written whole pixel
// rows at a time, never read (framebuffer reads are uncached and slow, and write-combined writes
// are fast only in long runs). The shadow keeps text rows in the grid's ring order, so scrolling
// draws one new row and then copies every row to its new place on the screen.
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "drivers/text_grid.hpp"
#include "lib/result.hpp"
#include "lib/span.hpp"

namespace drivers {

// One colour channel of a direct-colour pixel [Multiboot2 spec §3.6.12]: its lowest bit and how
// many bits it has.
struct ColorField {
    uint8_t position = 0;
    uint8_t mask_size = 0;
};

struct PixelLayout {
    uint32_t width = 0;  // pixels
    uint32_t height = 0;
    uint32_t pitch_bytes = 0;  // from one pixel row to the next; may exceed width * 4
    uint8_t bits_per_pixel = 0;
    ColorField red, green, blue;
};

enum class LayoutError { UnsupportedDepth, BadColorField, PitchTooSmall, TooSmall };
const char* describe(LayoutError error);
kstd::Result<bool, LayoutError> check_layout(const PixelLayout& layout);

struct Rgb {
    uint8_t red, green, blue;
};
// Light grey on black, as the VGA text console's attribute 0x07.
inline constexpr Rgb kForeground{0xAA, 0xAA, 0xAA};
inline constexpr Rgb kBackground{0x00, 0x00, 0x00};
// Cells the kernel's console has (drivers/framebuffer_console.cpp), enough for a 4K screen (480 x
// 135 characters) without a heap; the host screen check gives its grid as many, so both size the
// grid alike.
inline constexpr size_t kConsoleCells = 480 * 135;
// The cursor: an underline in the cell's last rows, as VGA text mode draws it.
inline constexpr unsigned kCursorFirstLine = 14;

// The pixel value of `color` in `layout` (each 8-bit channel scaled to its field's width).
uint32_t encode_color(const PixelLayout& layout, Rgb color);
// The colour of a pixel value, the inverse of encode_color for 8-bit fields.
Rgb decode_color(const PixelLayout& layout, uint32_t pixel);

class FramebufferText {
public:
    // Validates the layout and sizes the grid to the screen (as many rows as `cells` allows).
    // Nothing is drawn until set_screen().
    kstd::Result<bool, LayoutError> init(const PixelLayout& layout, kstd::Span<char> cells);

    const TextGrid& grid() const { return m_grid; }
    // Bytes a shadow needs: the text area (columns * 8 by rows * 16 pixels, 4 bytes each).
    size_t shadow_bytes() const;

    // The framebuffer's first byte, as this CPU reaches it; nullptr while it cannot be reached
    // (the grid keeps what is written meanwhile). Attaching clears the screen and draws the grid.
    void set_screen(uint8_t* pixels);
    // A shadow of shadow_bytes(); from then on the screen is written only by copying from it.
    void set_shadow(kstd::Span<uint32_t> shadow);
    bool has_shadow() const { return !m_shadow.empty(); }

    void write(const char* text, size_t length);

private:
    void flush();
    // Draws the text row in `slot` (with the cursor if it is there) at `out`, `pitch` bytes from
    // one pixel row to the next.
    void render_slot(unsigned slot, uint8_t* out, size_t pitch) const;
    void copy_slot_to_screen(unsigned slot, unsigned row);
    size_t shadow_pitch() const { return size_t{m_grid.columns()} * 8 * sizeof(uint32_t); }

    PixelLayout m_layout;
    TextGrid m_grid;
    uint32_t m_foreground = 0, m_background = 0;  // pixel values in m_layout
    uint8_t* m_screen = nullptr;
    kstd::Span<uint32_t> m_shadow;
    bool m_repaint = false;  // every row must be written to the screen at the next flush
};

}  // namespace drivers

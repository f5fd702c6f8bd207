// Framebuffer text console (see framebuffer_text.hpp).
#include "drivers/framebuffer_text.hpp"

#include "drivers/console_font.hpp"

namespace drivers {
namespace {

constexpr unsigned kGlyphWidth = console_font::kGlyphWidth;
constexpr unsigned kGlyphHeight = console_font::kGlyphHeight;

bool field_ok(ColorField field, uint8_t bits_per_pixel) {
    return field.mask_size >= 1 && field.mask_size <= 16 && field.position + field.mask_size <= bits_per_pixel;
}

uint32_t encode_channel(uint8_t value, ColorField field) {
    const uint32_t scaled =
        field.mask_size >= 8 ? uint32_t{value} << (field.mask_size - 8) : value >> (8 - field.mask_size);
    return scaled << field.position;
}

uint8_t decode_channel(uint32_t pixel, ColorField field) {
    const uint32_t value = pixel >> field.position & ((1u << field.mask_size) - 1);
    return static_cast<uint8_t>(field.mask_size >= 8 ? value >> (field.mask_size - 8) : value << (8 - field.mask_size));
}

}  // namespace

const char* describe(LayoutError error) {
    switch (error) {
        case LayoutError::UnsupportedDepth:
            return "only 32 bits per pixel are supported";
        case LayoutError::BadColorField:
            return "a colour field lies outside the pixel";
        case LayoutError::PitchTooSmall:
            return "pitch is smaller than a row of pixels";
        case LayoutError::TooSmall:
            return "screen smaller than one glyph";
    }
    return "?";
}

kstd::Result<bool, LayoutError> check_layout(const PixelLayout& layout) {
    if (layout.bits_per_pixel != 32) return kstd::fail(LayoutError::UnsupportedDepth);
    if (!field_ok(layout.red, 32) || !field_ok(layout.green, 32) || !field_ok(layout.blue, 32))
        return kstd::fail(LayoutError::BadColorField);
    if (layout.width < kGlyphWidth || layout.height < kGlyphHeight) return kstd::fail(LayoutError::TooSmall);
    if (layout.pitch_bytes / sizeof(uint32_t) < layout.width) return kstd::fail(LayoutError::PitchTooSmall);
    return true;
}

uint32_t encode_color(const PixelLayout& layout, Rgb color) {
    return encode_channel(color.red, layout.red) | encode_channel(color.green, layout.green) |
           encode_channel(color.blue, layout.blue);
}

Rgb decode_color(const PixelLayout& layout, uint32_t pixel) {
    return {decode_channel(pixel, layout.red), decode_channel(pixel, layout.green), decode_channel(pixel, layout.blue)};
}

kstd::Result<bool, LayoutError> FramebufferText::init(const PixelLayout& layout, kstd::Span<char> cells) {
    auto checked = check_layout(layout);
    if (!checked) return checked;
    unsigned rows = layout.height / kGlyphHeight;
    if (rows > TextGrid::kMaxRows) rows = TextGrid::kMaxRows;
    unsigned columns = layout.width / kGlyphWidth;
    if (cells.size() / rows < columns) columns = static_cast<unsigned>(cells.size() / rows);
    if (!m_grid.reset(cells, columns, rows)) return kstd::fail(LayoutError::TooSmall);
    m_layout = layout;
    m_foreground = encode_color(layout, kForeground);
    m_background = encode_color(layout, kBackground);
    m_screen = nullptr;
    m_shadow = {};
    return true;
}

size_t FramebufferText::shadow_bytes() const { return shadow_pitch() * m_grid.rows() * kGlyphHeight; }

void FramebufferText::set_screen(uint8_t* pixels) {
    m_screen = pixels;
    if (!pixels) return;
    // The margin right of and below the text area is never drawn again: clear it once.
    for (uint32_t y = 0; y < m_layout.height; ++y) {
        auto* line = reinterpret_cast<uint32_t*>(pixels + size_t{y} * m_layout.pitch_bytes);
        const uint32_t from = y < m_grid.rows() * kGlyphHeight ? m_grid.columns() * kGlyphWidth : 0;
        for (uint32_t x = from; x < m_layout.width; ++x) line[x] = m_background;
    }
    m_repaint = true;
    flush();
}

void FramebufferText::set_shadow(kstd::Span<uint32_t> shadow) {
    if (shadow.size() * sizeof(uint32_t) < shadow_bytes()) return;
    m_shadow = shadow;
    m_grid.mark_all_dirty();
    m_repaint = true;
    flush();
}

void FramebufferText::write(const char* text, size_t length) {
    m_grid.write(text, length);
    flush();
}

void FramebufferText::render_slot(unsigned slot, uint8_t* out, size_t pitch) const {
    const char* cells = m_grid.slot_cells(slot);
    const bool cursor_here = m_grid.slot_of_row(m_grid.cursor_row()) == slot;
    for (unsigned y = 0; y < kGlyphHeight; ++y) {
        auto* line = reinterpret_cast<uint32_t*>(out + y * pitch);
        for (unsigned column = 0; column < m_grid.columns(); ++column) {
            uint8_t bits = console_font::glyph(static_cast<unsigned char>(cells[column]))[y];
            if (cursor_here && column == m_grid.cursor_column() && y >= kCursorFirstLine) bits = 0xFF;
            uint32_t* pixel = line + column * kGlyphWidth;
            for (unsigned x = 0; x < kGlyphWidth; ++x) pixel[x] = bits & (0x80 >> x) ? m_foreground : m_background;
        }
    }
}

void FramebufferText::copy_slot_to_screen(unsigned slot, unsigned row) {
    const size_t bytes = shadow_pitch();
    const auto* from = reinterpret_cast<const uint8_t*>(m_shadow.data()) + slot * kGlyphHeight * bytes;
    uint8_t* to = m_screen + size_t{row} * kGlyphHeight * m_layout.pitch_bytes;
    for (unsigned y = 0; y < kGlyphHeight; ++y)
        __builtin_memcpy(to + y * m_layout.pitch_bytes, from + y * bytes, bytes);
}

void FramebufferText::flush() {
    const bool drawn = m_screen || has_shadow();
    if (!drawn) return;  // the grid's changes stay marked until there is somewhere to draw
    if (has_shadow())
        for (unsigned slot = 0; slot < m_grid.rows(); ++slot)
            if (m_grid.slot_dirty(slot))
                render_slot(slot, reinterpret_cast<uint8_t*>(m_shadow.data()) + slot * kGlyphHeight * shadow_pitch(),
                            shadow_pitch());
    if (m_screen) {
        const bool every_row = m_repaint || m_grid.scrolled();
        for (unsigned row = 0; row < m_grid.rows(); ++row) {
            const unsigned slot = m_grid.slot_of_row(row);
            if (!every_row && !m_grid.slot_dirty(slot)) continue;
            if (has_shadow())
                copy_slot_to_screen(slot, row);
            else
                render_slot(slot, m_screen + size_t{row} * kGlyphHeight * m_layout.pitch_bytes, m_layout.pitch_bytes);
        }
        m_repaint = false;
    } else {
        m_repaint = true;  // the shadow is up to date, the screen (once back) is not
    }
    m_grid.clear_changes();
}

}  // namespace drivers

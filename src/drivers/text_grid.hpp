// The character grid behind the framebuffer console: which byte is in each cell, where the cursor
// is, and which rows changed since the drawing code last looked. It interprets the same control
// characters as the VGA text console (\n, \r, \t, \b) and wraps and scrolls the same way.
//
// Rows live in a ring: scrolling moves the index of the top row instead of copying every cell,
// and the pixel shadow of the framebuffer console keeps its rows in the same ring order (row
// `slot`), so a scroll costs one cleared row there too.
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "lib/span.hpp"

namespace drivers {

class TextGrid {
public:
    // Dirty bits are kept for at most this many rows (a 4K screen has 135 rows of 16 pixels).
    static constexpr unsigned kMaxRows = 192;

    TextGrid() = default;
    // Uses `cells` (at least columns * rows bytes) for the characters, clears them to blanks and
    // puts the cursor at the top left. False (and an unusable grid) if the sizes do not fit.
    bool reset(kstd::Span<char> cells, unsigned columns, unsigned rows);

    unsigned columns() const { return m_columns; }
    unsigned rows() const { return m_rows; }
    unsigned cursor_column() const { return m_column; }
    unsigned cursor_row() const { return m_row; }  // a screen row, 0 = top

    void write(const char* text, size_t length);

    // The ring slot that holds screen row `row` (0 = top).
    unsigned slot_of_row(unsigned row) const { return (m_top + row) % m_rows; }
    // The characters of one slot: columns() bytes, blanks as ' '.
    const char* slot_cells(unsigned slot) const { return m_cells.data() + size_t{slot} * m_columns; }

    // What changed since the last clear_changes(): slots whose characters or cursor changed, and
    // whether the screen scrolled (every screen row then shows a different slot).
    bool slot_dirty(unsigned slot) const { return m_dirty[slot / 64] >> (slot % 64) & 1; }
    bool scrolled() const { return m_scrolled; }
    void clear_changes();
    void mark_all_dirty();

private:
    void mark_dirty(unsigned slot) { m_dirty[slot / 64] |= uint64_t{1} << (slot % 64); }
    void put(unsigned column, char c);
    void new_line();

    kstd::Span<char> m_cells;  // m_rows slots of m_columns characters
    unsigned m_columns = 0;
    unsigned m_rows = 0;
    unsigned m_top = 0;     // slot shown as screen row 0
    unsigned m_column = 0;  // cursor: where the next character goes
    unsigned m_row = 0;
    uint64_t m_dirty[kMaxRows / 64] = {};
    bool m_scrolled = false;
};

}  // namespace drivers

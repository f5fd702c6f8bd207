// The framebuffer console's character grid (see text_grid.hpp).
#include "drivers/text_grid.hpp"

namespace drivers {

bool TextGrid::reset(kstd::Span<char> cells, unsigned columns, unsigned rows) {
    m_columns = m_rows = 0;
    if (columns == 0 || rows == 0 || rows > kMaxRows || size_t{columns} * rows > cells.size()) return false;
    m_cells = cells;
    m_columns = columns;
    m_rows = rows;
    m_top = m_column = m_row = 0;
    for (size_t i = 0; i < size_t{columns} * rows; ++i) m_cells[i] = ' ';
    clear_changes();
    mark_all_dirty();
    return true;
}

void TextGrid::clear_changes() {
    for (uint64_t& word : m_dirty) word = 0;
    m_scrolled = false;
}

void TextGrid::mark_all_dirty() {
    for (unsigned slot = 0; slot < m_rows; ++slot) mark_dirty(slot);
}

void TextGrid::put(unsigned column, char c) {
    const unsigned slot = slot_of_row(m_row);
    m_cells[size_t{slot} * m_columns + column] = c;
    mark_dirty(slot);
}

void TextGrid::new_line() {
    m_column = 0;
    if (++m_row < m_rows) return;
    // The top slot becomes the new bottom row: blank it, and every screen row moves up one.
    const unsigned bottom = m_top;
    m_top = (m_top + 1) % m_rows;
    m_row = m_rows - 1;
    for (unsigned column = 0; column < m_columns; ++column) m_cells[size_t{bottom} * m_columns + column] = ' ';
    mark_dirty(bottom);
    m_scrolled = true;
}

void TextGrid::write(const char* text, size_t length) {
    if (m_rows == 0) return;
    // The cursor is drawn in its row: the row it leaves and the row it ends in both change.
    mark_dirty(slot_of_row(m_row));
    for (size_t i = 0; i < length; ++i) {
        const char c = text[i];
        if (c == '\n') {
            new_line();
        } else if (c == '\r') {
            m_column = 0;
        } else if (c == '\b') {
            if (m_column > 0) --m_column;
        } else if (c == '\t') {
            do put(m_column, ' ');
            while (++m_column % 8 != 0 && m_column < m_columns);
            if (m_column >= m_columns) new_line();
        } else {
            put(m_column, c);
            if (++m_column >= m_columns) new_line();
        }
    }
    mark_dirty(slot_of_row(m_row));
}

}  // namespace drivers

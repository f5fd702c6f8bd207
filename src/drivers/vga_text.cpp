// VGA text console: writes characters with a light-grey attribute, scrolls at the bottom and
// moves the hardware cursor through the CRT controller (ports 0x3D4/0x3D5).
#include "drivers/vga_text.hpp"

#include "arch/arch.hpp"

namespace drivers::vga_text {
namespace {

constexpr uint16_t kAttribute = 0x07 << 8;  // light grey on black

volatile uint16_t* g_cells = nullptr;
uint32_t g_columns = 0;
uint32_t g_rows = 0;
uint32_t g_column = 0;
uint32_t g_row = 0;

// CRT controller: an index register and a data register; indices 0x0E/0x0F hold the cursor
// position's high and low bytes.
constexpr uint16_t kCrtcIndex = 0x3D4, kCrtcData = 0x3D5;
constexpr uint8_t kCursorHigh = 0x0E, kCursorLow = 0x0F;

uint16_t cursor_position() { return static_cast<uint16_t>(g_row * g_columns + g_column); }

void move_cursor() {
    const uint16_t position = cursor_position();
    arch::port_write8(kCrtcIndex, kCursorLow);
    arch::port_write8(kCrtcData, position & 0xFF);
    arch::port_write8(kCrtcIndex, kCursorHigh);
    arch::port_write8(kCrtcData, position >> 8);
}

void new_line() {
    g_column = 0;
    if (++g_row < g_rows) return;
    // One block move (quadword string moves) instead of a loop over every cell: each scrolled
    // boot line took ~8 000 instructions that way, half a million over a boot log.
    auto* cells = const_cast<uint16_t*>(g_cells);
    __builtin_memmove(cells, cells + g_columns, (g_rows - 1) * g_columns * sizeof(uint16_t));
    for (uint32_t i = 0; i < g_columns; ++i) g_cells[(g_rows - 1) * g_columns + i] = kAttribute | ' ';
    g_row = g_rows - 1;
}

}  // namespace

void init(uint64_t buffer_phys, uint32_t columns, uint32_t rows) {
    g_cells = reinterpret_cast<volatile uint16_t*>(buffer_phys);
    g_columns = columns;
    g_rows = rows;
    for (uint32_t i = 0; i < columns * rows; ++i) g_cells[i] = kAttribute | ' ';
    g_row = g_column = 0;
    move_cursor();
}

bool active() { return g_cells != nullptr; }

void write(const char* text, size_t length) {
    if (!g_cells) return;
    for (size_t i = 0; i < length; ++i) {
        const char c = text[i];
        if (c == '\n') {
            new_line();
        } else if (c == '\r') {
            g_column = 0;
        } else if (c == '\b') {
            if (g_column > 0) --g_column;  // the line editor erases with "\b \b"
        } else if (c == '\t') {
            do g_cells[g_row * g_columns + g_column] = kAttribute | ' ';
            while (++g_column % 8 != 0 && g_column < g_columns);
            if (g_column >= g_columns) new_line();
        } else {
            g_cells[g_row * g_columns + g_column] = kAttribute | static_cast<uint8_t>(c);
            if (++g_column >= g_columns) new_line();
        }
    }
    move_cursor();
}

uint32_t rows() { return g_cells ? g_rows : 0; }

void row_text(uint32_t row, char* out, size_t capacity) {
    if (capacity == 0) return;
    size_t length = 0;
    if (g_cells && row < g_rows)
        for (uint32_t column = 0; column < g_columns && length + 1 < capacity; ++column)
            out[length++] = static_cast<char>(g_cells[row * g_columns + column] & 0xFF);
    while (length > 0 && out[length - 1] == ' ') --length;
    out[length] = '\0';
}

bool hardware_cursor_matches() {
    if (!g_cells) return false;
    arch::port_write8(kCrtcIndex, kCursorHigh);
    uint16_t position = static_cast<uint16_t>(arch::port_read8(kCrtcData) << 8);
    arch::port_write8(kCrtcIndex, kCursorLow);
    position |= arch::port_read8(kCrtcData);
    return position == cursor_position();
}

}  // namespace drivers::vga_text

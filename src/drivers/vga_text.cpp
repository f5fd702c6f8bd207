// VGA text console: writes characters with a light-grey attribute, scrolls by moving the CRT
// controller's start address through the text window, and moves the hardware cursor (ports
// 0x3D4/0x3D5).
#include "drivers/vga_text.hpp"

#include "arch/arch.hpp"

namespace drivers::vga_text {
namespace {

constexpr uint16_t kAttribute = 0x07 << 8;  // light grey on black
constexpr uint64_t kBlankCells = 0x0720'0720'0720'0720ull;  // four blanks, for whole-quadword clears

// The colour text window at 0xB8000 is 32 KiB (graphics controller memory map 3): 16 384 cells,
// 204 rows of 80, of which the screen shows the 25 from the start address on.
constexpr uint64_t kTextWindowPhys = 0xB8000;
constexpr uint32_t kTextWindowCells = 0x8000 / sizeof(uint16_t);

volatile uint16_t* g_cells = nullptr;
uint32_t g_columns = 0;
uint32_t g_rows = 0;
uint32_t g_column = 0;
uint32_t g_row = 0;
uint32_t g_origin = 0;          // the cell at the screen's top left: the start address
uint32_t g_capacity_cells = 0;  // cells the screen may scroll through before moving back to 0

// CRT controller: an index register and a data register; indices 0x0C/0x0D hold the start
// address (the cell shown at the top left), 0x0E/0x0F the cursor position, both high byte first.
constexpr uint16_t kCrtcIndex = 0x3D4, kCrtcData = 0x3D5;
constexpr uint8_t kStartHigh = 0x0C, kStartLow = 0x0D, kCursorHigh = 0x0E, kCursorLow = 0x0F;

void write_crtc_pair(uint8_t high_index, uint8_t low_index, uint32_t value) {
    arch::port_write8(kCrtcIndex, low_index);
    arch::port_write8(kCrtcData, value & 0xFF);
    arch::port_write8(kCrtcIndex, high_index);
    arch::port_write8(kCrtcData, (value >> 8) & 0xFF);
}

uint16_t cursor_position() { return static_cast<uint16_t>(g_origin + g_row * g_columns + g_column); }

// Where the CRT controller's cursor was last put. A line is written in several pieces (klog's
// time, the text, the newline); the cursor moves once, when the console lets go, which saves
// four port writes per piece: under an emulator each is an exit to the host.
uint16_t g_cursor_shown = 0;

void move_cursor() {
    g_cursor_shown = cursor_position();
    write_crtc_pair(kCursorHigh, kCursorLow, g_cursor_shown);
}

void clear_cells(uint32_t first, uint32_t count) {
    uint32_t i = first;
    // Quadwords where aligned: an 80-column row is 20 stores instead of 80.
    for (; i < first + count && i % 4 != 0; ++i) g_cells[i] = kAttribute | ' ';
    auto* quads = reinterpret_cast<volatile uint64_t*>(const_cast<uint16_t*>(g_cells) + i);
    for (; i + 4 <= first + count; i += 4) *quads++ = kBlankCells;
    for (; i < first + count; ++i) g_cells[i] = kAttribute | ' ';
}

// Scrolling moves the start address down a row and clears the row that appears, so a line costs
// the row's clear and four port writes instead of moving the whole screen (under TCG each cell of
// VGA memory read or written is a device access). Once the window is used up (every ~180 lines)
// the screen is moved back to its start in one block move.
void new_line() {
    g_column = 0;
    if (++g_row < g_rows) return;
    g_row = g_rows - 1;
    const uint32_t screen_cells = g_rows * g_columns;
    if (g_origin + screen_cells + g_columns <= g_capacity_cells) {
        g_origin += g_columns;
    } else {
        auto* cells = const_cast<uint16_t*>(g_cells);
        __builtin_memmove(cells, cells + g_origin + g_columns, (screen_cells - g_columns) * sizeof(uint16_t));
        g_origin = 0;
    }
    clear_cells(g_origin + screen_cells - g_columns, g_columns);
    write_crtc_pair(kStartHigh, kStartLow, g_origin);
}

// What write() does with a byte below this other than show it: \b, \t, \n, \r.
constexpr uint8_t kFirstShownWithoutCheck = '\r' + 1;

}  // namespace

void init(uint64_t buffer_phys, uint32_t columns, uint32_t rows) {
    g_cells = reinterpret_cast<volatile uint16_t*>(buffer_phys);
    g_columns = columns;
    g_rows = rows;
    // Only the standard window is known to hold more than the screen.
    g_capacity_cells = buffer_phys == kTextWindowPhys && columns * rows <= kTextWindowCells
                           ? kTextWindowCells / columns * columns
                           : columns * rows;
    g_origin = 0;
    clear_cells(0, columns * rows);
    g_row = g_column = 0;
    write_crtc_pair(kStartHigh, kStartLow, g_origin);
    move_cursor();
}

bool active() { return g_cells != nullptr; }

void write(const char* text, size_t length) {
    if (!g_cells) return;
    for (size_t i = 0; i < length;) {
        const char c = text[i];
        if (static_cast<uint8_t>(c) >= kFirstShownWithoutCheck || (c != '\n' && c != '\r' && c != '\b' && c != '\t')) {
            // A run of shown characters up to the row's end, stored without the per-character
            // state updates.
            volatile uint16_t* cell = g_cells + g_origin + g_row * g_columns + g_column;
            const size_t room = g_columns - g_column;
            size_t run = 0;
            for (; run < room && i + run < length; ++run) {
                const char shown = text[i + run];
                if (static_cast<uint8_t>(shown) < kFirstShownWithoutCheck &&
                    (shown == '\n' || shown == '\r' || shown == '\b' || shown == '\t'))
                    break;
                cell[run] = kAttribute | static_cast<uint8_t>(shown);
            }
            i += run;
            g_column += static_cast<uint32_t>(run);
            if (g_column >= g_columns) new_line();
            continue;
        }
        ++i;
        if (c == '\n') {
            new_line();
        } else if (c == '\r') {
            g_column = 0;
        } else if (c == '\b') {
            if (g_column > 0) --g_column;  // the line editor erases with "\b \b"
        } else {  // '\t'
            do g_cells[g_origin + g_row * g_columns + g_column] = kAttribute | ' ';
            while (++g_column % 8 != 0 && g_column < g_columns);
            if (g_column >= g_columns) new_line();
        }
    }
}

void show_cursor() {
    if (g_cells && cursor_position() != g_cursor_shown) move_cursor();
}

uint32_t rows() { return g_cells ? g_rows : 0; }

void row_text(uint32_t row, char* out, size_t capacity) {
    if (capacity == 0) return;
    size_t length = 0;
    if (g_cells && row < g_rows)
        for (uint32_t column = 0; column < g_columns && length + 1 < capacity; ++column)
            out[length++] = static_cast<char>(g_cells[g_origin + row * g_columns + column] & 0xFF);
    while (length > 0 && out[length - 1] == ' ') --length;
    out[length] = '\0';
}

namespace {
uint16_t read_crtc_pair(uint8_t high_index, uint8_t low_index) {
    arch::port_write8(kCrtcIndex, high_index);
    uint16_t value = static_cast<uint16_t>(arch::port_read8(kCrtcData) << 8);
    arch::port_write8(kCrtcIndex, low_index);
    return value | arch::port_read8(kCrtcData);
}
}  // namespace

bool hardware_cursor_matches() {
    if (!g_cells) return false;
    return read_crtc_pair(kCursorHigh, kCursorLow) == cursor_position() &&
           read_crtc_pair(kStartHigh, kStartLow) == g_origin;
}

}  // namespace drivers::vga_text

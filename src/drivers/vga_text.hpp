// VGA text-mode console (80x25 at 0xB8000), present when GRUB leaves a BIOS machine in text mode.
#pragma once

#include <stddef.h>
#include <stdint.h>

namespace drivers::vga_text {

void init(uint64_t buffer_phys, uint32_t columns, uint32_t rows);
bool active();
// Callers serialise these (the console lock): the cells and the cursor are one state. write()
// leaves the hardware cursor where it was; show_cursor() moves it to the end of what was written.
void write(const char* text, size_t length);
void show_cursor();

// Reading the screen back, for the console self test.
uint32_t rows();
// Copies the characters of `row` (at most `capacity` - 1, trailing blanks dropped), NUL-ended.
void row_text(uint32_t row, char* out, size_t capacity);
// True if the CRT controller's cursor is where the driver believes it writes next, and the
// screen it shows starts where row_text reads.
bool hardware_cursor_matches();

}  // namespace drivers::vga_text

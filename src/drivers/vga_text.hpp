// VGA text-mode console (80x25 at 0xB8000), present when GRUB leaves a BIOS machine in text mode.
#pragma once

#include <stddef.h>
#include <stdint.h>

namespace drivers::vga_text {

void init(uint64_t buffer_phys, uint32_t columns, uint32_t rows);
bool active();
void write(const char* text, size_t length);

}  // namespace drivers::vga_text

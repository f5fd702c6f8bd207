// The framebuffer text console: the kernel's one instance of drivers::FramebufferText, with
// static cells for its character grid (so it works before there is a heap) and the
// write-combining fence. The kernel decides when the framebuffer is reachable and hands it over
// (kernel/display.cpp).
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "drivers/framebuffer_text.hpp"

namespace drivers::framebuffer_console {

// Starts the console on a framebuffer of this layout; nothing is drawn until set_screen().
kstd::Result<bool, LayoutError> init(const PixelLayout& layout);
bool active();
// Gives the console up (it writes nothing from then on).
void stop();

// Callers serialise these and write() (the console lock): the grid, the shadow and the screen
// are one state.
void set_screen(uint8_t* pixels);
size_t shadow_bytes();
void set_shadow(kstd::Span<uint32_t> shadow);
unsigned columns();
unsigned rows();
void write(const char* text, size_t length);

// Reading the screen back (as characters), for the console self test: copies the characters of
// screen `row` (at most `capacity` - 1, trailing blanks dropped), NUL-ended.
void row_text(unsigned row, char* out, size_t capacity);

}  // namespace drivers::framebuffer_console

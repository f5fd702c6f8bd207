// The kernel's framebuffer console (see framebuffer_console.hpp).
#include "drivers/framebuffer_console.hpp"

#include "arch/arch.hpp"

namespace drivers::framebuffer_console {
namespace {

char g_cells[kConsoleCells];
FramebufferText g_console;
bool g_active = false;

}  // namespace

kstd::Result<bool, LayoutError> init(const PixelLayout& layout) {
    auto started = g_console.init(layout, g_cells);
    g_active = started.ok();
    return started;
}

bool active() { return g_active; }
void stop() { g_active = false; }

void set_screen(uint8_t* pixels) {
    if (!g_active) return;
    g_console.set_screen(pixels);
    arch::write_combining_fence();
}

size_t shadow_bytes() { return g_console.shadow_bytes(); }

void set_shadow(kstd::Span<uint32_t> shadow) {
    if (!g_active) return;
    g_console.set_shadow(shadow);
    arch::write_combining_fence();
}

unsigned columns() { return g_console.grid().columns(); }
unsigned rows() { return g_console.grid().rows(); }

void write(const char* text, size_t length) {
    if (!g_active) return;
    g_console.write(text, length);
    arch::write_combining_fence();
}

void row_text(unsigned row, char* out, size_t capacity) {
    if (capacity == 0) return;
    const TextGrid& grid = g_console.grid();
    size_t length = 0;
    if (g_active && row < grid.rows()) {
        const char* cells = grid.slot_cells(grid.slot_of_row(row));
        for (unsigned column = 0; column < grid.columns() && length + 1 < capacity; ++column)
            out[length++] = cells[column];
    }
    while (length > 0 && out[length - 1] == ' ') --length;
    out[length] = '\0';
}

}  // namespace drivers::framebuffer_console

// PS/2 keyboard (see ps2_keyboard.hpp).
#include "drivers/ps2_keyboard.hpp"

#include <stdint.h>

#include "arch/arch.hpp"
#include "drivers/console_input.hpp"

namespace drivers::ps2_keyboard {
namespace {

constexpr uint16_t kDataPort = 0x60, kStatusPort = 0x64;
constexpr uint8_t kStatusOutputFull = 0x01;
constexpr uint8_t kReleased = 0x80;
constexpr uint8_t kLeftShift = 0x2A, kRightShift = 0x36;
constexpr uint8_t kControl = 0x1D;  // left Ctrl; right Ctrl is the same code after an 0xE0 prefix

// Set-1 make codes of the main block, unshifted and shifted.
constexpr char kKeymap[] = "\0\0331234567890-=\b\tqwertyuiop[]\n\0asdfghjkl;'`\0\\zxcvbnm,./\0*\0 ";
constexpr char kKeymapShift[] = "\0\033!@#$%^&*()_+\b\tQWERTYUIOP{}\n\0ASDFGHJKL:\"~\0|ZXCVBNM<>?\0*\0 ";
// Touched only by the IRQ handler, which runs on one CPU at a time.
bool g_shift = false;
bool g_control = false;

}  // namespace

void init() {
    while (arch::port_read8(kStatusPort) & kStatusOutputFull) arch::port_read8(kDataPort);
}

void on_interrupt() {
    const uint8_t scancode = arch::port_read8(kDataPort);
    const bool released = scancode & kReleased;
    const uint8_t key = scancode & ~kReleased;
    if (key == kLeftShift || key == kRightShift) {
        g_shift = !released;
    } else if (key == kControl) {
        g_control = !released;
    } else if (!released && key < sizeof(kKeymap) - 1) {
        char c = (g_shift ? kKeymapShift : kKeymap)[key];
        // Ctrl with a letter gives its ASCII control code: Ctrl-D (0x04) ends input.
        if (g_control && ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))) c = static_cast<char>(c & 0x1F);
        if (c) console_input::push(c);
    }
}

}  // namespace drivers::ps2_keyboard

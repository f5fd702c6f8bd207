// 16550 UART driver: polled output, interrupt-driven input into the console input ring.
// Register map from the PC16550D datasheet: base+0 data/divisor-low, +1 IER/divisor-high,
// +2 FCR, +3 LCR, +4 MCR, +5 LSR.
#include "drivers/uart16550.hpp"

#include "arch/arch.hpp"
#include "drivers/console_input.hpp"

namespace drivers::uart16550 {
namespace {

uint8_t inb(uint16_t port) { return arch::port_read8(port); }
void outb(uint16_t port, uint8_t value) { arch::port_write8(port, value); }

constexpr uint16_t kCom1 = arch::kLegacyCom1Port;
constexpr uint16_t kData = kCom1 + 0, kIer = kCom1 + 1, kFcr = kCom1 + 2, kLcr = kCom1 + 3,
                   kMcr = kCom1 + 4, kLsr = kCom1 + 5;
constexpr uint8_t kLsrDataReady = 0x01, kLsrTransmitEmpty = 0x20;
constexpr uint8_t kIerReceivedData = 0x01;

bool g_present = false;

void put_raw(char c) {
    // Bounded spin: a wedged UART must not hang the kernel's logging.
    for (int i = 0; i < 100000 && !(inb(kLsr) & kLsrTransmitEmpty); ++i) {
    }
    outb(kData, static_cast<uint8_t>(c));
}

}  // namespace

bool init() {
    outb(kIer, 0x00);  // no interrupts yet
    outb(kLcr, 0x80);  // DLAB: next two writes set the divisor
    outb(kData, 0x01); // 115200 / 1
    outb(kIer, 0x00);
    outb(kLcr, 0x03);  // 8 data bits, no parity, 1 stop bit
    outb(kFcr, 0xC7);  // FIFO on, clear both, 14-byte threshold
    // Loopback self-test: a byte written must come back, or there is no UART here.
    outb(kMcr, 0x1E);
    outb(kData, 0xAE);
    g_present = inb(kData) == 0xAE;
    outb(kMcr, 0x0F);  // normal operation: DTR, RTS, OUT1, OUT2 (OUT2 gates the IRQ line)
    return g_present;
}

bool present() { return g_present; }

void write(const char* text, size_t length) {
    if (!g_present) return;
    for (size_t i = 0; i < length; ++i) {
        if (text[i] == '\n') put_raw('\r');  // terminals expect CR LF
        put_raw(text[i]);
    }
}

void enable_receive_interrupt() {
    if (g_present) outb(kIer, kIerReceivedData);
}

void on_interrupt() {
    while (inb(kLsr) & kLsrDataReady) {
        const char c = static_cast<char>(inb(kData));
        console_input::push(c == '\r' ? '\n' : c);  // terminals send CR for Enter
    }
}

}  // namespace drivers::uart16550

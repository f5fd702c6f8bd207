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
constexpr uint16_t kData = kCom1 + 0, kIer = kCom1 + 1, kFcr = kCom1 + 2, kIir = kCom1 + 2,
                   kLcr = kCom1 + 3, kMcr = kCom1 + 4, kLsr = kCom1 + 5;
constexpr uint8_t kLsrDataReady = 0x01, kLsrTransmitEmpty = 0x20;
constexpr uint8_t kIerReceivedData = 0x01;
constexpr uint8_t kIirFifosEnabled = 0xC0;  // both bits: a 16550A whose FIFOs work
constexpr unsigned kTransmitFifoBytes = 16;

bool g_present = false;
// Bytes the transmitter takes after one "empty" answer (LSR bit 5 means the whole FIFO is empty
// in FIFO mode): 16 on a 16550A, 1 on an 8250/16450 or a 16550 with broken FIFOs (IIR 0x80).
// Under an emulator every register access is an exit to the host: asking once per 16 bytes
// instead of once per byte removes half of the serial console's exits.
unsigned g_burst_bytes = 1;
unsigned g_burst_left = 0;  // bytes that may still go before LSR must be asked again

void put_raw(char c) {
    if (g_burst_left == 0) {
        // Bounded spin: a wedged UART must not hang the kernel's logging.
        for (int i = 0; i < 100000 && !(inb(kLsr) & kLsrTransmitEmpty); ++i) {
        }
        g_burst_left = g_burst_bytes;
    }
    --g_burst_left;
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
    g_burst_bytes = (inb(kIir) & kIirFifosEnabled) == kIirFifosEnabled ? kTransmitFifoBytes : 1;
    g_burst_left = 0;
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

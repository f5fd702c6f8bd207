// Console fan-out to the serial port and the screen (VGA text or framebuffer) under one per-CPU-owned lock, and
// the time-stamped klog (see console.hpp).
#include "lib/console.hpp"

#include "arch/arch.hpp"
#include "drivers/framebuffer_console.hpp"
#include "drivers/uart16550.hpp"
#include "drivers/vga_text.hpp"
#include "lib/clock.hpp"
#include "sched/cpu_local.hpp"
#include "lib/format.hpp"

namespace console {
namespace {

// The console lock. `g_owner` is the holding CPU's index + 1 (0: free); `g_depth` counts that
// CPU's nested holds and is touched only by the owner.
unsigned g_owner = 0;
unsigned g_depth = 0;
// 1 once a panic has seized the console: it never lets go, so its lines end one level deeper.
unsigned g_seized_depth = 0;

unsigned this_cpu_token() { return kernel::this_cpu().index + 1; }

// Interrupts must already be off: the owner never changes CPU and no handler on this CPU can
// spin on a lock its own CPU holds.
void acquire(unsigned me) {
    if (__atomic_load_n(&g_owner, __ATOMIC_RELAXED) == me) {
        ++g_depth;
        return;
    }
    for (;;) {
        unsigned expected = 0;
        if (__atomic_compare_exchange_n(&g_owner, &expected, me, false, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED)) break;
        while (__atomic_load_n(&g_owner, __ATOMIC_RELAXED) != 0) arch::cpu_relax();
    }
    g_depth = 1;
}

void release() {
    if (g_depth == g_seized_depth + 1) drivers::vga_text::show_cursor();  // once per hold, not per piece
    if (--g_depth == 0) __atomic_store_n(&g_owner, 0u, __ATOMIC_RELEASE);
}

}  // namespace

Hold::Hold() : m_interrupts_were_enabled(arch::save_and_disable_interrupts()) { acquire(this_cpu_token()); }

Hold::~Hold() {
    release();
    arch::restore_interrupts(m_interrupts_were_enabled);
}

void Sink::flush() {
    if (m_used == 0) return;
    console::write(m_buffer, m_used);  // not FormatSink::write, which calls put()
    m_used = 0;
}

bool seize_for_panic() {
    arch::save_and_disable_interrupts();  // never restored: the panic path ends in a halt
    const unsigned me = this_cpu_token();
    if (__atomic_load_n(&g_owner, __ATOMIC_RELAXED) == me) return false;  // nested in our own hold
    // About a second by the TSC once it is calibrated (far longer than any line takes), a fixed
    // spin count before that.
    const uint64_t tsc_hz = clock::tsc_hz();
    const uint64_t start = arch::timestamp();
    for (uint64_t spins = 0;; ++spins) {
        unsigned expected = 0;
        if (__atomic_compare_exchange_n(&g_owner, &expected, me, false, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED)) {
            g_depth = g_seized_depth = 1;
            return false;
        }
        if (tsc_hz ? arch::timestamp() - start > tsc_hz : spins > 100000000) break;
        arch::cpu_relax();
    }
    __atomic_store_n(&g_owner, me, __ATOMIC_RELEASE);
    g_depth = g_seized_depth = 1;
    return true;
}

void write(const char* text, size_t length) {
    Hold hold;
    // Screens first: once a line is on the serial port it is on the screen too, which is what
    // lets a test compare a screendump with the serial log.
    drivers::vga_text::write(text, length);
    drivers::framebuffer_console::write(text, length);
    drivers::uart16550::write(text, length);
}

void vprint(const char* format, va_list args) {
    Sink sink;
    kstd::vformat(sink, format, args);
}

void print(const char* format, ...) {
    va_list args;
    va_start(args, format);
    vprint(format, args);
    va_end(args);
}

}  // namespace console

void klog(const char* format, ...) {
    const uint64_t ns = clock::log_time_ns();
    console::Hold hold;
    console::print("[%5lu.%06lu] ", ns / 1000000000, ns / 1000 % 1000000);
    va_list args;
    va_start(args, format);
    console::vprint(format, args);
    va_end(args);
    console::write("\n", 1);
}

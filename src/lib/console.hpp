// The kernel console: every output device (serial, VGA text or the framebuffer) behind one print
// call, plus the time-stamped log used for free-form lines. Fixed-shape lines that tools grep
// (banner, boot:, TEST, PANIC, ...; docs/testing.md) use console::print so they start at column 0;
// everything else uses klog, which prefixes seconds since boot.
//
// One lock orders all output: a print call, a klog line or a user write reaches every device
// whole, and the screen cursors are only ever moved under it. The lock belongs to a CPU, not a
// call, so code that holds the console (a console::Hold around a report that takes several calls)
// may go on calling print. Interrupts stay off on the holding CPU: an interrupt handler that
// prints cannot deadlock against the code it interrupted.
#pragma once

#include <stdarg.h>
#include <stddef.h>

#include "lib/format.hpp"

namespace console {

void write(const char* text, size_t length);
void print(const char* format, ...) __attribute__((format(printf, 1, 2)));
void vprint(const char* format, va_list args);

// Holds the console on this CPU for its lifetime, so several print calls form one block that no
// other CPU's output splits.
class Hold {
public:
    Hold();
    ~Hold();
    Hold(const Hold&) = delete;
    Hold& operator=(const Hold&) = delete;

private:
    bool m_interrupts_were_enabled;
};

// A format sink onto the console that hands each device one call per line (or per full buffer)
// instead of one per character; it holds the console for its lifetime.
class Sink final : public kstd::FormatSink {
public:
    ~Sink() { flush(); }
    void put(char c) override {
        m_buffer[m_used++] = c;
        if (c == '\n' || m_used == sizeof(m_buffer)) flush();
    }
    void flush();

private:
    Hold m_hold;
    char m_buffer[256];
    size_t m_used = 0;
};

// For the panic path, which never gives the console back: waits a bounded time for whoever holds
// it (another CPU may have died holding it, or this CPU faulted inside a print), then takes it
// by force. Returns true if it had to force it.
bool seize_for_panic();

}  // namespace console

// "[    1.234567] message\n" — the time stamp is TSC-based once the clock is calibrated and
// comes from the calibration's reference (the PIT) before that. Appends the newline itself; the line reaches each device whole.
void klog(const char* format, ...) __attribute__((format(printf, 1, 2)));

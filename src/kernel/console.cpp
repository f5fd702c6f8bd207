// Console fan-out to the serial port and the VGA text screen, and the time-stamped klog.
#include "console.hpp"

#include "drivers/uart16550.hpp"
#include "drivers/vga_text.hpp"
#include "kernel/clock.hpp"
#include "lib/format.hpp"

namespace console {
namespace {

// Buffers a line so each device gets one write call per line rather than per character.
class ConsoleSink final : public kstd::FormatSink {
public:
    void put(char c) override {
        m_buffer[m_used++] = c;
        if (c == '\n' || m_used == sizeof(m_buffer)) flush();
    }
    void flush() {
        if (m_used == 0) return;
        console::write(m_buffer, m_used);  // not FormatSink::write, which calls put()
        m_used = 0;
    }

private:
    char m_buffer[256];
    size_t m_used = 0;
};

}  // namespace

void write(const char* text, size_t length) {
    drivers::uart16550::write(text, length);
    drivers::vga_text::write(text, length);
}

void vprint(const char* format, va_list args) {
    ConsoleSink sink;
    kstd::vformat(sink, format, args);
    sink.flush();
}

void print(const char* format, ...) {
    va_list args;
    va_start(args, format);
    vprint(format, args);
    va_end(args);
}

}  // namespace console

void klog(const char* format, ...) {
    const uint64_t ns = clock::ns_since_boot();
    console::print("[%5llu.%06llu] ", static_cast<unsigned long long>(ns / 1000000000),
                   static_cast<unsigned long long>(ns / 1000 % 1000000));
    va_list args;
    va_start(args, format);
    console::vprint(format, args);
    va_end(args);
    console::write("\n", 1);
}

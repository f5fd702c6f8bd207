// printf-style formatting for the kernel console, written once and host-tested against the C
// library: conversions %d %i %u %x %X %p %s %c %%, flags '-' and '0', a width (or '*'), a
// precision for %s, and length modifiers l, ll, z (so 64-bit values print whole). User programs
// and host builds also get %f with a precision (exact digits, at most 60 places); the kernel, built
// without floating point, prints "%f" as an unknown conversion.
#pragma once

#include <stdarg.h>
#include <stddef.h>

namespace kstd {

// Receives formatted characters; the console, a fixed buffer and the tests each provide one.
class FormatSink {
public:
    virtual void put(char c) = 0;
    virtual void write(const char* text, size_t length) {
        for (size_t i = 0; i < length; ++i) put(text[i]);
    }

protected:
    ~FormatSink() = default;
};

// Returns the number of characters produced.
size_t vformat(FormatSink& sink, const char* format, va_list args);
size_t format(FormatSink& sink, const char* format, ...) __attribute__((format(printf, 2, 3)));

// Like snprintf: always NUL-terminates when capacity > 0 and returns the untruncated length.
size_t vformat_to_buffer(char* buffer, size_t capacity, const char* format, va_list args);
size_t format_to_buffer(char* buffer, size_t capacity, const char* format, ...)
    __attribute__((format(printf, 3, 4)));

}  // namespace kstd

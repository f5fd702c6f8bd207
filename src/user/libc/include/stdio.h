/*
 * Formatted output on descriptors, without FILE streams. Each call formats into a small buffer and
 * writes it before returning (one write per call unless the text is longer than the buffer), so
 * nothing stays buffered across calls, a fork never duplicates pending output, and fd 2 is
 * effectively unbuffered. Conversions: %d %i %u %x %X %p %s %c %%, flags '-' '0', width (or *),
 * precision for %s, length l ll z (src/lib/format.hpp, shared with the kernel).
 */
#ifndef SABLE_LIBC_STDIO_H
#define SABLE_LIBC_STDIO_H

#include <stdarg.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#define EOF (-1)

int putchar(int c);
int puts(const char* s);
int printf(const char* format, ...) __attribute__((format(printf, 1, 2)));
int vprintf(const char* format, va_list args);
int dprintf(int fd, const char* format, ...) __attribute__((format(printf, 2, 3)));
int vdprintf(int fd, const char* format, va_list args);
int snprintf(char* buffer, size_t size, const char* format, ...)
    __attribute__((format(printf, 3, 4)));
int vsnprintf(char* buffer, size_t size, const char* format, va_list args);

/*
 * Reads one line from fd into buf (at most n - 1 bytes, NUL-terminated), keeping the '\n'.
 * Returns the bytes stored; 0 at end of file; -1 with errno on error. A line longer than n - 1
 * comes back in pieces. Bytes read past the line wait in a per-descriptor buffer for the next
 * call, so it works on pipes as well as on the console (which returns one line per read).
 */
long read_line(int fd, char* buf, size_t n);

#ifdef __cplusplus
}
#endif

#endif /* SABLE_LIBC_STDIO_H */

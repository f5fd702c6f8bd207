// The kernel console: every output device (serial, VGA text) behind one print call, plus the
// time-stamped log used for free-form lines. Fixed-shape lines that tools grep
// (../shared/design/log-format.md: banner, boot:, TEST, PANIC, ...) use console::print so they
// start at column 0; everything else uses klog, which prefixes seconds since boot.
#pragma once

#include <stdarg.h>
#include <stddef.h>

namespace console {

void write(const char* text, size_t length);
void print(const char* format, ...) __attribute__((format(printf, 1, 2)));
void vprint(const char* format, va_list args);

}  // namespace console

// "[    1.234567] message\n" — the time stamp is TSC-based once the clock is calibrated and
// reads 0 before that. Appends the newline itself.
void klog(const char* format, ...) __attribute__((format(printf, 1, 2)));

// panic(): the kernel cannot go on. Prints "PANIC: <message>", the registers it can see and a
// backtrace, stops every CPU, and in test mode ends QEMU with a failure verdict.
#pragma once

[[noreturn]] void panic(const char* format, ...) __attribute__((format(printf, 1, 2)));

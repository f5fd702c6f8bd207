// panic(): the kernel cannot go on. Declared here, at the bottom, so every module may stop the
// machine with a message; the kernel implements it (src/kernel/panic.cpp: "PANIC: <message>",
// registers, a symbolized backtrace, every CPU stopped). Host tests link their own, which fails
// the test.
#pragma once

[[noreturn]] void panic(const char* format, ...) __attribute__((format(printf, 1, 2)));

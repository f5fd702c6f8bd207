// panic(): the kernel cannot go on. Prints "PANIC: <message>", the registers it can see and a
// symbolized backtrace, stops every CPU, and in test mode ends QEMU with a failure verdict.
#pragma once

#include <stdint.h>

[[noreturn]] void panic(const char* format, ...) __attribute__((format(printf, 1, 2)));

namespace kernel {

// Pieces of panic() shared with the CPU-exception path (arch/x86_64/trap.cpp), which prints its
// own register dump between them.
// Returns false if a panic is already under way: the caller must just halt.
bool panic_begin();
// "  #n 0x... symbol+0x..": the faulting RIP first, then the saved frame pointers from `rbp`.
void print_backtrace(uint64_t rip, uint64_t rbp);
// Prints "<address> <symbol+offset>" for one address (no newline).
void print_symbolized(uint64_t address);
[[noreturn]] void panic_end();

}  // namespace kernel

// The kernel's side of panic() (declared in lib/panic.hpp): the report of an exception nothing
// can resolve, and the backtrace both print. In test mode a panic ends QEMU with a failure.
#pragma once

#include <stdint.h>

#include "lib/panic.hpp"

namespace kernel {

// Registers the report for exceptions nothing can resolve (arch::set_kernel_exception_handler):
// "PANIC: <exception> in kernel mode at <rip symbol>", the arch's register dump and a
// symbolized backtrace, then the end of panic(). Called before the IDT is loaded.
void init_panic_on_exceptions();
// "  #n 0x... symbol+0x..": the faulting RIP first, then the saved frame pointers from `rbp`.
void print_backtrace(uint64_t rip, uint64_t rbp);
// Prints "<address> <symbol+offset>" for one address (no newline).
void print_symbolized(uint64_t address);

// The stack protector's canary (stack_protector.cpp), from arch::boot_entropy: set first thing
// in kernel_main. stack_canary_source() says where it came from ("rdrand", "tsc").
void init_stack_protector();
const char* stack_canary_source();

}  // namespace kernel

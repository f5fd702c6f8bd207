// The kernel's side of panic() (declared in lib/panic.hpp): the report of an exception nothing
// can resolve, and the backtrace both print. In test mode a panic ends QEMU with a failure.
#pragma once

#include <stdint.h>

#include "lib/panic.hpp"
#include "lib/unwind.hpp"

namespace arch {
struct TrapFrame;
}

namespace kernel {

// Registers the report for exceptions nothing can resolve (arch::set_kernel_exception_handler):
// "PANIC: <exception> in kernel mode at <rip symbol>", the arch's register dump and a
// symbolized backtrace, then the end of panic(). Called before the IDT is loaded.
void init_panic_on_exceptions();
// A panic about an interrupted context rather than the caller's: "PANIC: <message> at <rip
// symbol>", the frame's registers and the backtrace from it, then the end of panic(). Used where
// the culprit is the code a handler interrupted (the watchdog's NMI into a stuck CPU).
[[noreturn]] void panic_at_frame(const arch::TrapFrame* frame, const char* format, ...)
    __attribute__((format(printf, 2, 3)));
// True once a panic has begun on any CPU (the other CPUs are being stopped).
bool panic_in_progress();
// Where a backtrace from a trap frame starts: the interrupted instruction, stack and frame pointer.
kstd::UnwindFrame frame_of(const arch::TrapFrame* frame);
// The stack a backtrace from `stack_pointer` may read: up to the top of the running task's stack
// if it lies on it, else within the identity-mapped low 4 GiB.
kstd::StackWindow stack_window_of(uint64_t stack_pointer);
// "  #n 0x... symbol+0x..": the stopped instruction first, then each caller found by the unwind
// table (lib/unwind.hpp) from `start`.
void print_backtrace(const kstd::UnwindFrame& start);
// Prints "<address> <symbol+offset>" for one address (no newline).
void print_symbolized(uint64_t address);

// The stack protector's canary (stack_protector.cpp), from arch::boot_entropy: set first thing
// in kernel_main. stack_canary_source() says where it came from ("rdrand", "tsc").
void init_stack_protector();
const char* stack_canary_source();

}  // namespace kernel

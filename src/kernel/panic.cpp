// Kernel panic path (see panic.hpp). Kept free of anything that could itself fail: no heap, no
// locks that might be held by the code that panicked.
#include "panic.hpp"

#include <stdarg.h>

#include "arch/arch.hpp"
#include "kernel/console.hpp"
#include "kernel/selftest.hpp"

namespace {
bool g_panicking = false;

void print_frame(uint64_t return_address, void* ctx) {
    auto* depth = static_cast<unsigned*>(ctx);
    console::print("  #%u %p\n", (*depth)++, reinterpret_cast<void*>(return_address));
}
}  // namespace

__attribute__((noinline)) void panic(const char* format, ...) {
    arch::RegisterSnapshot regs;
    arch::capture_registers(regs);
    // A panic while panicking (say, the console faulted) must not recurse forever.
    if (g_panicking) arch::halt_forever();
    g_panicking = true;
    arch::stop_other_cpus();

    console::print("PANIC: ");
    va_list args;
    va_start(args, format);
    console::vprint(format, args);
    va_end(args);
    console::print("\n");
    console::print("  rip=%p rsp=%p rbp=%p rflags=%p\n", reinterpret_cast<void*>(regs.rip),
                   reinterpret_cast<void*>(regs.rsp), reinterpret_cast<void*>(regs.rbp),
                   reinterpret_cast<void*>(regs.rflags));
    console::print("  cr0=%p cr2=%p cr3=%p cr4=%p efer=%p\n", reinterpret_cast<void*>(regs.cr0),
                   reinterpret_cast<void*>(regs.cr2), reinterpret_cast<void*>(regs.cr3),
                   reinterpret_cast<void*>(regs.cr4), reinterpret_cast<void*>(regs.efer));
    console::print("  backtrace (return addresses; symbols arrive with the interrupts issue):\n");
    unsigned depth = 0;
    print_frame(regs.rip, &depth);
    arch::walk_stack(regs.rbp, 32, print_frame, &depth);

    if (selftest::test_mode()) {
        console::print("TESTS %u passed, %u failed\n", selftest::passed_count(),
                       selftest::failed_count() + 1);
        arch::exit_emulator(false);
    }
    console::print("System halted.\n");
    arch::halt_forever();
}

// Kernel panic path (see panic.hpp): panic() and the report of an exception nothing can resolve.
// Kept free of anything that could itself fail: no heap, and the one lock it needs, the
// console's, is taken by force if its holder does not let go.
#include "kernel/panic.hpp"

#include <stdarg.h>

#include "arch/arch.hpp"
#include "lib/console.hpp"
#include "lib/string_view.hpp"
#include "kernel/selftest/selftest.hpp"
#include "kernel/symbols.hpp"
#include "sched/cpu_local.hpp"
#include "sched/tasks.hpp"

namespace kernel {
namespace {

bool g_panicking = false;

void print_frame(uint64_t return_address, void* ctx) {
    auto* depth = static_cast<unsigned*>(ctx);
    console::print("  #%u ", (*depth)++);
    // A return address points after the call: look up the call itself.
    print_symbolized(return_address - 1);
    console::print("\n");
}

// Returns false if a panic is already under way (this is a CPU stopped by the panicking one's
// NMI, or a second CPU panicking at once): the caller must just halt.
bool panic_begin() {
    if (__atomic_exchange_n(&g_panicking, true, __ATOMIC_ACQ_REL)) return false;
    arch::stop_other_cpus();
    // A CPU stopped in the middle of a line leaves it unfinished: start the report on a fresh one.
    if (console::seize_for_panic()) console::write("\n", 1);
    return true;
}

[[noreturn]] void panic_end() {
    if (selftest::test_mode()) {
        console::print("TESTS %u passed, %u failed, %u skipped\n", selftest::passed_count(), selftest::failed_count() + 1,
                       selftest::skipped_count());
        arch::exit_emulator(false);
    }
    console::print("System halted.\n");
    arch::halt_forever();
}

[[noreturn]] void report_kernel_exception(const arch::TrapFrame* frame, unsigned vector, uint64_t error_code) {
    if (!panic_begin()) arch::halt_forever();
    uint64_t user_address = 0;
    const char* protection = arch::broken_protection(frame, vector, error_code, &user_address);
    if (protection)
        console::print("PANIC: kernel %s user memory at %p outside a user copy (%s) at ",
                       kstd::StringView(protection) == "SMEP" ? "executed" : "touched",
                       reinterpret_cast<void*>(user_address), protection);
    else
        console::print("PANIC: %s in kernel mode at ", arch::exception_name(vector));
    print_symbolized(arch::frame_instruction_pointer(frame));
    console::print("\n");
    {
        console::Sink out;
        arch::describe_exception(out, frame, vector, error_code);
    }
    print_backtrace(frame_of(frame));
    panic_end();
}

}  // namespace

void init_panic_on_exceptions() { arch::set_kernel_exception_handler(report_kernel_exception); }

void panic_at_frame(const arch::TrapFrame* frame, const char* format, ...) {
    if (!panic_begin()) arch::halt_forever();
    console::print("PANIC: ");
    va_list args;
    va_start(args, format);
    console::vprint(format, args);
    va_end(args);
    console::print(" at ");
    print_symbolized(arch::frame_instruction_pointer(frame));
    console::print("\n");
    {
        console::Sink out;
        arch::describe_registers(out, frame);
    }
    print_backtrace(frame_of(frame));
    panic_end();
}

bool panic_in_progress() { return __atomic_load_n(&g_panicking, __ATOMIC_ACQUIRE); }

void print_symbolized(uint64_t address) {
    console::print("%p", reinterpret_cast<void*>(address));
    const kstd::SymbolMatch match = symbols::lookup(address);
    if (!match.name.empty())
        console::print(" %.*s+0x%lx", static_cast<int>(match.name.size()), match.name.data(), match.offset);
}

kstd::UnwindFrame frame_of(const arch::TrapFrame* frame) {
    return {arch::frame_instruction_pointer(frame), arch::frame_stack_pointer(frame), arch::frame_base_pointer(frame)};
}

kstd::StackWindow stack_window_of(uint64_t stack_pointer) {
    const auto* task = static_cast<const tasks::KernelTask*>(this_cpu().current_task);
    if (task && task->stack.top != 0 && stack_pointer >= task->stack.bottom && stack_pointer < task->stack.top)
        return {stack_pointer, task->stack.top};
    // Another stack (the boot stack, an exception's own stack): only what the boot page tables
    // identity-map, so a walk never reads an unmapped page while panicking.
    constexpr uint64_t kIdentityMappedLimit = 1ull << 32;
    return {stack_pointer, stack_pointer < kIdentityMappedLimit ? kIdentityMappedLimit : stack_pointer};
}

void print_backtrace(const kstd::UnwindFrame& start) {
    console::print("  backtrace:\n");
    unsigned depth = 0;
    console::print("  #%u ", depth++);
    print_symbolized(start.instruction_pointer);
    console::print("\n");
    symbols::unwind_table().walk(start, stack_window_of(start.stack_pointer), 32,
                                 [&](uint64_t return_address) { print_frame(return_address, &depth); });
}

}  // namespace kernel

__attribute__((noinline)) void panic(const char* format, ...) {
    arch::RegisterSnapshot regs;
    arch::capture_registers(regs);
    // A panic while panicking (say, the console faulted) must not recurse forever.
    if (!kernel::panic_begin()) arch::halt_forever();

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
    kernel::print_backtrace({regs.rip, regs.rsp, regs.rbp});
    kernel::panic_end();
}

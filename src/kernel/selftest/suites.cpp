// The self-test suites the kernel knows (sable.test=<name>). Each suite checks one area on the
// real machine; host-side unit tests cover the same portable code in more depth.
#include <stdint.h>

#include <arch/boot_layout.hpp>
#include <arch/cpu.hpp>
#include <arch/interrupt_controllers.hpp>

#include "arch/arch.hpp"
#include "kernel/boot_context.hpp"
#include "lib/console.hpp"
#include "kernel/interrupts.hpp"
#include "sched/cpu_local.hpp"
#include "smp/bring_up.hpp"
#include "sched/tasks.hpp"
#include "lib/clock.hpp"
#include "kernel/panic.hpp"
#include "mm/kernel_address_space.hpp"
#include "mm/user_memory.hpp"
#include "proc/files.hpp"
#include "proc/process.hpp"
#include "proc/programs.hpp"
#include "kernel/selftest/selftest.hpp"
#include "lib/cmdline.hpp"
#include "lib/spinlock.hpp"
#include "lib/format.hpp"
#include "lib/string_view.hpp"

namespace selftest {
void mm_suite(Context& context);     // mm_suite.cpp
void sched_suite(Context& context);  // sched_suite.cpp
void smp_suite(Context& context);    // smp_suite.cpp
void user_suite(Context& context);   // user_suite.cpp
void console_suite(Context& context);  // console_suite.cpp
void watchdog_suite(Context& context);  // watchdog_suite.cpp
}

namespace {

using selftest::Context;

void boot_suite(Context& t) {
    selftest::report_boot_stages(t);

    // The last stage of a boot: init and the shell are in the image, and a program reaches ring 3
    // and exits cleanly (`true` is init's path without the shell: load, enter, exit, reap).
    const bool have_init = kernel::programs::find("init") && kernel::programs::find("sh");
    t.expect(have_init, "init_and_shell_in_image", "the boot image lacks init or sh");
    {
        const char* const argv[] = {"true"};
        const uint64_t live_tasks = kernel::tasks::live_count();
        const int64_t pid = kernel::process::spawn_from_kernel("true", argv, 1, false);
        const int32_t status = pid < 0 ? -1 : kernel::process::kernel_wait(static_cast<int32_t>(pid));
        t.expect(pid > 0 && status == 0, "user_program_runs", "spawn returned %ld, status %d", pid, status);
        // Its kernel stack returns when the reaper gets to it.
        t.expect(selftest::wait_until_reaped(live_tasks), "user_program_reaped", "%lu tasks left",
                 (kernel::tasks::live_count() - live_tasks));
    }

    const uint64_t efer = arch::x86::rdmsr(arch::x86::kMsrEfer);
    t.expect(!arch::x86::cpu_has_nx() || (efer & arch::x86::kEferNoExecuteEnable), "nx_enabled",
             "CPU has NX but EFER.NXE is clear");

    // The stub identity-maps at least the first 128 MiB (seed layout) with 2 MiB pages.
    bool identity = true;
    uint64_t bad = 0;
    for (uint64_t addr = 0x1000; addr < (128ull << 20); addr += 0x1FF000) {
        uint64_t phys = 0;
        if (reinterpret_cast<uint64_t>(boot_stack_guard) == (addr & ~0xFFFull)) continue;
        if (!arch::translate(addr, &phys) || phys != addr) {
            identity = false;
            bad = addr;
            break;
        }
    }
    t.expect(identity, "identity_map_128mib", "address %lx not identity-mapped", bad);

    uint64_t phys = 0;
    t.expect(!arch::translate(reinterpret_cast<uint64_t>(boot_stack_guard), &phys), "stack_guard_unmapped",
             "boot stack guard page %p is mapped", static_cast<void*>(boot_stack_guard));
    const uint64_t rsp = arch::x86::read_rsp();
    t.expect(rsp > reinterpret_cast<uint64_t>(boot_stack_guard) && rsp <= reinterpret_cast<uint64_t>(boot_stack_top),
             "running_on_boot_stack", "rsp %lx outside the boot stack", rsp);

    const uint64_t hz = clock::tsc_hz();
    t.expect(hz >= 100'000'000ull && hz <= 20'000'000'000ull, "tsc_frequency_plausible",
             "TSC frequency %lu Hz is outside 0.1-20 GHz", hz);
    const uint64_t before = clock::ns_since_boot();
    const uint64_t start_tsc = arch::timestamp();
    while (arch::timestamp() - start_tsc < hz / 1000) arch::x86::cpu_relax();
    t.expect(clock::ns_since_boot() > before, "clock_advances", "ns_since_boot did not move");
}

// The formatter and command-line parser are host-tested; these few cases prove the freestanding
// build (no SSE, no libc) behaves the same.
void lib_suite(Context& t) {
    char buffer[64];
    auto formats_as = [&](const char* expected, const char* name) {
        const bool ok = kstd::StringView(buffer) == kstd::StringView(expected);
        t.expect(ok, name, "got \"%s\", want \"%s\"", buffer, expected);
    };
    kstd::format_to_buffer(buffer, sizeof(buffer), "%llx", 0xfedcba9876543210ull);
    formats_as("fedcba9876543210", "format_hex64");
    kstd::format_to_buffer(buffer, sizeof(buffer), "%lld", static_cast<long long>(INT64_MIN));
    formats_as("-9223372036854775808", "format_int64_min");
    kstd::format_to_buffer(buffer, sizeof(buffer), "[%-5s|%5d|%05u]", "ab", -42, 7u);
    formats_as("[ab   |  -42|00007]", "format_padding");
    kstd::format_to_buffer(buffer, sizeof(buffer), "%p", reinterpret_cast<void*>(0xb8000));
    formats_as("0x00000000000b8000", "format_pointer");

    kstd::CommandLine cmdline("console=ttyS0 sable.test=lib,boot quiet name=\"a b\"");
    t.expect(cmdline.value("sable.test") == "lib,boot", "cmdline_value", "wrong value for sable.test");
    t.expect(cmdline.has("quiet") && !cmdline.has("loud"), "cmdline_flag", "bare word lookup failed");
    t.expect(cmdline.value("name") == "a b", "cmdline_quoted", "quoted value not unquoted");
}

// Interrupts: the LAPIC timer counts at its calibrated rate against the TSC and reloads for the
// configured tick rate, its ticks arrive, and COM1 input arrives by interrupt.
void irq_suite(Context& t) {
    const uint64_t hz = kernel::interrupts::tick_hz();
    const uint64_t lapic_hz = kernel::interrupts::lapic_timer_hz();
    t.expect(lapic_hz >= 1'000'000, "lapic_timer_calibrated", "LAPIC timer at %lu Hz", lapic_hz);

    // The rate is read off the timer's count register over a window shorter than one period
    // (so it wraps at most once), not by counting interrupts: an emulator running late delivers
    // ticks in catch-up bursts, which says nothing about the rate. A window stretched by the
    // host (the TSC shows it) is measured again; a wrong rate never matches.
    // With the counting rate right, a tick every `period_count` counts is `hz` ticks a second.
    const uint32_t period_count = static_cast<uint32_t>(lapic_hz / hz);
    t.expect(arch::x86::lapic_timer_initial() == period_count, "lapic_period_programmed",
             "reload value %u, want %u for %lu Hz", arch::x86::lapic_timer_initial(), period_count, hz);
    const uint64_t window_tsc = clock::tsc_hz() / hz / 4;
    uint64_t measured_hz = 0;
    bool rate_ok = false;
    for (int attempt = 0; attempt < 20 && !rate_ok; ++attempt) {
        const bool were_enabled = arch::save_and_disable_interrupts();
        const uint64_t start_tsc = arch::timestamp();
        const uint32_t start_count = arch::x86::lapic_timer_current();
        while (arch::timestamp() - start_tsc < window_tsc) arch::x86::cpu_relax();
        const uint32_t end_count = arch::x86::lapic_timer_current();
        const uint64_t elapsed_tsc = arch::timestamp() - start_tsc;
        arch::restore_interrupts(were_enabled);
        if (elapsed_tsc > window_tsc * 2) continue;  // the host held this vCPU off: measure again
        const uint64_t counted = start_count >= end_count ? start_count - end_count : start_count + (period_count - end_count);
        measured_hz = counted * clock::tsc_hz() / elapsed_tsc;
        rate_ok = measured_hz * 10 >= lapic_hz * 9 && measured_hz * 10 <= lapic_hz * 11;
    }
    t.expect(rate_ok, "lapic_rate_matches_tsc", "timer counts at %lu Hz, calibrated %lu Hz", measured_hz, lapic_hz);

    kernel::tasks::pin_current_to_this_cpu();  // ticks() counts this CPU's ticks
    const uint64_t start_ticks = kernel::interrupts::ticks();
    auto ticked = [start_ticks] { return kernel::interrupts::ticks() >= start_ticks + 3; };
    t.expect(selftest::wait_for(ticked, 5000), "ticks_arrive", "%lu ticks in 5 s",
             (kernel::interrupts::ticks() - start_ticks));
    kernel::tasks::unpin_current();
}

// Needs the harness to type a line: tools/run-qemu --serial-input "sable-input-test\n".
void serial_input_suite(Context& t) {
    // The line is read by a task blocked on the input wait queue; the COM1 IRQ wakes it.
    console::print("serial-input: waiting for a line\n");
    static char line[64];
    static kernel::tasks::Completion read;
    const bool spawned = static_cast<bool>(kernel::tasks::spawn("reader", [](uint64_t) {
        kernel::files::read_kernel_line(line, sizeof(line));
        read.signal();
    }, 0));
    if (spawned) read.wait_until(1);  // until the harness types the line
    t.expect(spawned && kstd::StringView(line) == "sable-input-test", "line_received_by_interrupt", "got \"%s\"", line);
}

// Deliberate kernel faults: each must end in a symbolized exception dump and a failure verdict.
__attribute__((noinline)) void fault_divide_suite(Context&) {
    // Plain C++ would not do: the compiler may rewrite 1/x as compares and never divide.
    asm volatile("xor %%ecx, %%ecx\n div %%ecx" ::: "rax", "rcx", "rdx");
}
__attribute__((noinline)) void fault_invalid_opcode_suite(Context&) { asm volatile("ud2"); }
__attribute__((noinline)) void fault_page_suite(Context&) {
    // An unmapped, canonical kernel address: the guard below the first kernel stack slot.
    volatile uint64_t* unmapped = reinterpret_cast<volatile uint64_t*>(0xFFFF800000000000ull);
    *unmapped = 1;
}
// Page 0 is never mapped (kernel_address_space.cpp): a NULL read faults. The empty asm hides
// the null from the compiler, which could otherwise treat the load as unreachable.
__attribute__((noinline)) void fault_null_suite(Context&) {
    const volatile uint64_t* null = nullptr;
    asm volatile("" : "+r"(null));
    (void)*null;
}

// SMAP: the kernel reads a user page outside copy_user. The page is mapped in a fresh user
// address space loaded on this CPU with interrupts off (no switch can load another), so only
// SMAP stands between the read and the page.
__attribute__((noinline)) void smap_violation_suite(Context& t) {
    if (!arch::user_access_prevention_on()) {
        t.skip("smap_violation", "this CPU has no SMAP");
        return;
    }
    auto created = kernel::user_memory::create();
    constexpr uint64_t kUserPage = kernel::user_memory::kUserBase;
    if (!created || !kernel::user_memory::map_new_page(created.value(), kUserPage, mm::kPageWritable)) {
        t.expect(false, "smap_violation", "no memory for a user page");
        return;
    }
    mm::AddressSpace& space = created.value();
    const bool were_enabled = arch::save_and_disable_interrupts();
    arch::load_address_space(space.root().address());
    const uint64_t value = *reinterpret_cast<const volatile uint64_t*>(kUserPage);
    // Reached only if SMAP let the read through.
    arch::load_address_space(kernel::kernel_address_space().root().address());
    arch::restore_interrupts(were_enabled);
    kernel::user_memory::destroy(space);
    t.expect(false, "smap_violation", "the kernel read user page %p (value %lu) without a fault",
             reinterpret_cast<void*>(kUserPage), value);
}

// SMEP: the kernel calls into a user page (holding one `ret`), loaded as for the SMAP case. The
// fetch must fault and panic instead of running user code with kernel rights.
__attribute__((noinline)) void smep_violation_suite(Context& t) {
    if (!arch::user_execution_prevention_on()) {
        t.skip("smep_violation", "this CPU has no SMEP");
        return;
    }
    auto created = kernel::user_memory::create();
    constexpr uint64_t kUserPage = kernel::user_memory::kUserBase;
    constexpr uint8_t kReturnInstruction = 0xC3;
    const uint64_t phys = created ? kernel::user_memory::map_new_page(created.value(), kUserPage, mm::kPageExecutable) : 0;
    if (!phys) {
        t.expect(false, "smep_violation", "no memory for a user page");
        return;
    }
    *kernel::phys_to_virt<uint8_t>(phys) = kReturnInstruction;  // written through the direct map
    mm::AddressSpace& space = created.value();
    const bool were_enabled = arch::save_and_disable_interrupts();
    arch::load_address_space(space.root().address());
    reinterpret_cast<void (*)()>(kUserPage)();
    // Reached only if SMEP let the fetch through.
    arch::load_address_space(kernel::kernel_address_space().root().address());
    arch::restore_interrupts(were_enabled);
    kernel::user_memory::destroy(space);
    t.expect(false, "smep_violation", "the kernel ran user page %p without a fault", reinterpret_cast<void*>(kUserPage));
}

// -fstack-protector-strong gives this function a canary (it has an array); the volatile bound
// keeps the compiler from seeing the writes run past the array, over the canary above it.
__attribute__((noinline)) void smash_own_canary() {
    char buffer[16];
    volatile size_t end = sizeof(buffer) + 16;
    for (size_t i = 0; i < end; ++i) buffer[i] = 0x5A;
    asm volatile("" ::"r"(buffer) : "memory");
}
void stack_smash_suite(Context&) { smash_own_canary(); }

// Each frame keeps 1 KiB live so the compiler cannot turn the recursion into a loop.
#pragma clang diagnostic push
#pragma clang diagnostic ignored "-Winfinite-recursion"
__attribute__((noinline)) uint64_t recurse_forever(uint64_t depth) {
    volatile uint8_t pad[1024];
    pad[depth % sizeof(pad)] = static_cast<uint8_t>(depth);
    return recurse_forever(depth + 1) + pad[0];
}
#pragma clang diagnostic pop
void fault_stack_overflow_suite(Context&) { recurse_forever(0); }

// Deliberately fatal: the harness expects a failure verdict with the panic text on the log.
void panic_suite(Context&) { panic("self-test panic requested (sable.test=panic)"); }

// Deliberately hangs with interrupts off: the harness must end the run as a timeout.
void hang_suite(Context&) {
    arch::halt_forever();
}

// Deliberate breaches of the lock rules. The debug build's checker (lib/lock_debug.hpp) must
// stop each with a panic naming the rule (system tests lockdebug.*); the normal build has no
// checker, and a real breach there would hang, so it reports SKIP without trying.
#if SABLE_LOCK_DEBUG
using kernel::IrqLockGuard;
using kernel::IrqSpinLock;
using kernel::LockLevel;

void lock_order_suite(Context& t) {
    static IrqSpinLock inner{LockLevel::PhysicalMemory}, outer{LockLevel::ProcessTable};
    IrqLockGuard inner_guard(inner);
    IrqLockGuard outer_guard(outer);  // a lower level under a higher one
    t.expect(false, "order_breach_stopped", "the checker let an out-of-order lock through");
}
void lock_recursion_suite(Context& t) {
    static IrqSpinLock lock;
    IrqLockGuard first(lock);
    IrqLockGuard second(lock);  // would spin forever
    t.expect(false, "recursion_stopped", "the checker let a CPU take a lock it holds");
}
void lock_interrupts_suite(Context& t) {
    static IrqSpinLock lock;
    {
        IrqLockGuard guard(lock);
        arch::interrupts_on();  // the release must notice
    }
    t.expect(false, "interrupts_on_stopped", "the checker let interrupts on under an IrqSpinLock");
}
#else
void lock_order_suite(Context& t) { t.skip("order_breach_stopped", "no lock checker in this build"); }
void lock_recursion_suite(Context& t) { t.skip("recursion_stopped", "no lock checker in this build"); }
void lock_interrupts_suite(Context& t) { t.skip("interrupts_on_stopped", "no lock checker in this build"); }
#endif

constexpr selftest::Suite kSuites[] = {
    {"boot", boot_suite, true},
    {"lib", lib_suite, true},
    {"mm", selftest::mm_suite, true},
    {"irq", irq_suite, true},
    {"sched", selftest::sched_suite, true},
    {"smp", selftest::smp_suite, true},
    {"user", selftest::user_suite, true},
    {"console", selftest::console_suite, true},
    {"serial_input", serial_input_suite, false},
    {"panic", panic_suite, false},
    {"fault_de", fault_divide_suite, false},
    {"fault_ud", fault_invalid_opcode_suite, false},
    {"fault_pf", fault_page_suite, false},
    {"fault_stack_overflow", fault_stack_overflow_suite, false},
    {"fault_null", fault_null_suite, false},
    {"smap_violation", smap_violation_suite, false},
    {"smep_violation", smep_violation_suite, false},
    {"stack_smash", stack_smash_suite, false},
    {"hang", hang_suite, false},
    {"lock_order", lock_order_suite, false},
    {"lock_recursion", lock_recursion_suite, false},
    {"lock_interrupts", lock_interrupts_suite, false},
    {"watchdog", selftest::watchdog_suite, false},
};

}  // namespace

kstd::Span<const selftest::Suite> selftest::suites() { return kSuites; }

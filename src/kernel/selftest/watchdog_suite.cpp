// sable.test=watchdog: makes a CPU stuck on purpose, twice, and checks the lockup detector
// reports it (docs/watchdog.md). A task pinned to another CPU spins with interrupts off until
// that CPU's NMI handler has reported it; then one spins in the kernel with interrupts on and
// never schedules. Under sable.watchdog=warn,<s> each report must name that CPU, the stall and a
// frame in the spin function, and no other CPU may be reported; under the default panic mode the
// first report ends the run (system.watchdog.panic_dump checks the PANIC dump on the log). Last,
// 100 NMIs the handler finds stale land on a CPU running a program in ring 3, which must go on.
#include <arch/cpu.hpp>
#include <sable/abi.h>

#include "arch/arch.hpp"
#include "kernel/selftest/selftest.hpp"
#include "kernel/symbols.hpp"
#include "kernel/watchdog.hpp"
#include "lib/clock.hpp"
#include "proc/process.hpp"
#include "sched/cpu_local.hpp"
#include "sched/tasks.hpp"

namespace {

using selftest::Context;

struct Spin {
    unsigned cpu;
    uint64_t reports_before;
    uint64_t longest_ns;  // gives up this long after starting: only a broken watchdog gets here
    bool reported;
    kernel::tasks::Completion done;
};

// The spin itself stays in this function's own instructions (inline loads and `pause`, the clock
// read only every 2^20 rounds), so the NMI lands here and the report's first frame names it.
__attribute__((noinline)) bool spin_until_reported(Spin& spin) {
    const uint64_t& reports = kernel::watchdog::report_count(spin.cpu);
    const uint64_t start_ns = clock::ns_since_boot();
    for (uint64_t round = 1;; ++round) {
        if (__atomic_load_n(&reports, __ATOMIC_ACQUIRE) != spin.reports_before) return true;
        if ((round & 0xFFFFF) == 0 && clock::ns_since_boot() - start_ns > spin.longest_ns) return false;
        arch::x86::cpu_relax();
    }
}

__attribute__((noinline)) void spin_with_interrupts_off(uint64_t argument) {
    Spin& spin = *reinterpret_cast<Spin*>(argument);
    const bool were_enabled = arch::save_and_disable_interrupts();
    spin.reported = spin_until_reported(spin);
    arch::restore_interrupts(were_enabled);
    spin.done.signal();
}

// Interrupts stay on: the tick preempts it, but with nothing else to run here the scheduler
// keeps resuming it, in the kernel, without it ever blocking, yielding or leaving for ring 3.
__attribute__((noinline)) void spin_in_kernel_without_scheduling(uint64_t argument) {
    Spin& spin = *reinterpret_cast<Spin*>(argument);
    spin.reported = spin_until_reported(spin);
    spin.done.signal();
}

// True if one of the report's frames lies in `function` (by the symbol table: the frame's
// symbol starts at the function's address). Return addresses are looked up at the call.
bool report_names(const kernel::watchdog::Report& report, void (*function)(uint64_t)) {
    for (unsigned i = 0; i < sizeof(report.frames) / sizeof(report.frames[0]); ++i) {
        if (report.frames[i] == 0) break;
        const uint64_t address = i == 0 ? report.frames[i] : report.frames[i] - 1;
        const kstd::SymbolMatch match = kernel::symbols::lookup(address);
        if (!match.name.empty() && address - match.offset == reinterpret_cast<uint64_t>(function)) return true;
    }
    return false;
}

// The names a case's checks print.
struct CaseNames {
    const char* task;       // the spinning task's name, in the report
    const char* reported;   // the CPU was reported while it spun
    const char* stall;      // as the right kind of stall
    const char* frame;      // with a frame in the spinning function
};

// Runs `body` as a task pinned to `cpu` and checks the watchdog reported that CPU with `stall`
// and a frame in `body`.
void expect_report(Context& t, const CaseNames& names, unsigned cpu, void (*body)(uint64_t), kstd::Stall stall) {
    static Spin spin;
    spin.cpu = cpu;
    spin.reports_before = kernel::watchdog::report_count(cpu);
    spin.longest_ns = 4 * kernel::watchdog::settings().threshold_ns;
    spin.reported = false;
    spin.done.reset();
    if (!kernel::tasks::spawn(names.task, body, reinterpret_cast<uint64_t>(&spin), cpu, true)) {
        t.expect(false, names.reported, "cannot start a task on CPU %u", cpu);
        return;
    }
    spin.done.wait_until(1);
    t.expect(spin.reported, names.reported, "CPU %u spun %lu s (%s) and was never reported (%lu NMIs dismissed)",
             cpu, spin.longest_ns / 1000000000, kstd::describe(stall), kernel::watchdog::dismissed_count(cpu));
    if (!spin.reported) return;
    const kernel::watchdog::Report report = kernel::watchdog::last_report(cpu);
    t.expect(report.stall == stall, names.stall, "reported as %s, not %s", kstd::describe(report.stall),
             kstd::describe(stall));
    t.expect(report_names(report, body), names.frame, "none of the frames %p %p %p %p is in the spinning task",
             reinterpret_cast<void*>(report.frames[0]), reinterpret_cast<void*>(report.frames[1]),
             reinterpret_cast<void*>(report.frames[2]), reinterpret_cast<void*>(report.frames[3]));
}

// The CPU other than this one that runs a user task now, or kNoCpu.
constexpr unsigned kNoCpu = ~0u;
unsigned cpu_running_user_task() {
    for (unsigned cpu = 0; cpu < kernel::g_cpu_count; ++cpu) {
        if (cpu == kernel::this_cpu().index || kernel::tasks::idle_now(cpu)) continue;
        const auto* task = static_cast<const kernel::tasks::KernelTask*>(
            __atomic_load_n(&kernel::g_cpu_locals[cpu].current_task, __ATOMIC_ACQUIRE));
        if (task && task->process) return cpu;
    }
    return kNoCpu;
}

// NMIs the watchdog finds stale must resume what they interrupted — here a program spinning in
// ring 3, where the NMI entry must swap to the kernel's GS base and back (isr_stubs.S,
// nmi_common): a wrong swap faults in the handler at once, a missing one returns to ring 3
// with the kernel's GS base. The program is then killed as usual. It runs on `target` only: left
// to placement, it went now and then to this CPU (when `target` was briefly the busier one, just
// after the stuck tasks), where the search below, which looks at the other CPUs, never found it.
void nmi_in_ring3(Context& t, unsigned target) {
    const char* argv[] = {"spin"};
    const int64_t pid = kernel::process::spawn_from_kernel("spin", argv, 1, false, kstd::CpuMask::only(target));
    if (pid < 0) {
        t.expect(false, "nmi_in_ring3_resumes", "cannot start spin: %ld", pid);
        return;
    }
    unsigned cpu = kNoCpu;
    auto spinning = [&cpu] { return (cpu = cpu_running_user_task()) != kNoCpu; };
    selftest::wait_for(spinning, 10000);
    constexpr unsigned kNmis = 100;
    unsigned answered = 0;
    uint64_t in_user = 0;
    if (cpu != kNoCpu) {
        const uint64_t in_user_before = kernel::watchdog::dismissed_in_user_count(cpu);
        for (unsigned i = 0; i < kNmis; ++i) {
            const uint64_t before = kernel::watchdog::dismissed_count(cpu);
            kernel::watchdog::send_stale_request(cpu);
            // Bounded only for a broken kernel: an NMI is taken within instructions.
            const uint64_t start_ns = clock::ns_since_boot();
            while (kernel::watchdog::dismissed_count(cpu) == before && clock::ns_since_boot() - start_ns < 2000000000ull)
                arch::x86::cpu_relax();
            answered += kernel::watchdog::dismissed_count(cpu) != before;
        }
        in_user = kernel::watchdog::dismissed_in_user_count(cpu) - in_user_before;
    }
    const bool killed = kernel::process::kill(static_cast<int32_t>(pid)) == 0;
    const int32_t status = kernel::process::kernel_wait(static_cast<int32_t>(pid));
    t.expect(cpu != kNoCpu, "nmi_in_ring3_target", "spin never ran on another CPU");
    t.expect(answered == kNmis && in_user > 0, "nmi_in_ring3_resumes",
             "%u of %u NMIs answered on CPU %u, %lu of them in ring 3", answered, kNmis, cpu, in_user);
    t.expect(killed && status == 256 + SABLE_KILL_SIGNAL, "nmi_in_ring3_program_killed",
             "spin ended with status %d after the NMIs", status);
}

}  // namespace

namespace selftest {

void watchdog_suite(Context& t) {
    const kstd::WatchdogSettings& settings = kernel::watchdog::settings();
    if (!settings.enabled) {
        t.skip("stuck_with_interrupts_off", "the watchdog is off (sable.watchdog=off)");
        t.skip("stuck_in_kernel_without_scheduling", "the watchdog is off (sable.watchdog=off)");
        return;
    }
    // The last CPU: the reaper is pinned to CPU 0, and nothing else of the kernel's is on it.
    const unsigned target = kernel::g_cpu_count - 1;
    if (target == 0 || !kernel::g_cpu_locals[target].online) {
        t.skip("stuck_with_interrupts_off", "one CPU: no other CPU to watch it");
        t.skip("stuck_in_kernel_without_scheduling", "one CPU: no other CPU to watch it");
        return;
    }
    uint64_t others_before[kernel::kMaxCpus];
    for (unsigned i = 0; i < kernel::g_cpu_count; ++i) others_before[i] = kernel::watchdog::report_count(i);

    expect_report(t, {"wd_irqs_off", "stuck_with_interrupts_off", "reported_as_interrupts_off", "interrupts_off_backtrace"}, target,
                  spin_with_interrupts_off, kstd::Stall::InterruptsOff);
    expect_report(t,
                  {"wd_no_schedule", "stuck_in_kernel_without_scheduling", "reported_as_not_scheduling",
                   "not_scheduling_backtrace"},
                  target, spin_in_kernel_without_scheduling, kstd::Stall::NotScheduling);

    nmi_in_ring3(t, target);

    unsigned others_reported = 0;
    for (unsigned i = 0; i < kernel::g_cpu_count; ++i)
        others_reported += i != target && kernel::watchdog::report_count(i) != others_before[i];
    t.expect(others_reported == 0, "no_other_cpu_reported", "%u CPUs that were not stuck were reported", others_reported);
}

}  // namespace selftest

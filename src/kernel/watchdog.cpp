// The lockup detector: the watchers' tick check and the NMI handler's report (see watchdog.hpp).
// The handler runs on the NMI's own stack in whatever state the stuck CPU was in, so it takes no
// lock the stuck code may hold: in panic mode the console is seized as panic() seizes it, in
// warn mode it is taken as every print takes it (docs/watchdog.md says what that costs).
#include "kernel/watchdog.hpp"

#include "arch/arch.hpp"
#include "kernel/panic.hpp"
#include "kernel/symbols.hpp"
#include "lib/clock.hpp"
#include "lib/console.hpp"
#include "sched/cpu_local.hpp"
#include "sched/tasks.hpp"

namespace kernel::watchdog {
namespace {

constexpr unsigned kNobody = ~0u;

kstd::WatchdogSettings g_settings{false, true, kstd::kWatchdogDefaultSeconds * 1000000000ull};  // off until init
unsigned g_tick_hz = 0;

// A watcher's memory of the CPU it watches; touched only by the watching CPU, at its tick.
struct Watcher {
    unsigned watched = kNobody;
    kstd::StallWatch watch;
};
Watcher g_watchers[kMaxCpus];

// A watched CPU's side. The watcher leaves the request (a kstd::Stall) before the NMI; the NMI
// handler takes it, which is how it tells the watchdog's NMI from any other.
struct Watched {
    uint8_t request;
    uint64_t stalled_since_ns;  // the watcher's clock when the stuck value was first seen
    uint64_t stuck_value;       // that value: the tick count, or the tick it last scheduled at
    uint64_t reports;
    uint64_t dismissed;
    uint64_t dismissed_in_user;
    Report last;
};
Watched g_watched[kMaxCpus];

unsigned next_online_after(unsigned self) {
    for (unsigned step = 1; step < g_cpu_count; ++step) {
        const unsigned cpu = (self + step) % g_cpu_count;
        if (g_cpu_locals[cpu].online) return cpu;
    }
    return kNobody;
}

struct FrameRecorder {
    Report* report;
    unsigned next;
};

void record_frame(uint64_t return_address, void* context) {
    auto* recorder = static_cast<FrameRecorder*>(context);
    if (recorder->next < sizeof(recorder->report->frames) / sizeof(recorder->report->frames[0]))
        recorder->report->frames[recorder->next++] = return_address;
}

// On the stuck CPU, in its NMI handler.
bool on_nmi(const arch::TrapFrame* frame) {
    // The panicking CPU's NMI to stop every other: the exception path halts this one.
    if (panic_in_progress()) return false;
    CpuLocal& cpu = this_cpu();
    Watched& self = g_watched[cpu.index];
    const auto stall = static_cast<kstd::Stall>(
        __atomic_exchange_n(&self.request, static_cast<uint8_t>(kstd::Stall::None), __ATOMIC_ACQUIRE));
    if (stall == kstd::Stall::None) return false;
    // The watcher judged at its tick; the stall may have ended since (a tick or a pass through
    // the scheduler since then, interrupts back on, the task on its way to user mode), or this
    // CPU was not running at all while the host ran the others: a CPU that was halted waiting
    // for an interrupt wakes up with the NMI and IF set.
    const bool interrupts_off = stall == kstd::Stall::InterruptsOff;
    const uint64_t value = __atomic_load_n(interrupts_off ? &cpu.ticks : &cpu.scheduled_at_tick, __ATOMIC_RELAXED);
    const bool over = value != self.stuck_value ||
                      (interrupts_off ? arch::frame_interrupts_enabled(frame) : arch::frame_is_user(frame));
    if (over) {
        if (arch::frame_is_user(frame)) __atomic_fetch_add(&self.dismissed_in_user, 1, __ATOMIC_RELAXED);
        __atomic_fetch_add(&self.dismissed, 1, __ATOMIC_RELEASE);
        return true;
    }

    const uint64_t rip = arch::frame_instruction_pointer(frame);
    Report report{stall, {rip, 0, 0, 0}};
    FrameRecorder recorder{&report, 1};
    const kstd::UnwindFrame start = frame_of(frame);
    symbols::unwind_table().walk(start, stack_window_of(start.stack_pointer), 3,
                                 [&](uint64_t return_address) { record_frame(return_address, &recorder); });
    self.last = report;

    const uint64_t stalled_ms = (clock::ns_since_boot() - self.stalled_since_ns) / 1000000;
    const auto* task = static_cast<const tasks::KernelTask*>(cpu.current_task);
    const char* task_name = task ? task->name : "?";
    if (g_settings.panic)
        panic_at_frame(frame, "watchdog: CPU %u stuck: %s for %lu.%lu s, task %s", cpu.index, kstd::describe(stall),
                       stalled_ms / 1000, stalled_ms / 100 % 10, task_name);
    {
        console::Hold hold;
        console::print("watchdog: CPU %u stuck: %s for %lu.%lu s, task %s at ", cpu.index, kstd::describe(stall),
                       stalled_ms / 1000, stalled_ms / 100 % 10, task_name);
        print_symbolized(rip);
        console::print("\n");
        {
            console::Sink out;
            arch::describe_registers(out, frame);
        }
        print_backtrace(start);
    }
    __atomic_fetch_add(&self.reports, 1, __ATOMIC_RELEASE);
    return true;
}

}  // namespace

void init(kstd::StringView setting, unsigned tick_hz) {
    kstd::WatchdogSettings settings;
    if (!kstd::parse_watchdog_setting(setting, settings))
        klog("watchdog: ignoring sable.watchdog=%.*s (words: off, warn, panic, seconds 1-%lu)",
             static_cast<int>(setting.size()), setting.data(), kstd::kWatchdogMaxSeconds);
    g_tick_hz = tick_hz;
    arch::set_nmi_handler(on_nmi);
    // The tick reads these already: the rest first, `enabled` last.
    g_settings.panic = settings.panic;
    g_settings.threshold_ns = settings.threshold_ns;
    __atomic_store_n(&g_settings.enabled, settings.enabled, __ATOMIC_RELEASE);
    if (!settings.enabled) {
        klog("watchdog: off");
        return;
    }
    klog("watchdog: a CPU without a tick or without scheduling for %lu s gets an NMI and %s",
         settings.threshold_ns / 1000000000, settings.panic ? "panics" : "is reported");
}

void on_tick(uint64_t now_ns) {
    if (!__atomic_load_n(&g_settings.enabled, __ATOMIC_ACQUIRE)) return;
    CpuLocal& self = this_cpu();
    const unsigned watched = next_online_after(self.index);
    if (watched == kNobody) return;
    Watcher& watcher = g_watchers[self.index];
    if (watcher.watched != watched) {
        watcher.watched = watched;
        watcher.watch.reset();
    }
    const CpuLocal& target = g_cpu_locals[watched];
    const kstd::WatchedSample sample{__atomic_load_n(&target.ticks, __ATOMIC_RELAXED),
                                     __atomic_load_n(&target.scheduled_at_tick, __ATOMIC_RELAXED)};
    const kstd::StallVerdict verdict = watcher.watch.observe(sample, now_ns, self.ticks, g_settings, g_tick_hz);
    if (verdict.stall == kstd::Stall::None) return;
    g_watched[watched].stalled_since_ns = verdict.since_ns;
    g_watched[watched].stuck_value =
        verdict.stall == kstd::Stall::InterruptsOff ? sample.heartbeat : sample.progress;
    __atomic_store_n(&g_watched[watched].request, static_cast<uint8_t>(verdict.stall), __ATOMIC_RELEASE);
    arch::send_nmi(target.apic_id);
}

const kstd::WatchdogSettings& settings() { return g_settings; }

Report last_report(unsigned cpu) { return g_watched[cpu].last; }
const uint64_t& report_count(unsigned cpu) { return g_watched[cpu].reports; }
uint64_t dismissed_count(unsigned cpu) { return __atomic_load_n(&g_watched[cpu].dismissed, __ATOMIC_ACQUIRE); }
uint64_t dismissed_in_user_count(unsigned cpu) {
    return __atomic_load_n(&g_watched[cpu].dismissed_in_user, __ATOMIC_RELAXED);
}

void send_stale_request(unsigned cpu) {
    Watched& target = g_watched[cpu];
    target.stuck_value = ~0ull;  // no tick count or scheduling mark reaches it: the handler finds it over
    target.stalled_since_ns = clock::ns_since_boot();
    __atomic_store_n(&target.request, static_cast<uint8_t>(kstd::Stall::NotScheduling), __ATOMIC_RELEASE);
    arch::send_nmi(g_cpu_locals[cpu].apic_id);
}

}  // namespace kernel::watchdog

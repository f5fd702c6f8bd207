// sable.test=smp: every CPU online and ticking, kernel tasks spread over all CPUs and never run
// twice at once, a parked CPU woken by an IPI well before its next tick, and a spinlock-guarded
// counter hammered from every CPU.
#include <arch/interrupt_controllers.hpp>

#include "arch/arch.hpp"
#include "lib/clock.hpp"
#include "lib/console.hpp"
#include "sched/cpu_local.hpp"
#include "kernel/interrupts.hpp"
#include "mm/kernel_address_space.hpp"
#include "mm/kernel_stacks.hpp"
#include "mm/physical_memory.hpp"
#include "smp/remote_call.hpp"
#include "kernel/selftest/selftest.hpp"
#include "smp/bring_up.hpp"
#include "lib/spinlock.hpp"
#include "sched/tasks.hpp"

namespace {

using selftest::Context;

void cpus_online(Context& t) {
    const unsigned online = kernel::smp_boot::online_count();
    t.expect(online == kernel::g_cpu_count, "every_cpu_online", "%u of %u CPUs online", online, kernel::g_cpu_count);
    static uint64_t before[kernel::kMaxCpus];
    for (unsigned i = 0; i < kernel::g_cpu_count; ++i) before[i] = __atomic_load_n(&kernel::g_cpu_locals[i].ticks, __ATOMIC_RELAXED);
    auto silent_cpus = [] {
        unsigned silent = 0;
        for (unsigned i = 0; i < kernel::g_cpu_count; ++i)
            silent += kernel::g_cpu_locals[i].online && __atomic_load_n(&kernel::g_cpu_locals[i].ticks, __ATOMIC_RELAXED) == before[i];
        return silent;
    };
    auto all_ticked = [&] { return silent_cpus() == 0; };
    selftest::wait_for(all_ticked, 5000);
    t.expect(silent_cpus() == 0, "every_cpu_takes_timer_ticks", "%u CPUs took no tick in 5 s", silent_cpus());
    unsigned distinct = 1;
    for (unsigned i = 1; i < kernel::g_cpu_count; ++i) distinct += kernel::g_cpu_locals[i].apic_id != kernel::g_cpu_locals[0].apic_id;
    t.expect(distinct == kernel::g_cpu_count, "distinct_apic_ids", "APIC ids repeat");
}

// Each worker marks itself in flight, checks no one else ran it, spins a while, and records the
// CPUs it ran on. Preemption and stealing move workers around; none may run on two CPUs at once.
constexpr unsigned kWorkers = 64;
volatile bool g_stop = false;
volatile uint32_t g_in_flight[kWorkers];
volatile uint64_t g_progress[kWorkers];
kstd::CpuMask g_cpus_used;  // CPUs that ran a worker
volatile uint64_t g_double_runs = 0;

void worker(uint64_t index) {
    while (!g_stop) {
        if (__atomic_exchange_n(&g_in_flight[index], 1u, __ATOMIC_ACQ_REL) != 0)
            __atomic_fetch_add(&g_double_runs, 1, __ATOMIC_RELAXED);
        const unsigned cpu = kernel::this_cpu().index;
        g_cpus_used.add_concurrently(cpu);
        g_progress[index] = g_progress[index] + 1;
        __atomic_store_n(&g_in_flight[index], 0u, __ATOMIC_RELEASE);
    }
}

void spread_over_cpus(Context& t) {
    const uint64_t live_before = kernel::tasks::live_count();
    const uint64_t steals_before = kernel::tasks::steal_count();
    g_stop = false;
    g_cpus_used = {};
    unsigned spawned = 0;
    for (unsigned i = 0; i < kWorkers; ++i) {
        g_progress[i] = 0;
        if (kernel::tasks::spawn("worker", worker, i)) ++spawned;
    }
    t.expect(spawned == kWorkers, "workers_spawned", "%u of %u spawned", spawned, kWorkers);
    auto cpus_used = [] { return g_cpus_used.load_concurrently().count(); };
    auto workers_stalled = [] {
        unsigned stalled = 0;
        for (unsigned i = 0; i < kWorkers; ++i) stalled += g_progress[i] == 0;
        return stalled;
    };
    // Until every CPU has run a worker and every worker has run (bounded), then a little longer
    // for preemption and stealing to move workers around while they are checked.
    auto spread = [&] { return cpus_used() == kernel::g_cpu_count && workers_stalled() == 0; };
    selftest::wait_for(spread, 20000);
    kernel::tasks::sleep_ms(200);
    g_stop = true;
    const bool reaped = selftest::wait_until_reaped(live_before);
    const unsigned used = cpus_used(), stalled = workers_stalled();
    klog("smp: %u workers ran on %u CPUs, %lu steals, %lu wake IPIs", kWorkers, used,
         (kernel::tasks::steal_count() - steals_before), kernel::tasks::wake_ipi_count());
    t.expect(used == kernel::g_cpu_count, "every_cpu_ran_work", "work ran on %u of %u CPUs", used, kernel::g_cpu_count);
    t.expect(stalled == 0, "no_task_lost", "%u workers never ran", stalled);
    t.expect(g_double_runs == 0, "no_task_run_twice_at_once", "%lu overlapping runs", g_double_runs);
    t.expect(reaped, "workers_reaped", "%lu tasks left", (kernel::tasks::live_count() - live_before));
}

// A task pinned to the last CPU blocks; a waker pinned to CPU 0 wakes it and the woken task
// timestamps its own start. (Main may itself run on any CPU by now, so it does neither.)
kernel::tasks::WaitQueue g_wake_queue;
volatile uint64_t g_woken_at = 0;
volatile uint64_t g_wake_sent_at = 0;
volatile uint64_t g_ipi_switches_before = 0;
volatile unsigned g_wake_target = 0;

kernel::tasks::Completion g_round_done;  // sleeper and waker each signal once per round

void ipi_sleeper(uint64_t) {
    kernel::tasks::block_on(g_wake_queue);
    g_woken_at = arch::timestamp();
    g_round_done.signal();
}

void ipi_waker(uint64_t) {
    // The sleeper is blocked and its CPU has nothing else to run: it is parked in its idle task.
    auto target_parked = [] {
        return kernel::tasks::waiting_count(g_wake_queue) == 1 && kernel::tasks::idle_now(g_wake_target);
    };
    selftest::wait_for(target_parked, 10000);
    g_ipi_switches_before = kernel::tasks::ipi_switch_count(g_wake_target);
    g_wake_sent_at = arch::timestamp();
    kernel::tasks::wake_one(g_wake_queue);
    g_round_done.signal();
}

// One sleeper/waker round; true if the parked CPU's switch came from the wake-up IPI handler.
bool ipi_wake_round(uint64_t& latency_ns) {
    g_woken_at = 0;
    g_wake_sent_at = 0;
    g_round_done.reset();
    if (!kernel::tasks::spawn("ipi-sleeper", ipi_sleeper, 0, g_wake_target, true)) return false;
    if (!kernel::tasks::spawn("ipi-waker", ipi_waker, 0, 0, true)) {
        kernel::tasks::wake_all(g_wake_queue);
        g_round_done.wait_until(1);
        return false;
    }
    g_round_done.wait_until(2);  // the join: both have done their part
    latency_ns = (g_woken_at - g_wake_sent_at) * 1000000000ull / clock::tsc_hz();
    return kernel::tasks::ipi_switch_count(g_wake_target) > g_ipi_switches_before;
}

void ipi_wake(Context& t) {
    if (kernel::g_cpu_count < 2) {
        t.skip("parked_cpu_woken_by_ipi", "one CPU: no other CPU to park");
        return;
    }
    g_wake_target = kernel::g_cpu_count - 1;
    // The proof is the path, not the clock: the switch on the parked CPU must be made by the
    // wake-up IPI's handler, not by its timer tick. With more vCPUs than host cores, TCG can
    // hold a vCPU off the host long enough that its tick is taken first, so a round may lose
    // that race; a working IPI wins within a few rounds, a broken one never does.
    constexpr int kRounds = 5;
    uint64_t latency_ns = 0;
    int round = 0;
    bool by_ipi = false;
    while (round < kRounds && !by_ipi) {
        ++round;
        by_ipi = ipi_wake_round(latency_ns);
    }
    const uint64_t tick_ns = 1000000000ull / kernel::interrupts::tick_hz();
    klog("smp: woke a task on parked CPU %u in %lu us (tick %lu us, round %d)", g_wake_target, latency_ns / 1000,
         tick_ns / 1000, round);
    t.expect(by_ipi, "parked_cpu_woken_by_ipi", "in %d rounds the wake-up IPI never switched the task in", kRounds);
}

// Spinlock torture: every CPU adds to one counter under an IrqSpinLock; the sum must be exact.
kernel::IrqSpinLock g_counter_lock;
volatile uint64_t g_counter = 0;
kernel::tasks::Completion g_torture_done;
constexpr uint64_t kIncrements = 20000;

void torturer(uint64_t) {
    for (uint64_t i = 0; i < kIncrements; ++i) {
        kernel::IrqLockGuard guard(g_counter_lock);
        g_counter = g_counter + 1;  // a plain read-modify-write: only the lock makes it safe
    }
    g_torture_done.signal();
}

void spinlock_torture(Context& t) {
    g_counter = 0;
    g_torture_done.reset();
    unsigned tasks = 0;
    for (unsigned i = 0; i < kernel::g_cpu_count * 2; ++i)
        if (kernel::tasks::spawn("torture", torturer, 0, i % kernel::g_cpu_count, true)) ++tasks;
    g_torture_done.wait_until(tasks);
    t.expect(tasks == kernel::g_cpu_count * 2 && g_counter == tasks * kIncrements, "spinlock_counter_exact",
             "counter %lu, expected %lu", g_counter, tasks * kIncrements);
}

// Remote calls reach every other CPU; a TLB shootdown makes every CPU see a remapped page.
volatile uint64_t g_called_on[kernel::kMaxCpus];
constexpr uint64_t kShootdownVirt = 0xFFFF8000F0000000ull;  // an unused kernel address
volatile uint64_t g_seen_on[kernel::kMaxCpus];

void record_call(void*) { g_called_on[kernel::this_cpu().index] = g_called_on[kernel::this_cpu().index] + 1; }
void read_test_page(void*) {
    g_seen_on[kernel::this_cpu().index] = *reinterpret_cast<volatile uint64_t*>(kShootdownVirt);
}

void remote_calls_and_shootdown(Context& t) {
    // Pinned, so "this CPU" and "every other CPU" stay the same sets throughout.
    const unsigned self = kernel::tasks::pin_current_to_this_cpu();
    for (unsigned i = 0; i < kernel::g_cpu_count; ++i) g_called_on[i] = 0;
    kernel::remote_call::on_other_cpus(record_call, nullptr);
    unsigned reached = 0, total = 0;
    for (unsigned i = 0; i < kernel::g_cpu_count; ++i) {
        reached += g_called_on[i] == 1;
        total += static_cast<unsigned>(g_called_on[i]);
    }
    t.expect(reached == kernel::g_cpu_count - 1 && total == kernel::g_cpu_count - 1 && g_called_on[self] == 0,
             "remote_call_reaches_every_other_cpu", "ran %u times, on %u of %u other CPUs", total, reached,
             kernel::g_cpu_count - 1);

    // Page A mapped and read on every CPU (each caches the translation), then the same address
    // remapped to page B: after the shootdown every CPU must read B.
    auto page_a = kernel::physical_memory::allocate(mm::PageState::Kernel);
    auto page_b = kernel::physical_memory::allocate(mm::PageState::Kernel);
    bool ok = page_a && page_b;
    if (ok) {
        *kernel::phys_to_virt<uint64_t>(page_a.value().address()) = 0xAAAA;
        *kernel::phys_to_virt<uint64_t>(page_b.value().address()) = 0xBBBB;
        ok = kernel::map_kernel_page(kstd::VirtAddr{kShootdownVirt}, kstd::PhysAddr{page_a.value().address()}, mm::kPageWritable);
    }
    if (ok) {
        read_test_page(nullptr);
        kernel::remote_call::on_other_cpus(read_test_page, nullptr);
        kernel::unmap_kernel_page(kShootdownVirt);  // the shootdown happens here
        ok = kernel::map_kernel_page(kstd::VirtAddr{kShootdownVirt}, kstd::PhysAddr{page_b.value().address()}, mm::kPageWritable);
        read_test_page(nullptr);
        kernel::remote_call::on_other_cpus(read_test_page, nullptr);
        kernel::unmap_kernel_page(kShootdownVirt);
    }
    unsigned stale = 0;
    for (unsigned i = 0; i < kernel::g_cpu_count; ++i) stale += g_seen_on[i] != 0xBBBB;
    kernel::tasks::unpin_current();
    t.expect(ok && stale == 0, "tlb_shootdown_visible_on_all_cpus", "%u CPUs still read the old page", stale);
    if (page_a) kernel::physical_memory::free(page_a.value());
    if (page_b) kernel::physical_memory::free(page_b.value());
}

volatile uint8_t g_gs_mismatch[kernel::kMaxCpus];
void record_gs_match(void*) {
    const kernel::CpuLocal& self = kernel::this_cpu();
    g_gs_mismatch[self.index] = self.apic_id != arch::x86::lapic_id();
}

}  // namespace

namespace selftest {
void smp_suite(Context& t) {
    cpus_online(t);
    spread_over_cpus(t);
    ipi_wake(t);
    spinlock_torture(t);
    remote_calls_and_shootdown(t);
    // Each CPU's GS base leads to its own CpuLocal: the APIC id recorded there is the one its
    // local APIC reports.
    for (unsigned i = 0; i < kernel::g_cpu_count; ++i) g_gs_mismatch[i] = 1;
    record_gs_match(nullptr);
    kernel::remote_call::on_other_cpus(record_gs_match, nullptr);
    unsigned wrong = 0;
    for (unsigned i = 0; i < kernel::g_cpu_count; ++i) wrong += kernel::g_cpu_locals[i].online && g_gs_mismatch[i] != 0;
    t.expect(wrong == 0, "gs_base_is_cpu_local", "%u CPUs' GS base leads to another CPU's data", wrong);
}
}  // namespace selftest

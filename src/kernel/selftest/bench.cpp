// Benchmark runner and statistics (see bench.hpp).
#include "kernel/selftest/bench.hpp"

#include "arch/arch.hpp"
#include "lib/clock.hpp"
#include "lib/console.hpp"
#include "lib/format.hpp"
#include "mm/physical_memory.hpp"
#include "sched/cpu_local.hpp"
#include "smp/bring_up.hpp"
#include "proc/process.hpp"
#include "sched/tasks.hpp"
#include "lib/cmdline.hpp"

namespace bench {
namespace {

// Heapsort: O(n log n) with no extra memory, and no recursion on the kernel stack.
void sort(uint64_t* values, size_t count) {
    auto sift_down = [&](size_t root, size_t end) {
        while (2 * root + 1 < end) {
            size_t child = 2 * root + 1;
            if (child + 1 < end && values[child] < values[child + 1]) ++child;
            if (values[root] >= values[child]) return;
            const uint64_t t = values[root];
            values[root] = values[child];
            values[child] = t;
            root = child;
        }
    };
    for (size_t i = count / 2; i-- > 0;) sift_down(i, count);
    for (size_t end = count; end-- > 1;) {
        const uint64_t t = values[0];
        values[0] = values[end];
        values[end] = t;
        sift_down(0, end);
    }
}

// Tenths of a nanosecond, so fast operations still show a difference.
uint64_t cycles_to_deci_ns(uint64_t cycles) {
    const uint64_t hz = clock::tsc_hz();
    return hz ? cycles * 10000000000ull / hz : 0;
}

constexpr size_t kSamples = 4096;
uint64_t g_samples[kSamples];

void page_alloc_free() {
    // Warm up, then time one allocate+free per sample: the frame freed is the next one taken.
    for (int i = 0; i < 256; ++i) {
        auto frame = kernel::physical_memory::allocate(mm::PageState::Kernel);
        if (frame) kernel::physical_memory::free(frame.value());
    }
    size_t count = 0;
    for (; count < kSamples; ++count) {
        const uint64_t start = arch::timestamp();
        auto frame = kernel::physical_memory::allocate(mm::PageState::Kernel);
        if (!frame) break;
        kernel::physical_memory::free(frame.value());
        g_samples[count] = arch::timestamp() - start;
    }
    report("page_alloc_free", g_samples, count, "kernel_locked");
}

// kthread_switch: two kernel tasks on one CPU yield to each other; each yield is one switch.
// Timestamps are taken by the tasks themselves: the cost of a round trip divided by two.
constexpr size_t kSwitchRounds = kSamples;
volatile bool g_ping_done = false;
kernel::tasks::Completion g_bench_tasks_done;  // each benchmark task signals as its last act

void ping(uint64_t) {
    kernel::tasks::yield();  // let pong start
    for (size_t i = 0; i < 256; ++i) kernel::tasks::yield();  // warm-up
    for (size_t i = 0; i < kSwitchRounds; ++i) {
        const uint64_t start = arch::timestamp();
        kernel::tasks::yield();  // to pong, which yields straight back
        g_samples[i] = (arch::timestamp() - start) / 2;
    }
    g_ping_done = true;
    g_bench_tasks_done.signal();
}

void pong(uint64_t) {
    while (!g_ping_done) kernel::tasks::yield();
    g_bench_tasks_done.signal();
}

void kthread_switch() {
    g_ping_done = false;
    g_bench_tasks_done.reset();
    // Main blocks so ping and pong are the only runnable tasks (idle is never queued).
    const bool started = kernel::tasks::spawn("ping", ping, 0, 0, true) &&  // both on CPU 0:
                         kernel::tasks::spawn("pong", pong, 0, 0, true);     // a same-CPU switch
    if (!started) {
        console::print("BENCH kthread_switch unit=cycles n=0 median=0 p99=0 min=0 note=cannot_spawn\n");
        g_ping_done = true;  // a ping that did start ends with its pong missing; let it finish
        return;
    }
    g_bench_tasks_done.wait_until(2);
    report("kthread_switch", g_samples, kSwitchRounds, "yield");
}

// page_alloc_free_smp: the same allocate+free, on 1 CPU and then on every CPU at once, each a
// pinned task. A sample is a burst of kBurstFrames allocations then as many frees, per frame
// pair; each CPU reports the median of its bursts (a burst the host descheduled its vCPU in is
// an outlier, not the median), and the line gives the slowest CPU's median and the rate it keeps
// against 1 CPU. Meaningful under plain TCG with several runs (not --icount, which runs the
// CPUs in turn); not gated.
constexpr size_t kBurstFrames = 8;
constexpr size_t kSmpBursts = 2048;
constexpr size_t kKeptBursts = 256;  // the last ones of each CPU
constexpr unsigned kSmpBenchCpus = 16;  // CPUs measured at most
uint64_t g_smp_samples[kSmpBenchCpus][kKeptBursts];
uint64_t g_smp_median[kSmpBenchCpus];
volatile bool g_smp_go = false;

void alloc_free_worker(uint64_t cpu) {
    constexpr size_t kKept = kKeptBursts;
    while (!__atomic_load_n(&g_smp_go, __ATOMIC_ACQUIRE)) arch::cpu_relax();
    mm::Pfn frames[kBurstFrames];
    for (size_t burst = 0; burst < kSmpBursts; ++burst) {
        const uint64_t start = arch::timestamp();
        size_t got = 0;
        for (; got < kBurstFrames; ++got) {
            auto frame = kernel::physical_memory::allocate(mm::PageState::Kernel);
            if (!frame) break;
            frames[got] = frame.value();
        }
        for (size_t i = 0; i < got; ++i) kernel::physical_memory::free(frames[i]);
        g_smp_samples[cpu][burst % kKept] = (arch::timestamp() - start) / kBurstFrames;
    }
    sort(g_smp_samples[cpu], kKept);
    g_smp_median[cpu] = g_smp_samples[cpu][kKept / 2];
    g_bench_tasks_done.signal();
}

// The slowest CPU's median cycles per allocate+free with `cpus` CPUs at once; 0 if a task
// could not start.
uint64_t alloc_free_on(unsigned cpus) {
    g_bench_tasks_done.reset();
    __atomic_store_n(&g_smp_go, false, __ATOMIC_RELEASE);
    for (unsigned cpu = 0; cpu < cpus; ++cpu) {
        if (!kernel::tasks::spawn("alloc-free", alloc_free_worker, cpu, cpu, true)) {
            __atomic_store_n(&g_smp_go, true, __ATOMIC_RELEASE);
            g_bench_tasks_done.wait_until(cpu);
            return 0;
        }
    }
    __atomic_store_n(&g_smp_go, true, __ATOMIC_RELEASE);
    g_bench_tasks_done.wait_until(cpus);
    uint64_t slowest = 0;
    for (unsigned cpu = 0; cpu < cpus; ++cpu)
        if (g_smp_median[cpu] > slowest) slowest = g_smp_median[cpu];
    return slowest;
}

void page_alloc_free_smp() {
    const unsigned cpus = kernel::g_cpu_count < kSmpBenchCpus ? kernel::g_cpu_count : kSmpBenchCpus;
    const uint64_t one = alloc_free_on(1);
    const uint64_t all = cpus > 1 ? alloc_free_on(cpus) : one;
    // Per mille of the 1-CPU rate the slowest CPU keeps with every CPU allocating.
    const uint64_t kept = all ? one * 1000 / all : 0;
    console::print("BENCH page_alloc_free_smp unit=cycles n=%u median=%lu p99=%lu min=%lu one_cpu=%lu "
                   "rate_kept=%lu.%03lu\n",
                   cpus, all, all, all, one, kept / 1000, kept % 1000);
}

// ap_bringup: first INIT to the last AP online, measured once during boot (one sample).
void ap_bringup() {
    const uint64_t ns = kernel::smp_boot::bringup_ns();
    console::print("BENCH ap_bringup unit=ms n=1 median=%lu.%03lu p99=%lu.%03lu min=%lu.%03lu cpus=%u\n", ns / 1000000,
                   ns / 1000 % 1000, ns / 1000000, ns / 1000 % 1000, ns / 1000000, ns / 1000 % 1000,
                   kernel::smp_boot::online_count());
}

// ipi_wake: a task on CPU 0 makes a task runnable on a parked CPU; one sample is from the
// wake call to that task running (TSC, synchronised across CPUs under QEMU and modern PCs).
constexpr size_t kIpiSamples = 100;
kernel::tasks::WaitQueue g_ipi_queue;
volatile uint64_t g_ipi_sent = 0, g_ipi_seen = 0;

kernel::tasks::Completion g_ipi_rounds_seen;  // the sleeper signals once per round it ran
volatile bool g_ipi_abort = false;

void ipi_sleeper(uint64_t) {
    for (size_t round = 0; round < kIpiSamples; ++round) {
        kernel::tasks::block_on(g_ipi_queue);
        if (g_ipi_abort) break;
        g_ipi_seen = arch::timestamp();
        g_ipi_rounds_seen.signal();
    }
    g_bench_tasks_done.signal();
}

void ipi_waker(uint64_t) {
    const unsigned target = kernel::g_cpu_count - 1;
    for (size_t round = 0; round < kIpiSamples; ++round) {
        // Wake only once the sleeper has blocked and its CPU has parked in its idle task.
        while (kernel::tasks::waiting_count(g_ipi_queue) == 0 || !kernel::tasks::idle_now(target))
            kernel::tasks::yield();
        g_ipi_sent = arch::timestamp();
        kernel::tasks::wake_one(g_ipi_queue);
        g_ipi_rounds_seen.wait_until(round + 1);
        g_samples[round] = g_ipi_seen - g_ipi_sent;
    }
    g_bench_tasks_done.signal();
}

void ipi_wake() {
    if (kernel::g_cpu_count < 2) {
        console::print("BENCH ipi_wake unit=cycles n=0 median=0 p99=0 min=0 note=needs_2_cpus\n");
        return;
    }
    g_ipi_rounds_seen.reset();
    g_bench_tasks_done.reset();
    if (!kernel::tasks::spawn("ipi-sleeper", ipi_sleeper, 0, kernel::g_cpu_count - 1, true)) {
        console::print("BENCH ipi_wake unit=cycles n=0 median=0 p99=0 min=0 note=cannot_spawn\n");
        return;
    }
    if (!kernel::tasks::spawn("ipi-waker", ipi_waker, 0, 0, true)) {
        console::print("BENCH ipi_wake unit=cycles n=0 median=0 p99=0 min=0 note=cannot_spawn\n");
        g_ipi_abort = true;  // the sleeper ends at its next wake-up
        while (g_bench_tasks_done.count() == 0) {
            kernel::tasks::wake_all(g_ipi_queue);  // it may not have blocked yet
            kernel::tasks::yield();
        }
        g_ipi_abort = false;
        return;
    }
    g_bench_tasks_done.wait_until(2);  // the join: the waker has stored its last sample
    report("ipi_wake", g_samples, kIpiSamples, "parked_cpu");
}

// The user-mode benchmarks are a program (src/user/bench.cpp) that prints its own BENCH lines.
void user_benchmarks() {
    const char* argv[] = {"bench"};
    const int64_t pid = kernel::process::spawn_from_kernel("bench", argv, 1, false);
    if (pid < 0) {
        console::print("BENCH user unit=cycles n=0 median=0 p99=0 min=0 note=no_bench_program\n");
        return;
    }
    kernel::process::kernel_wait(static_cast<int32_t>(pid));
}

// boot_to_init: the first program of this boot, started by the path init takes, reads the
// timestamp at its first instruction; the bench program subtracts the boot stub's. Must run
// before every other benchmark, so that nothing but the boot lies between the two.
void boot_to_init() {
    char entry[24];
    kstd::format_to_buffer(entry, sizeof entry, "%lu", arch::boot_entry_timestamp());
    const char* argv[] = {"bench", "boot_to_init", entry};
    const int64_t pid = kernel::process::spawn_from_kernel("bench", argv, 3, false);
    if (pid < 0) {
        console::print("BENCH boot_to_init unit=ms n=0 median=0 p99=0 min=0 note=no_bench_program\n");
        return;
    }
    kernel::process::kernel_wait(static_cast<int32_t>(pid));
}

struct Suite {
    const char* name;
    void (*run)();
};
constexpr Suite kSuites[] = {
    {"mm", page_alloc_free},
    {"mm", page_alloc_free_smp},
    {"sched", kthread_switch},
    {"smp", ap_bringup},
    {"smp", ipi_wake},
    {"user", user_benchmarks},
};

}  // namespace

void report(const char* name, uint64_t* cycles, size_t count, const char* note) {
    if (count == 0) {
        console::print("BENCH %s unit=cycles n=0 median=0 p99=0 min=0 note=no_samples\n", name);
        return;
    }
    sort(cycles, count);
    const uint64_t median = cycles[count / 2], p99 = cycles[count * 99 / 100], min = cycles[0];
    console::print("BENCH %s unit=cycles n=%zu median=%lu p99=%lu min=%lu%s%s\n", name, count, median, p99, min,
                   note ? " note=" : "", note ? note : "");
    const uint64_t m = cycles_to_deci_ns(median), p = cycles_to_deci_ns(p99), lo = cycles_to_deci_ns(min);
    console::print("BENCH %s unit=ns n=%zu median=%lu.%lu p99=%lu.%lu min=%lu.%lu%s%s\n", name, count, m / 10, m % 10,
                   p / 10, p % 10, lo / 10, lo % 10, note ? " note=" : "", note ? note : "");
}

void run(kstd::StringView requested) {
    if (requested == "all" || kstd::list_contains(requested, "boot")) boot_to_init();  // first: see there
    const uint64_t hz = clock::tsc_hz();
    console::print("BENCH tsc_hz unit=hz n=1 median=%lu p99=%lu min=%lu\n", hz, hz, hz);
    for (const Suite& suite : kSuites)
        if (requested == "all" || kstd::list_contains(requested, suite.name)) suite.run();
    arch::exit_emulator(true);
    arch::halt_forever();
}

}  // namespace bench

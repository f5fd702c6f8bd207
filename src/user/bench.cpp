// bench [name]: user-space benchmarks, one "BENCH ..." line each in the format of
// docs/testing.md (the TSC frequency first, so cycles convert to time).
// Every operation is timed alone with lfence;rdtsc after a warm-up; the samples are sorted for
// the median, p99 and minimum. The process (and the children it forks) is pinned to CPU 0 while
// a benchmark runs, so each result is one CPU's cost (cpus=1).
#include <errno.h>
#include <sable/sys.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

extern "C" uint64_t __sable_start_cycles;  // crt0.S: the timestamp at the first user instruction

namespace {

constexpr size_t kMaxSamples = 20000;
// The samples live in anonymous memory mapped afresh for each benchmark: only the pages a
// benchmark fills are committed, so a fork benchmark shares (and measures) the kernel's work for
// a small process, not a 160 KiB sample array left over from an earlier benchmark.
uint64_t* g_samples;

// In-place heapsort: O(n log n) with no recursion and no extra memory.
void sift_down(uint64_t* a, size_t root, size_t n) {
    for (;;) {
        size_t child = 2 * root + 1;
        if (child >= n) return;
        if (child + 1 < n && a[child + 1] > a[child]) ++child;
        if (a[root] >= a[child]) return;
        const uint64_t t = a[root];
        a[root] = a[child];
        a[child] = t;
        root = child;
    }
}

void sort_samples(uint64_t* a, size_t n) {
    for (size_t i = n / 2; i-- > 0;) sift_down(a, i, n);
    for (size_t end = n; end-- > 1;) {
        const uint64_t t = a[0];
        a[0] = a[end];
        a[end] = t;
        sift_down(a, 0, end);
    }
}

void report(const char* name, uint64_t* samples, size_t n, int cpus = 1) {
    sort_samples(samples, n);
    size_t p99 = n * 99 / 100;
    if (p99 >= n) p99 = n - 1;
    printf("BENCH %s unit=cycles n=%zu median=%lu p99=%lu min=%lu cpus=%d\n", name, n, samples[n / 2], samples[p99],
           samples[0], cpus);
}

[[noreturn]] void die(const char* what) {
    dprintf(2, "bench: %s: %s\n", what, strerror(errno));
    exit(1);
}

void map_samples() {
    void* pages = mmap(nullptr, kMaxSamples * sizeof(uint64_t), PROT_READ | PROT_WRITE, MAP_PRIVATE);
    if (pages == MAP_FAILED) die("mmap for the samples");
    g_samples = static_cast<uint64_t*>(pages);
}

void unmap_samples() { munmap(g_samples, kMaxSamples * sizeof(uint64_t)); }

void pin_to_cpu0() {
    if (set_affinity(1) != 0) die("set_affinity(cpu 0)");
}

void unpin() { set_affinity(~uint64_t{0}); }

// Waits for `pid`; a child that did not exit 0 is reported (a benchmark child that crashed
// prints no BENCH line, and the gap would otherwise go unnoticed).
void wait_child(int pid, const char* name, bool killed_is_expected = false) {
    int status;
    if (waitpid(pid, &status, 0) != pid) die("waitpid");
    if (status == 0 || (killed_is_expected && SABLE_WIFKILLED(status))) return;
    if (SABLE_WIFKILLED(status))
        dprintf(2, "bench: %s: child %d killed (%s)\n", name, pid,
                sable_kill_reason_string(SABLE_WKILLREASON(status)));
    else
        dprintf(2, "bench: %s: child %d exited %d\n", name, pid, SABLE_WEXITSTATUS(status));
}

// TSC ticks over a 100 ms sleep, against the kernel clock.
uint64_t bench_tsc_hz() {
    const uint64_t start_ns = clock_ns();
    const uint64_t start_tsc = rdtsc_serialized();
    sleep_ms(100);
    const uint64_t end_tsc = rdtsc_serialized();
    const uint64_t elapsed_ns = clock_ns() - start_ns;
    const uint64_t ticks = end_tsc - start_tsc;
    // ticks < 2^34 for any TSC under 100 GHz, so ticks * 10^9 stays below 2^64.
    const uint64_t hz = elapsed_ns == 0 ? 0 : ticks * 1'000'000'000ull / elapsed_ns;
    printf("BENCH tsc_hz unit=hz n=1 median=%lu p99=%lu min=%lu\n", hz, hz, hz);
    return hz;
}

// `bench boot_to_init <entry>`: the kernel starts it as the first program of a benchmark boot
// (sable.bench=boot), by the path that starts init and with nothing run before, passing the
// timestamp at which its boot stub had checked the CPU. crt0 read the timestamp at this
// program's first instruction: the difference is the boot, stub to the first user instruction.
int bench_boot_to_init(const char* entry_text) {
    const uint64_t start = __sable_start_cycles;
    char* end = nullptr;
    const uint64_t entry = strtoul(entry_text, &end, 10);
    if (end == entry_text || *end != '\0' || entry == 0 || entry >= start) {
        dprintf(2, "bench: boot_to_init: bad entry timestamp '%s'\n", entry_text);
        return 2;
    }
    const uint64_t cycles = start - entry;
    printf("BENCH boot_to_init_cycles unit=cycles n=1 median=%lu p99=%lu min=%lu\n", cycles, cycles, cycles);
    const uint64_t hz = bench_tsc_hz();
    if (hz == 0) return 1;
    // cycles < 2^44 for any boot under an hour at 4 GHz, so cycles * 10^6 stays below 2^64.
    const uint64_t us = cycles * 1'000'000ull / hz;
    printf("BENCH boot_to_init unit=ms n=1 median=%lu.%03lu p99=%lu.%03lu min=%lu.%03lu\n", us / 1000, us % 1000,
           us / 1000, us % 1000, us / 1000, us % 1000);
    return 0;
}

void bench_syscall_null() {
    constexpr size_t kWarmup = 1000, kSamples = 20000;
    for (size_t i = 0; i < kWarmup; ++i) sable_syscall0(SYS_GETPID);
    for (size_t i = 0; i < kSamples; ++i) {
        const uint64_t start = rdtsc_serialized();
        sable_syscall0(SYS_GETPID);
        g_samples[i] = rdtsc_serialized() - start;
    }
    report("syscall_null", g_samples, kSamples);
}

// `count` yields; with `use_sse`, each after an SSE instruction, as a program that computes
// between switches would (with lazy switching its first use after each switch traps).
void yield_times(long count, bool use_sse) {
    for (long i = 0; i < count; ++i) {
        if (use_sse) __asm__ volatile("addpd %%xmm0, %%xmm0" ::: "xmm0");
        sable_syscall0(SYS_YIELD);
    }
}

// Parent and child both pinned to CPU 0 and yielding: every parent yield is two switches
// (parent -> child -> parent). A sample is one round of kRoundYields parent yields.
void yield_switch(const char* name, bool use_sse) {
    constexpr int kRoundYields = 200;
    constexpr size_t kWarmupRounds = 5, kRounds = 100;
    constexpr long kChildYields = (kWarmupRounds + kRounds) * kRoundYields + 10000;
    const int child = fork();
    if (child < 0) die("fork");
    if (child == 0) {
        set_affinity(1);  // inherited from the parent already; explicit all the same
        yield_times(kChildYields, use_sse);
        exit(0);
    }
    for (size_t r = 0; r < kWarmupRounds; ++r) yield_times(kRoundYields, use_sse);
    for (size_t r = 0; r < kRounds; ++r) {
        const uint64_t start = rdtsc_serialized();
        yield_times(kRoundYields, use_sse);
        g_samples[r] = (rdtsc_serialized() - start) / (2 * kRoundYields);
    }
    kill(child);  // it may still have yields left; ESRCH if it has already exited is fine
    wait_child(child, name, true);
    report(name, g_samples, kRounds);
}

void bench_yield_switch() { yield_switch("yield_switch", false); }
void bench_yield_switch_sse() { yield_switch("yield_switch_sse", true); }

// One byte there and back through two pipes; the child echoes until end of file.
void bench_pipe_pingpong() {
    constexpr size_t kWarmup = 100, kSamples = 2000;
    int to_child[2], to_parent[2];
    if (pipe(to_child) != 0 || pipe(to_parent) != 0) die("pipe");
    const int child = fork();
    if (child < 0) die("fork");
    if (child == 0) {
        close(to_child[1]);
        close(to_parent[0]);
        char byte;
        while (read(to_child[0], &byte, 1) == 1) {
            if (write(to_parent[1], &byte, 1) != 1) exit(1);
        }
        exit(0);
    }
    close(to_child[0]);
    close(to_parent[1]);
    char byte = 'p';
    for (size_t i = 0; i < kWarmup + kSamples; ++i) {
        const uint64_t start = rdtsc_serialized();
        if (write(to_child[1], &byte, 1) != 1 || read(to_parent[0], &byte, 1) != 1)
            die("ping-pong");
        const uint64_t cycles = rdtsc_serialized() - start;
        if (i >= kWarmup) g_samples[i - kWarmup] = cycles;
    }
    close(to_child[1]);  // the child reads end of file and exits
    wait_child(child, "pipe_pingpong");
    close(to_parent[0]);
    report("pipe_pingpong", g_samples, kSamples);
}

// First touches of fresh stack pages, deeper and deeper. In a forked child, so the parent's
// stack stays small; 1 MiB below the current frame nothing has been committed yet (the stack
// region is 20 MiB and this program never uses more than a few KiB of it).
void bench_page_fault_grow() {
    constexpr size_t kWarmup = 8, kSamples = 2000, kPage = 4096;
    const int child = fork();
    if (child < 0) die("fork");
    if (child == 0) {
        const uintptr_t frame = reinterpret_cast<uintptr_t>(__builtin_frame_address(0));
        const uintptr_t start = (frame & ~(kPage - 1)) - (1u << 20);
        for (size_t i = 0; i < kWarmup + kSamples; ++i) {
            auto page = reinterpret_cast<volatile uint8_t*>(start - i * kPage);
            const uint64_t t0 = rdtsc_serialized();
            *page = 1;
            const uint64_t cycles = rdtsc_serialized() - t0;
            if (i >= kWarmup) g_samples[i - kWarmup] = cycles;
        }
        report("page_fault_grow", g_samples, kSamples);
        exit(0);
    }
    wait_child(child, "page_fault_grow");
}

void bench_fork_exit_wait() {
    constexpr size_t kWarmup = 20, kSamples = 300;
    for (size_t i = 0; i < kWarmup + kSamples; ++i) {
        const uint64_t start = rdtsc_serialized();
        const int child = fork();
        if (child == 0) exit(0);
        if (child < 0) die("fork");
        wait_child(child, "fork_exit_wait");
        const uint64_t cycles = rdtsc_serialized() - start;
        if (i >= kWarmup) g_samples[i - kWarmup] = cycles;
    }
    report("fork_exit_wait", g_samples, kSamples);
}

void bench_spawn_exit_wait() {
    constexpr size_t kWarmup = 10, kSamples = 300;
    const char* const argv[] = {"true", nullptr};
    for (size_t i = 0; i < kWarmup + kSamples; ++i) {
        const uint64_t start = rdtsc_serialized();
        const int child = spawn("true", argv, nullptr);
        if (child < 0) die("spawn(true)");
        wait_child(child, "spawn_exit_wait");
        const uint64_t cycles = rdtsc_serialized() - start;
        if (i >= kWarmup) g_samples[i - kWarmup] = cycles;
    }
    report("spawn_exit_wait", g_samples, kSamples);
}

// A thread that exits at once, created and joined (on CPU 0: threads inherit the affinity).
void exit_at_once(uint64_t) { thread_exit(0); }

void bench_thread_create_join() {
    constexpr size_t kWarmup = 20, kSamples = 500;
    for (size_t i = 0; i < kWarmup + kSamples; ++i) {
        const uint64_t start = rdtsc_serialized();
        const long tid = sable_syscall2(SYS_THREAD_CREATE, reinterpret_cast<long>(exit_at_once), 0);
        if (tid < 0) die("thread_create");
        if (sable_syscall2(SYS_THREAD_JOIN, tid, 0) != 0) die("thread_join");
        const uint64_t cycles = rdtsc_serialized() - start;
        if (i >= kWarmup) g_samples[i - kWarmup] = cycles;
    }
    report("thread_create_join", g_samples, kSamples);
}

// Two threads hand a turn back and forth through one futex word: a sample is one round trip
// (ping wakes pong, pong wakes ping). The pong thread runs on `pong_cpu`.
struct Turn {
    uint32_t word;  // 1: pong's turn, 0: ping's, 2: pong must stop
    uint32_t pong_cpu;
} g_turn;

void pong(uint64_t) {
    set_affinity(uint64_t{1} << g_turn.pong_cpu);
    for (;;) {
        uint32_t seen;
        while ((seen = __atomic_load_n(&g_turn.word, __ATOMIC_ACQUIRE)) == 0)
            sable_syscall3(SYS_FUTEX_WAIT, reinterpret_cast<long>(&g_turn.word), 0, static_cast<long>(SABLE_FUTEX_FOREVER));
        if (seen == 2) thread_exit(0);
        __atomic_store_n(&g_turn.word, 0, __ATOMIC_RELEASE);
        sable_syscall2(SYS_FUTEX_WAKE, reinterpret_cast<long>(&g_turn.word), 1);
    }
}

void futex_pingpong(const char* name, uint32_t pong_cpu) {
    constexpr size_t kWarmup = 100, kSamples = 2000;
    g_turn = {0, pong_cpu};
    const long tid = sable_syscall2(SYS_THREAD_CREATE, reinterpret_cast<long>(pong), 0);
    if (tid < 0) die("thread_create");
    for (size_t i = 0; i < kWarmup + kSamples; ++i) {
        const uint64_t start = rdtsc_serialized();
        __atomic_store_n(&g_turn.word, 1, __ATOMIC_RELEASE);
        sable_syscall2(SYS_FUTEX_WAKE, reinterpret_cast<long>(&g_turn.word), 1);
        while (__atomic_load_n(&g_turn.word, __ATOMIC_ACQUIRE) != 0)
            sable_syscall3(SYS_FUTEX_WAIT, reinterpret_cast<long>(&g_turn.word), 1, static_cast<long>(SABLE_FUTEX_FOREVER));
        const uint64_t cycles = rdtsc_serialized() - start;
        if (i >= kWarmup) g_samples[i - kWarmup] = cycles;
    }
    __atomic_store_n(&g_turn.word, 2, __ATOMIC_RELEASE);
    sable_syscall2(SYS_FUTEX_WAKE, reinterpret_cast<long>(&g_turn.word), 1);
    if (sable_syscall2(SYS_THREAD_JOIN, tid, 0) != 0) die("thread_join");
    report(name, g_samples, kSamples, pong_cpu == 0 ? 1 : 2);
}

void bench_futex_pingpong() { futex_pingpong("futex_pingpong", 0); }

// Across CPUs: timings under --icount are artifacts of round-robin vCPUs; measure under TCG.
void bench_futex_pingpong_xcpu() {
    sable_cpu_info cpus[2];
    if (cpu_info(cpus, 2) < 2) {
        printf("bench: futex_pingpong_xcpu: SKIP (one CPU)\n");
        return;
    }
    futex_pingpong("futex_pingpong_xcpu", cpus[1].index);
}

// One page mapped, touched (a demand-zero fault) and unmapped.
void bench_mmap_touch_unmap() {
    constexpr size_t kWarmup = 20, kSamples = 1000;
    for (size_t i = 0; i < kWarmup + kSamples; ++i) {
        const uint64_t start = rdtsc_serialized();
        void* page = mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE);
        if (page == MAP_FAILED) die("mmap");
        *static_cast<volatile uint64_t*>(page) = i;
        if (munmap(page, 4096) != 0) die("munmap");
        const uint64_t cycles = rdtsc_serialized() - start;
        if (i >= kWarmup) g_samples[i - kWarmup] = cycles;
    }
    report("mmap_touch_unmap", g_samples, kSamples);
}

// The first write to a page shared with a fork child: the fault, a fresh frame, the copy, the
// new entry. The child holds the pages (it waits on a pipe) while the parent writes each once.
void bench_cow_fault() {
    constexpr size_t kWarmup = 20, kSamples = 1000, kPages = kWarmup + kSamples;
    auto* pages = static_cast<uint8_t*>(mmap(nullptr, kPages * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE));
    if (pages == MAP_FAILED) die("mmap");
    for (size_t i = 0; i < kPages; ++i) pages[i * 4096] = 1;
    int hold[2];
    if (pipe(hold) != 0) die("pipe");
    const int child = fork();
    if (child < 0) die("fork");
    if (child == 0) {
        close(hold[1]);
        char byte;
        exit(read(hold[0], &byte, 1) == 0 ? 0 : 1);
    }
    close(hold[0]);
    for (size_t i = 0; i < kPages; ++i) {
        volatile uint8_t* page = pages + i * 4096;
        const uint64_t start = rdtsc_serialized();
        *page = 2;
        const uint64_t cycles = rdtsc_serialized() - start;
        if (i >= kWarmup) g_samples[i - kWarmup] = cycles;
    }
    close(hold[1]);
    wait_child(child, "cow_fault");
    munmap(pages, kPages * 4096);
    report("cow_fault", g_samples, kSamples);
}

struct Benchmark {
    const char* name;
    void (*run)();
};

const Benchmark kBenchmarks[] = {
    {"syscall_null", bench_syscall_null},         {"yield_switch", bench_yield_switch},
    {"yield_switch_sse", bench_yield_switch_sse}, {"pipe_pingpong", bench_pipe_pingpong},
    {"page_fault_grow", bench_page_fault_grow},   {"fork_exit_wait", bench_fork_exit_wait},
    {"spawn_exit_wait", bench_spawn_exit_wait},
    {"thread_create_join", bench_thread_create_join},
    {"mmap_touch_unmap", bench_mmap_touch_unmap},
    {"cow_fault", bench_cow_fault},
    {"futex_pingpong", bench_futex_pingpong},
    {"futex_pingpong_xcpu", bench_futex_pingpong_xcpu},
};

}  // namespace

int main(int argc, char** argv) {
    if (argc == 3 && strcmp(argv[1], "boot_to_init") == 0) return bench_boot_to_init(argv[2]);
    const char* only = argc >= 2 ? argv[1] : nullptr;
    bool found = only == nullptr;
    for (const Benchmark& b : kBenchmarks) found = found || strcmp(only, b.name) == 0;
    if (!found) {
        dprintf(2, "usage: bench [name]; names:");
        for (const Benchmark& b : kBenchmarks) dprintf(2, " %s", b.name);
        dprintf(2, "\n");
        return 2;
    }
    bench_tsc_hz();
    for (const Benchmark& b : kBenchmarks) {
        if (only != nullptr && strcmp(only, b.name) != 0) continue;
        pin_to_cpu0();
        map_samples();
        b.run();
        unmap_samples();
        unpin();
    }
    printf("bench: done\n");
    return 0;
}

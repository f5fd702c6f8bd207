// What `fuzz` and `stress` share: a seeded generator, and a census of the system (frames by
// state, live processes) taken before a run and compared after it, so a run proves that every
// process it started was reaped and every frame it used came back.
#ifndef SABLE_USER_CENSUS_HPP
#define SABLE_USER_CENSUS_HPP

#include <sable/abi.h>
#include <stdint.h>
#include <stdio.h>
#include <unistd.h>

namespace census {

// splitmix64: one 64-bit word of state, so a run is reproduced from the seed on its command line.
struct Random {
    uint64_t state;

    uint64_t next() {
        uint64_t z = (state += 0x9e3779b97f4a7c15ull);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
        return z ^ (z >> 31);
    }
    uint64_t below(uint64_t bound) { return bound ? next() % bound : 0; }
    bool one_in(uint64_t n) { return below(n) == 0; }
};

// The seed of the k-th stream drawn from `seed`: streams of one run never share a sequence.
inline uint64_t derive_seed(uint64_t seed, uint64_t k) {
    Random mixer{seed ^ (k * 0xd1342543de82ef95ull)};
    return mixer.next();
}

struct Census {
    sable_meminfo memory;
    long processes;
};

// Grows the caller's stack and starts and ends a burst of threads, as many as one process may
// have, so that what the kernel grows to a high-water mark of live tasks and keeps (the
// kernel-stack area's page tables, one per 32 stacks; task-list chunks) is grown before the
// baseline is taken. A run's own peak is far lower, but ended tasks wait for the reaper: with
// a burst of 96 (the peak plus a margin), 60 s of `stress` at 4 CPUs still grew one or two
// tables, once per boot (a second run in the same boot was exact).
__attribute__((noinline)) inline void warm_up() {
    volatile uint8_t stack[64 * 1024];
    for (size_t i = 0; i < sizeof stack; i += 4096) stack[i] = 1;
    static uint32_t gate = 0;
    constexpr unsigned wanted = SABLE_MAX_THREADS - 1;
    int tids[SABLE_MAX_THREADS];
    unsigned started = 0;
    while (started < wanted) {
        const int tid = thread_create(
            [](uint64_t) {
                while (__atomic_load_n(&gate, __ATOMIC_ACQUIRE) == 0) futex_wait(&gate, 0, SABLE_FUTEX_FOREVER);
                thread_exit(0);
            },
            0);
        if (tid < 0) break;
        tids[started++] = tid;
    }
    __atomic_store_n(&gate, 1, __ATOMIC_RELEASE);
    futex_wake(&gate, ~0u);
    for (unsigned i = 0; i < started; ++i) thread_join(tids[i], nullptr);
}

inline bool take(Census& out) {
    out.processes = process_list(nullptr, 0);
    return meminfo(&out.memory) == 0 && out.processes > 0;
}

// Waits until the processes a run started are gone (orphans reaped by init) and the reaper has
// freed their kernel stacks: both happen after waitpid returns, so a comparison made at once
// could see them still in use. At most as many stack frames as in `baseline`, not exactly as
// many: a baseline taken as the program starts may still count the stack of the program the
// shell ran before it. The deadline, on the kernel's clock, only decides how a kernel that never
// gets there fails.
inline bool settle(const Census& baseline, Census& now, uint64_t deadline_ms) {
    const uint64_t give_up_ns = clock_ns() + deadline_ms * 1000000ull;
    for (;;) {
        if (take(now) && now.processes == baseline.processes && now.memory.stack <= baseline.memory.stack) return true;
        if (clock_ns() > give_up_ns) return false;
        sleep_ms(10);
    }
}

// Compares frame counts by state. The kernel heap keeps empty slabs for reuse, so what must match
// is free + heap, not each alone; and the kernel keeps the kernel-stack area's page tables at
// the high-water mark of live tasks, which a busy run may raise (meminfo says how many: they
// count as free here, not as page tables). Every other state must match exactly. Writes a
// one-line description ("free+heap 6000->5990 user 300->310") of what differs to `out`.
inline bool frames_conserved(const Census& before, const Census& after, char* out, size_t size) {
    const sable_meminfo& a = before.memory;
    const sable_meminfo& b = after.memory;
    struct Row {
        const char* name;
        uint64_t before, after;
    } rows[] = {
        {"free+heap", a.free + a.heap + a.kept_page_tables, b.free + b.heap + b.kept_page_tables},
        {"kernel", a.kernel, b.kernel},
        {"stack", a.stack, b.stack},
        {"page_table", a.page_table - a.kept_page_tables, b.page_table - b.kept_page_tables},
        {"user", a.user, b.user},
        {"shared", a.shared, b.shared},
    };
    bool same = true;
    size_t used = 0;
    if (size) out[0] = '\0';
    for (const Row& row : rows) {
        if (row.before == row.after) continue;
        same = false;
        if (used < size)
            used += static_cast<size_t>(
                snprintf(out + used, size - used, "%s%s %lu->%lu", used ? " " : "", row.name, row.before, row.after));
    }
    return same;
}

}  // namespace census

#endif  // SABLE_USER_CENSUS_HPP

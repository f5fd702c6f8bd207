// Where new and stolen work goes: pure choices over each CPU's load, as the CPUs' schedulers
// report it without their locks (hints: out of date the moment they are read, which a choice
// can afford; the move itself happens under the locks). Host-tested with made-up loads.
#pragma once

#include <stdint.h>

#include "lib/cpu_mask.hpp"

namespace sched {

struct CpuLoad {
    bool running;    // the CPU takes tasks (online, scheduler started)
    uint64_t ready;  // tasks waiting in its run queue
    bool idle;       // it runs its idle task right now
};

inline constexpr unsigned kNoCpu = ~0u;

// The CPU in `allowed` with the least work — its ready tasks, plus one if it is busy — ties to
// the lowest index; kNoCpu if no allowed CPU takes tasks. `load_of(i)` gives CPU i's CpuLoad.
template <typename LoadOf>
unsigned least_loaded(unsigned cpu_count, const kstd::CpuMask& allowed, LoadOf load_of) {
    unsigned best = kNoCpu;
    uint64_t lightest = ~0ull;
    for (unsigned i = 0; i < cpu_count; ++i) {
        if (!allowed.contains(i)) continue;
        const CpuLoad load = load_of(i);
        if (!load.running) continue;
        const uint64_t work = load.ready + (load.idle ? 0 : 1);
        if (work < lightest) {
            lightest = work;
            best = i;
        }
    }
    return best;
}

// The CPU other than `thief` with the longest run queue (ties to the lowest index), for an idle
// CPU to take a task from; kNoCpu if no other running CPU has a task waiting.
template <typename LoadOf>
unsigned steal_victim(unsigned cpu_count, unsigned thief, LoadOf load_of) {
    unsigned victim = kNoCpu;
    uint64_t longest = 0;
    for (unsigned i = 0; i < cpu_count; ++i) {
        if (i == thief) continue;
        const CpuLoad load = load_of(i);
        if (load.running && load.ready > longest) {
            longest = load.ready;
            victim = i;
        }
    }
    return victim;
}

}  // namespace sched

// Remote function calls: run a function on every other online CPU, from its IPI handler, and
// wait until all have run it. TLB shootdown is one user; tests are another.
#pragma once

#include "lib/cpu_mask.hpp"

namespace kernel::remote_call {

// Hooks the IPI handler. Boot CPU, once.
void init();
// Runs fn(argument) on every other online CPU (interrupts off there, in the IPI handler) and
// returns when all have finished. Needs interrupts enabled here when other CPUs are online:
// they may be waiting for us in the same way. One call at a time system-wide; the caller waits
// for its turn with interrupts on and makes its call with them off (remote_call.cpp says why).
void on_other_cpus(void (*fn)(void* argument), void* argument);
// Runs fn(argument) on the online CPUs in `targets` other than this one, the same way.
void on_cpus(const kstd::CpuMask& targets, void (*fn)(void* argument), void* argument);
// Stops every other online CPU for good (interrupts off, halted) and returns once all have
// stopped: reset and power-off touch the hardware with no other CPU in the middle of anything.
// Needs interrupts enabled here, like on_other_cpus. Returns how many it stopped.
unsigned halt_other_cpus();
// Count of calls made (all CPUs).
unsigned long long call_count();

}  // namespace kernel::remote_call

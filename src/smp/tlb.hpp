// TLB shootdown: a kernel mapping that other CPUs may cache is removed or narrowed, so every
// online CPU must drop its TLB entry before the frame behind it is reused. The one TLB entry
// point of the kernel's address space (mm/kernel_address_space.cpp) calls this once installed.
#pragma once

#include <stdint.h>

#include "lib/cpu_mask.hpp"
#include "mm/kernel_address_space.hpp"  // VirtualRange

namespace kernel::tlb {

// Hooks the remote-call IPI the shootdown rides on and makes the shootdown the kernel address
// space's TLB invalidation. Boot CPU, once.
void init();
// Invalidates `virt_addr` here and on every other online CPU, and returns once all have done it.
// Needs interrupts enabled when other CPUs are online (they may be waiting on us meanwhile).
void shootdown(uint64_t virt_addr);
// Kernel ranges, on every CPU in one remote call (dead tasks' kernel stacks being freed).
void shootdown_kernel_ranges(const VirtualRange* ranges, unsigned count);
uint64_t shootdown_count();
// A user address space's [start, end) changed: the other CPUs in `loaded_on` (those that have
// it loaded, kept by the switch path) drop their entries for it — page by page for a short range,
// the whole TLB for a long one; a CPU in the set that has another space loaded leaves the set
// instead. This CPU dropped its own when it changed the tables. Returns once all have;
// interrupts must be on.
void shootdown_user_range(kstd::CpuMask& loaded_on, uint64_t start, uint64_t end);
uint64_t user_shootdown_count();

}  // namespace kernel::tlb

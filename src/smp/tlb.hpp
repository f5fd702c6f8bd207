// TLB shootdown: a kernel mapping that other CPUs may cache is removed or narrowed, so every
// online CPU must drop its TLB entry before the frame behind it is reused. The one TLB entry
// point of the kernel's address space (mm/kernel_address_space.cpp) calls this once installed.
#pragma once

#include <stdint.h>

namespace kernel::tlb {

// Hooks the remote-call IPI the shootdown rides on and makes the shootdown the kernel address
// space's TLB invalidation. Boot CPU, once.
void init();
// Invalidates `virt_addr` here and on every other online CPU, and returns once all have done it.
// Needs interrupts enabled when other CPUs are online (they may be waiting on us meanwhile).
void shootdown(uint64_t virt_addr);
uint64_t shootdown_count();

}  // namespace kernel::tlb

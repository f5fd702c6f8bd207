// The x86 side of the extended register state (extended_state.cpp) that other arch files call:
// per-CPU set-up from init_user_mode, and the lazy-switching #NM hook from trap_dispatch.
#pragma once

#include <stdint.h>

namespace arch::x86 {

// x87, SSE and (with XSAVE) AVX on for ring 3 on this CPU. The boot CPU (index 0) runs it first
// and picks the save method and area size that every CPU then uses.
void init_extended_state(unsigned cpu_index);
// A #NM from ring 3: true if the registered lazy-switching handler loaded the task's registers.
bool take_extended_state_trap();
// For #MF (x87) and #XM (SIMD) reports: the unmasked exceptions raised, bit 0 invalid operation,
// 1 denormal operand, 2 divide by zero, 3 overflow, 4 underflow, 5 precision (the order of both
// the x87 status word and MXCSR).
uint32_t unmasked_x87_exceptions();
uint32_t unmasked_simd_exceptions();

}  // namespace arch::x86

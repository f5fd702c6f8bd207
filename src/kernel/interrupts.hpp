// Interrupt controllers and time on x86 PCs: legacy PIC masked, local APIC enabled and its timer
// calibrated against the TSC and ticking periodically, device IRQs (COM1 and the PS/2 keyboard)
// routed through the IO APIC to their drivers.
#pragma once

#include <stddef.h>
#include <stdint.h>

namespace arch {
struct TrapFrame;
}

namespace kernel::interrupts {

// Boot CPU, as soon as the kernel's page tables and the IDT are up: legacy PIC masked, local
// APIC enabled and its timer counting, so that its calibration window spans the rest of the boot.
void start_timer();
// Boot CPU: the rest of the above (the timer's rate against the calibrated TSC, the tick, the IO
// APIC routes), then interrupts on. `tick_hz` comes from sable.tick_hz.
void init(unsigned tick_hz);

// An AP: its local APIC (same MMIO address on every CPU) and its timer at the boot CPU's rate.
void init_application_processor();

unsigned tick_hz();
uint64_t ticks();                 // timer ticks on this CPU since init
uint64_t last_tick_ns();          // clock::ns_since_boot() at this CPU's most recent tick
uint64_t lapic_timer_hz();        // measured LAPIC timer input frequency (after divide-by-16)
uint64_t spurious_count();

// Called on every tick after the EOI (the scheduler's hook, which may switch tasks inside it).
using TickHook = void (*)(arch::TrapFrame* frame);
void set_tick_hook(TickHook hook);

}  // namespace kernel::interrupts

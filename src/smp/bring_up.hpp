// Starting the application processors (seed 000's INIT-SIPI-SIPI, in parallel, with delays from
// the calibrated clock). Each AP goes through ap_trampoline.S to ap_main(), loads its own GDT,
// TSS (with its own IST stacks) and the IDT, enables its local APIC and timer, sets its bit in
// the started-CPUs bitmap and parks. A CPU that never answers is reported and left out.
#pragma once

#include <stdint.h>

namespace kernel::smp_boot {

// Boot CPU: CpuLocal 0 and GS base. Called before interrupts are enabled.
void init_boot_cpu();
// Starts every enabled AP the firmware tables list; prints the smp: line (log-format.md).
// `silent_apic_id` (sable.smp_silent=<id>, for tests) is never sent INIT/SIPI: it plays a CPU
// that does not answer.
void start_application_processors(uint32_t silent_apic_id = ~0u);
unsigned online_count();
uint64_t bringup_ns();  // first INIT to the last AP online

}  // namespace kernel::smp_boot

// Starting the application processors: INIT-SIPI-SIPI to all of them at once, with the delays
// measured by the calibrated clock. Each AP goes through the arch's trampoline to ap_main(),
// loads its own GDT, TSS (with its own IST stacks) and the IDT, runs the kernel's per-AP set-up
// (its local APIC timer), adds itself to the started CPUs and parks in its idle task. A CPU that
// never answers is reported and left out.
#pragma once

#include <stdint.h>

namespace kernel::smp_boot {

// Boot CPU: CpuLocal 0 and GS base. Called before interrupts are enabled.
void init_boot_cpu();
// Starts every enabled AP the firmware tables list; prints the smp: line (a fixed-shape line, docs/design.md).
// `silent_apic_id` (sable.smp_silent=<id>, for tests) is never sent INIT/SIPI: it plays a CPU
// that does not answer.
// `ap_init` runs on each AP before it takes tasks.
void start_application_processors(void (*ap_init)(), uint32_t silent_apic_id = ~0u);
unsigned online_count();
uint64_t bringup_ns();  // first INIT to the last AP online

}  // namespace kernel::smp_boot

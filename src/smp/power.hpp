// Reset and power-off: the FADT's reset register then the PC's own ways (arch::kResetMethods),
// and ACPI S5 through the PM1 control blocks with the DSDT's \_S5 sleep type. docs/power.md.
#pragma once

#include <stdint.h>

#include "lib/string_view.hpp"

namespace kernel::power {

// Once, after kernel::platform::discover and before other CPUs start: reads the FADT and the
// \_S5 package, maps any memory-space register, and logs what reset and power-off will do.
// `first_reset_method` (sable.reset=): "acpi" (default, also when empty) or an
// arch::kResetMethods name, to start the reset sequence there (tests try each step alone).
void init(kstd::StringView first_reset_method);

// Both stop the other CPUs, turn interrupts off and never return. Need interrupts enabled at
// the call (stopping the other CPUs is a remote call). Every step is logged before it is tried.
[[noreturn]] void restart();
// Without ACPI S5, or if the machine is still on after the write, says so and halts.
[[noreturn]] void power_off();

// The ACPI PM timer, a free-running 3.579545 MHz counter (smp::kPmTimerHz) the clock refines the
// TSC against: its width in bits (24 or 32; 0 when the FADT gives no usable one) and its value.
unsigned pm_timer_bits();
uint32_t pm_timer_read();

}  // namespace kernel::power

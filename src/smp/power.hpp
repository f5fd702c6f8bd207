// Reset and power-off: the FADT's reset register then the PC's own ways (arch::kResetMethods),
// and ACPI S5 through the PM1 control blocks with the DSDT's \_S5 sleep type. docs/power.md.
#pragma once

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

}  // namespace kernel::power

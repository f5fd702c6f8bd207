// Time since boot from the TSC, calibrated once against the PIT. The interrupts issue adds the
// LAPIC timer on top of this.
#pragma once

#include <stdint.h>

namespace clock {

// Records the boot timestamp; called first thing in kernel_main.
void mark_boot();
// Measures the TSC frequency; false (and times stay 0) if the PIT did not answer.
bool calibrate();
uint64_t tsc_hz();
uint64_t ns_since_boot();

}  // namespace clock

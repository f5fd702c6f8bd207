// Time since boot from the TSC, calibrated once against the PIT (the LAPIC timer is calibrated
// against it in turn: src/kernel/interrupts.cpp).
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

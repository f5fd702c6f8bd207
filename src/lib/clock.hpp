// Time since boot from the TSC. Calibrated at boot against the PIT over a short window (the LAPIC
// timer is calibrated against it in turn: src/kernel/interrupts.cpp), then refined once, about a
// second later, against a longer and exact reference (the ACPI PM timer: kernel/tsc_refine.cpp).
#pragma once

#include <stdint.h>

namespace clock {

// Records the boot timestamp; called first thing in kernel_main.
void mark_boot();
// Measures the TSC frequency; false (and times stay 0) if the PIT did not answer.
bool calibrate();
uint64_t tsc_hz();
uint64_t ns_since_boot();
// Switches to a better frequency measurement from now on, keeping ns_since_boot continuous:
// times already handed out stay as they were, later ones advance at the new rate. Once only
// (false after); safe against readers on other CPUs, which see the old or the new rate whole.
bool refine(uint64_t tsc_hz);

}  // namespace clock

// Time since boot from the TSC. Its rate comes from CPUID where the CPU states it, else from a
// window against the PIT that opens at mark_boot and closes at calibrate, so the boot's work in
// between fills it (the LAPIC timer is calibrated against the TSC in turn:
// src/kernel/interrupts.cpp); then it is refined once, about a second later, against a longer and
// exact reference (the ACPI PM timer: kernel/tsc_refine.cpp). Times read 0 before calibrate;
// log time stamps come from the calibration's reference itself then (log_time_ns).
#pragma once

#include <stdint.h>

namespace clock {

// Records the boot timestamp and opens the calibration window; called first thing in kernel_main.
void mark_boot();
// Closes the window: the TSC frequency from then on; false (and times stay 0) if the PIT did not
// answer. Called as late as the boot allows, before the first timer or sleep needs the rate.
bool calibrate();
uint64_t tsc_hz();
uint64_t ns_since_boot();
// ns_since_boot for klog's time stamps: before calibrate, the time by the calibration window's
// reference (arch::calibration_elapsed_ns: the PIT's count, microseconds). Apart from
// ns_since_boot, whose callers (ticks, sleeps, futex timeouts) never run that early.
uint64_t log_time_ns();
// Switches to a better frequency measurement from now on, keeping ns_since_boot continuous:
// times already handed out stay as they were, later ones advance at the new rate. Once only
// (false after); safe against readers on other CPUs, which see the old or the new rate whole.
bool refine(uint64_t tsc_hz);

}  // namespace clock

// The TSC's frequency, refined once against the ACPI PM timer (see clock.hpp): the boot
// calibration uses a 1 ms PIT window to keep the boot short; a second later the PM timer, an
// exact 3.579545 MHz counter, gives the rate to about a part per million.
#pragma once

namespace kernel::tsc_refine {

// After power::init (which finds the PM timer): the first reading, or nothing without a timer.
void start();
// From the timer tick, any CPU: once a second has passed, the second reading and the refinement.
void on_tick();

}  // namespace kernel::tsc_refine

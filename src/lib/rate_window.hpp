// Measuring one counter's rate against another over a window whose two ends are each known only
// to a bracket (the timestamps read just before and just after a counter was read), and the
// frequencies a CPU states outright in CPUID. The x86 calibration of the TSC against the PIT and
// of the local APIC timer against the TSC (arch/x86_64/cpu.cpp, kernel/interrupts.cpp) decide
// with these; host tests feed them made-up readings (docs/performance.md, "Boot").
#pragma once

#include <stdint.h>

namespace kstd {

// A counter read happened somewhere between these two timestamps.
struct Bracket {
    uint64_t before;
    uint64_t after;
};

// A window: the brackets of the counter reads at its start and its end, and the counter ticks
// between those reads (the caller unwraps its counter's width and direction). A read `on_edge`
// brackets the instant the counter changed to the value read (from the read before the change to
// the first read after it): its value is exact at that instant, not truncated.
struct CounterWindow {
    Bracket start;
    Bracket end;
    uint64_t counter_ticks;
    bool on_edges = false;
};

// The timestamp ticks the window lasted (between its brackets' midpoints) when that and the
// counter ticks are both known to `max_error_ppm`: each read's instant is known to half its
// bracket, each counter value to one tick (exactly, for reads on edges). 0 while the window is
// too short (or a bracket too wide) for that, or the readings make no sense (an end before the
// start).
uint64_t precise_timestamp_ticks(const CounterWindow& window, uint64_t max_error_ppm);

// value * numerator / denominator without overflowing 64 bits in between (0 for a zero
// denominator; saturates at UINT64_MAX).
uint64_t scale(uint64_t value, uint64_t numerator, uint64_t denominator);

// The CPUID leaves that may state the timestamp counter's and the local APIC timer's rates.
// Zero where the CPU does not have the leaf.
struct CpuidClockLeaves {
    bool intel = false;                  // vendor GenuineIntel: leaves 0x15 and 0x16 are Intel's
    uint32_t max_basic_leaf = 0;         // CPUID.0:EAX
    uint32_t tsc_ratio_denominator = 0;  // CPUID.15H:EAX
    uint32_t tsc_ratio_numerator = 0;    // CPUID.15H:EBX
    uint32_t crystal_hz = 0;             // CPUID.15H:ECX
    uint32_t base_mhz = 0;               // CPUID.16H:EAX
    // Hypervisor leaves (CPUID.1:ECX[31]): the vendor's signature in 0x40000000 and, for the
    // hypervisors that define it (VMware, and KVM as QEMU sets it up), leaf 0x40000010.
    bool hypervisor_timing_leaf = false;  // signature VMwareVMware or KVMKVMKVM, max leaf >= 0x40000010
    uint32_t hypervisor_tsc_khz = 0;      // 0x40000010:EAX
    uint32_t hypervisor_apic_bus_khz = 0;  // 0x40000010:EBX
};

struct StatedClockRates {
    uint64_t timestamp_hz = 0;  // 0: not stated, measure it
    uint64_t apic_timer_hz = 0;  // the local APIC timer's input (before its divider); 0: measure it
};

// What the leaves state: the hypervisor's timing leaf first; else Intel's leaf 0x15 (TSC =
// crystal * numerator / denominator, and the APIC timer counts at the crystal's rate), with the
// crystal taken from leaf 0x16's base frequency where leaf 0x15 leaves it 0.
StatedClockRates stated_clock_rates(const CpuidClockLeaves& leaves);

}  // namespace kstd

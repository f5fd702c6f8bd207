// Rates from bracketed counter windows and from CPUID (see rate_window.hpp).
#include "lib/rate_window.hpp"

namespace kstd {
namespace {

using Wide = unsigned __int128;

// The freestanding kernel has no 128-bit division routine (__udivti3): a restoring division,
// bit by bit, where the dividend does not fit 64 bits. Only calibration calls it.
Wide divide(Wide dividend, uint64_t divisor) {
    if (dividend >> 64 == 0) return static_cast<uint64_t>(dividend) / divisor;
    Wide quotient = 0, remainder = 0;
    for (int bit = 127; bit >= 0; --bit) {
        remainder = (remainder << 1) | ((dividend >> bit) & 1);
        if (remainder >= divisor) {
            remainder -= divisor;
            quotient |= Wide{1} << bit;
        }
    }
    return quotient;
}

}  // namespace

uint64_t precise_timestamp_ticks(const CounterWindow& window, uint64_t max_error_ppm) {
    const Bracket& start = window.start;
    const Bracket& end = window.end;
    if (start.after < start.before || end.after < end.before || end.before < start.after) return 0;
    if (window.counter_ticks == 0) return 0;
    const uint64_t start_width = start.after - start.before, end_width = end.after - end.before;
    const uint64_t ticks = (end.before + end_width / 2) - (start.before + start_width / 2);
    const uint64_t half_widths_ticks = (start_width + end_width + 1) / 2;
    if (ticks <= half_widths_ticks) return 0;
    if (max_error_ppm > 1'000'000) max_error_ppm = 1'000'000;
    // Relative error: half of each bracket against the timestamp ticks, plus one counter tick
    // (a value read off an edge is truncated) against the counter ticks. Multiplied through by
    // both tick counts, so no division: half_widths / ticks + truncation / counter_ticks <=
    // max_error_ppm / 1e6.
    const uint64_t truncation_ticks = window.on_edges ? 0 : 1;
    const Wide error = (Wide{half_widths_ticks} * window.counter_ticks + Wide{truncation_ticks} * ticks) * 1'000'000;
    const Wide allowed = Wide{max_error_ppm} * ticks * window.counter_ticks;
    return error <= allowed ? ticks : 0;
}

uint64_t scale(uint64_t value, uint64_t numerator, uint64_t denominator) {
    if (denominator == 0) return 0;
    const Wide result = divide(Wide{value} * numerator, denominator);
    return result > UINT64_MAX ? UINT64_MAX : static_cast<uint64_t>(result);
}

StatedClockRates stated_clock_rates(const CpuidClockLeaves& leaves) {
    StatedClockRates rates;
    if (leaves.hypervisor_timing_leaf && leaves.hypervisor_tsc_khz != 0) {
        rates.timestamp_hz = uint64_t{leaves.hypervisor_tsc_khz} * 1000;
        rates.apic_timer_hz = uint64_t{leaves.hypervisor_apic_bus_khz} * 1000;
        return rates;
    }
    // [SDM vol2 CPUID leaf 15H] TSC = crystal * EBX / EAX; EBX = 0 means the ratio is not given.
    if (!leaves.intel || leaves.max_basic_leaf < 0x15) return rates;
    if (leaves.tsc_ratio_denominator == 0 || leaves.tsc_ratio_numerator == 0) return rates;
    uint64_t crystal_hz = leaves.crystal_hz;
    // Some parts leave ECX 0; their base frequency (leaf 16H, MHz) is the TSC's, so the crystal
    // is that over the ratio (as Linux's native_calibrate_tsc does).
    if (crystal_hz == 0 && leaves.max_basic_leaf >= 0x16 && leaves.base_mhz != 0)
        crystal_hz = scale(uint64_t{leaves.base_mhz} * 1'000'000, leaves.tsc_ratio_denominator,
                           leaves.tsc_ratio_numerator);
    if (crystal_hz == 0) return rates;
    rates.timestamp_hz = scale(crystal_hz, leaves.tsc_ratio_numerator, leaves.tsc_ratio_denominator);
    rates.apic_timer_hz = crystal_hz;
    return rates;
}

}  // namespace kstd

// TSC-based monotonic clock (see clock.hpp).
#include "lib/clock.hpp"

#include "arch/arch.hpp"

namespace clock {
namespace {

// From timestamp `base_tsc` on, time is base_ns plus the ticks since at `hz`. Readers take the
// current conversion through one pointer load, so a refinement never shows them half of one;
// the two slots are the boot calibration and the one refinement.
struct Conversion {
    uint64_t base_tsc;
    uint64_t base_ns;
    uint64_t hz;
};
Conversion g_conversions[2];
const Conversion* g_current = &g_conversions[0];

uint64_t ns_with(const Conversion& c, uint64_t now) {
    if (c.hz == 0) return 0;
    const uint64_t ticks = now - c.base_tsc;
    // Split to avoid overflowing ticks * 1e9 (which would happen after ~6 s at 3 GHz).
    return c.base_ns + ticks / c.hz * 1000000000ull + ticks % c.hz * 1000000000ull / c.hz;
}

}  // namespace

void mark_boot() {
    g_conversions[0].base_tsc = arch::timestamp();
    arch::begin_timestamp_calibration();
}

bool calibrate() {
    g_conversions[0].hz = arch::calibrate_timestamp_hz();
    return g_conversions[0].hz != 0;
}

uint64_t tsc_hz() { return __atomic_load_n(&g_current, __ATOMIC_ACQUIRE)->hz; }

uint64_t ns_since_boot() { return ns_with(*__atomic_load_n(&g_current, __ATOMIC_ACQUIRE), arch::timestamp()); }

uint64_t log_time_ns() {
    // Before calibrate, only the boot CPU runs, and the calibration's reference tells the time.
    if (__atomic_load_n(&g_current, __ATOMIC_ACQUIRE)->hz == 0) return arch::calibration_elapsed_ns();
    return ns_since_boot();
}

bool refine(uint64_t tsc_hz) {
    if (tsc_hz == 0 || __atomic_load_n(&g_current, __ATOMIC_ACQUIRE) != &g_conversions[0]) return false;
    const uint64_t now = arch::timestamp();
    g_conversions[1] = {now, ns_with(g_conversions[0], now), tsc_hz};
    __atomic_store_n(&g_current, &g_conversions[1], __ATOMIC_RELEASE);
    return true;
}

}  // namespace clock

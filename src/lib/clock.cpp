// TSC-based monotonic clock (see clock.hpp).
#include "lib/clock.hpp"

#include "arch/arch.hpp"

namespace clock {
namespace {
uint64_t g_boot_tsc = 0;
uint64_t g_tsc_hz = 0;
}  // namespace

void mark_boot() { g_boot_tsc = arch::timestamp(); }

bool calibrate() {
    g_tsc_hz = arch::calibrate_timestamp_hz();
    return g_tsc_hz != 0;
}

uint64_t tsc_hz() { return g_tsc_hz; }

uint64_t ns_since_boot() {
    if (g_tsc_hz == 0) return 0;
    const uint64_t ticks = arch::timestamp() - g_boot_tsc;
    // Split to avoid overflowing ticks * 1e9 (which would happen after ~6 s at 3 GHz).
    return ticks / g_tsc_hz * 1000000000ull + ticks % g_tsc_hz * 1000000000ull / g_tsc_hz;
}

}  // namespace clock

// Refining the TSC frequency against the ACPI PM timer (see tsc_refine.hpp).
#include "kernel/tsc_refine.hpp"

#include "arch/arch.hpp"
#include "lib/clock.hpp"
#include "lib/console.hpp"
#include "smp/acpi_power.hpp"
#include "smp/power.hpp"

namespace kernel::tsc_refine {
namespace {

// A reading: the PM timer between two timestamps, with interrupts off. If the two are further
// apart than this (an SMI, or the host holding a virtual CPU), it is taken again at a later tick.
constexpr uint64_t kMaxBracketNs = 50'000;
constexpr uint64_t kWindowSeconds = 1;
// Beyond 10 % one of the two clocks is broken. Less is the boot window's error: 1 ms of PIT on a
// busy emulator host measured 2.6 % off (a late port read); the LAPIC test allows 10 % too.
constexpr uint64_t kMaxChangePpm = 100'000;

struct Reading {
    uint64_t tsc;  // midpoint of the bracket
    uint32_t pm;
};

Reading g_first;
bool g_pending = false;

bool take(Reading& out) {
    const bool were_enabled = arch::save_and_disable_interrupts();
    const uint64_t before = arch::timestamp();
    const uint32_t pm = power::pm_timer_read();
    const uint64_t after = arch::timestamp();
    arch::restore_interrupts(were_enabled);
    out = {before + (after - before) / 2, pm};
    return (after - before) * 1'000'000'000ull / clock::tsc_hz() <= kMaxBracketNs;
}

}  // namespace

void start() {
    if (power::pm_timer_bits() == 0 || clock::tsc_hz() == 0) {
        klog("clock: no ACPI PM timer: the TSC stays at its boot calibration (%lu Hz)", clock::tsc_hz());
        return;
    }
    constexpr unsigned kAttempts = 16;
    for (unsigned attempt = 0; attempt < kAttempts; ++attempt) {
        if (take(g_first)) {
            __atomic_store_n(&g_pending, true, __ATOMIC_RELEASE);
            return;
        }
    }
    klog("clock: every ACPI PM timer reading took over %lu us: the TSC stays at its boot calibration",
         kMaxBracketNs / 1000);
}

void on_tick() {
    if (!__atomic_load_n(&g_pending, __ATOMIC_ACQUIRE)) return;
    const uint64_t boot_hz = clock::tsc_hz();
    if (arch::timestamp() - g_first.tsc < kWindowSeconds * boot_hz) return;
    if (!__atomic_exchange_n(&g_pending, false, __ATOMIC_ACQ_REL)) return;  // another CPU's tick took it
    Reading second;
    if (!take(second)) {
        __atomic_store_n(&g_pending, true, __ATOMIC_RELEASE);  // try at a later tick
        return;
    }
    // The counter wraps (every 4.7 s at 24 bits): the boot rate says how many times.
    const uint64_t wrap = 1ull << power::pm_timer_bits();
    const uint64_t elapsed_tsc = second.tsc - g_first.tsc;
    const uint64_t counted = (second.pm - g_first.pm) & (wrap - 1);
    const uint64_t expected = elapsed_tsc * smp::kPmTimerHz / boot_hz;
    const uint64_t wraps = expected > counted ? (expected - counted + wrap / 2) / wrap : 0;
    const uint64_t pm_ticks = counted + wraps * wrap;
    if (pm_ticks == 0) return;
    const uint64_t hz = elapsed_tsc * smp::kPmTimerHz / pm_ticks;
    const int64_t change_ppm = (static_cast<int64_t>(hz) - static_cast<int64_t>(boot_hz)) * 1'000'000 /
                               static_cast<int64_t>(boot_hz);
    if (change_ppm > static_cast<int64_t>(kMaxChangePpm) || -change_ppm > static_cast<int64_t>(kMaxChangePpm)) {
        klog("clock: the ACPI PM timer disagrees with the PIT by %ld ppm: keeping the boot calibration", change_ppm);
        return;
    }
    clock::refine(hz);
    klog("clock: TSC %lu Hz against the ACPI PM timer over %lu ms (boot calibration %lu Hz, %ld ppm)", hz,
         elapsed_tsc * 1000 / boot_hz, boot_hz, change_ppm);
}

}  // namespace kernel::tsc_refine

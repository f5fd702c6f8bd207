// The lockup detector's decisions, apart from the machine: what `sable.watchdog=` asks for, and
// when a watched CPU counts as stuck. kernel/watchdog.cpp feeds this what one CPU reads of
// another on each of its ticks; host tests feed it made-up readings (docs/watchdog.md).
#pragma once

#include <stdint.h>

#include "lib/string_view.hpp"

namespace kstd {

inline constexpr uint64_t kWatchdogDefaultSeconds = 10;
inline constexpr uint64_t kWatchdogMaxSeconds = 3600;

struct WatchdogSettings {
    bool enabled = true;
    bool panic = true;  // false (`warn`): report the stuck CPU and let it go on
    uint64_t threshold_ns = kWatchdogDefaultSeconds * 1000000000ull;
};

// `sable.watchdog=`: comma-separated words, each `off`, `warn`, `panic` or whole seconds
// (1..kWatchdogMaxSeconds); an empty value keeps the defaults. False, `settings` untouched, if
// any word is none of these.
bool parse_watchdog_setting(StringView value, WatchdogSettings& settings);

enum class Stall : uint8_t {
    None,
    InterruptsOff,  // its tick count has not moved: interrupts off (or the timer dead)
    NotScheduling,  // ticks arrive but it has not scheduled: stuck in the kernel, interrupts on
};
const char* describe(Stall stall);  // "interrupts off", "in the kernel without scheduling"

// What the watching CPU reads of the watched one on each of its own ticks.
struct WatchedSample {
    uint64_t heartbeat;  // the watched CPU's tick count
    uint64_t progress;   // its tick count when it last scheduled (CpuLocal::scheduled_at_tick)
};

struct StallVerdict {
    Stall stall = Stall::None;
    uint64_t since_ns = 0;  // when the stuck value was first seen (the watcher's clock)
};

// One watcher's memory of the CPU it watches. A value counts as stuck once it has stayed the same
// for the threshold by the clock *and* for half the threshold's worth of the watcher's own
// ticks: when the host stops the whole VM, the watcher's clock jumps but its tick count does not,
// so a stall everyone shared is never reported. Each stall is reported once; it is re-armed when
// the value moves.
class StallWatch {
public:
    // Called on each of the watcher's ticks: `now_ns` by the kernel clock, `watcher_ticks` its
    // own tick count, `tick_hz` the rate both CPUs tick at.
    StallVerdict observe(const WatchedSample& sample, uint64_t now_ns, uint64_t watcher_ticks,
                         const WatchdogSettings& settings, unsigned tick_hz);
    // Forget everything (the watcher now watches another CPU).
    void reset() { *this = StallWatch{}; }

private:
    struct Mark {
        uint64_t value = 0;
        uint64_t since_ns = 0;
        uint64_t since_watcher_tick = 0;
        bool reported = false;
    };
    static void restart(Mark& mark, uint64_t value, uint64_t now_ns, uint64_t watcher_ticks);
    static bool stuck(const Mark& mark, uint64_t now_ns, uint64_t watcher_ticks, const WatchdogSettings& settings,
                      unsigned tick_hz);

    bool m_started = false;  // the first reading only sets the marks
    Mark m_heartbeat;
    Mark m_progress;
};

}  // namespace kstd

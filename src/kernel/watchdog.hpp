// The lockup detector (docs/watchdog.md). Each CPU's tick watches the next online CPU's tick
// count and scheduling mark (lib/watchdog_rule.hpp decides when that CPU is stuck) and sends a
// stuck CPU an NMI, whose handler here prints "watchdog: CPU <n> stuck: ..." with the registers
// and symbolized backtrace of the code it interrupted, then panics, or with sable.watchdog=warn
// lets it go on.
#pragma once

#include <stdint.h>

#include "lib/string_view.hpp"
#include "lib/watchdog_rule.hpp"

namespace kernel::watchdog {

// Reads the sable.watchdog= value (an unknown one is logged and the defaults kept), registers
// the NMI handler and logs what is in force. Boot CPU, once its tick runs, before the APs start.
void init(kstd::StringView setting, unsigned tick_hz);
// This CPU's tick, interrupts off: checks the CPU it watches. `now_ns`: the clock at this tick.
void on_tick(uint64_t now_ns);

const kstd::WatchdogSettings& settings();

// What the latest report about a CPU found, for the self test: the stall and the interrupted
// RIP followed by the return addresses its frame pointers lead to (0 past the end).
struct Report {
    kstd::Stall stall;
    uint64_t frames[4];
};
Report last_report(unsigned cpu);
// Reports made by that CPU's NMI handler, counted once each is printed; a test spinning on that
// CPU reads it to know it has been seen.
const uint64_t& report_count(unsigned cpu);
// NMIs that found the CPU no longer stuck (the stall ended between the watcher's look and the
// NMI), and how many of those had interrupted ring 3.
uint64_t dismissed_count(unsigned cpu);
uint64_t dismissed_in_user_count(unsigned cpu);
// For the self test: an NMI into `cpu` with a request its handler must find over, as if the
// stall had ended on the way; it resumes whatever it interrupted (dismissed_count counts it).
void send_stale_request(unsigned cpu);

}  // namespace kernel::watchdog

// Checks the lockup detector's portable half: the sable.watchdog= words, and when a watcher that
// reads another CPU's tick count and scheduling mark on each of its own ticks calls it stuck.
#include "lib/watchdog_rule.hpp"

#include <gtest/gtest.h>

namespace {

using kstd::Stall;
using kstd::StallWatch;
using kstd::WatchdogSettings;

constexpr uint64_t kSecond = 1000000000ull;
constexpr unsigned kTickHz = 100;

TEST(WatchdogSetting, EmptyKeepsDefaults) {
    WatchdogSettings settings;
    ASSERT_TRUE(kstd::parse_watchdog_setting("", settings));
    EXPECT_TRUE(settings.enabled);
    EXPECT_TRUE(settings.panic);
    EXPECT_EQ(settings.threshold_ns, kstd::kWatchdogDefaultSeconds * kSecond);
}

TEST(WatchdogSetting, ReadsEveryWord) {
    WatchdogSettings settings;
    ASSERT_TRUE(kstd::parse_watchdog_setting("warn,3", settings));
    EXPECT_TRUE(settings.enabled);
    EXPECT_FALSE(settings.panic);
    EXPECT_EQ(settings.threshold_ns, 3 * kSecond);
    ASSERT_TRUE(kstd::parse_watchdog_setting("panic", settings));
    EXPECT_TRUE(settings.panic);
    ASSERT_TRUE(kstd::parse_watchdog_setting("off", settings));
    EXPECT_FALSE(settings.enabled);
    ASSERT_TRUE(kstd::parse_watchdog_setting("3600", settings));
    EXPECT_EQ(settings.threshold_ns, 3600 * kSecond);
}

TEST(WatchdogSetting, RejectsBadWordsAndChangesNothing) {
    for (const char* bad : {"0", "3601", "12345", "-1", "1.5", "warn,", ",warn", "on", "10s", "warn,,3"}) {
        WatchdogSettings settings;
        EXPECT_FALSE(kstd::parse_watchdog_setting(bad, settings)) << bad;
        EXPECT_TRUE(settings.enabled) << bad;
        EXPECT_TRUE(settings.panic) << bad;
        EXPECT_EQ(settings.threshold_ns, kstd::kWatchdogDefaultSeconds * kSecond) << bad;
    }
}

// A watcher ticking at kTickHz with a clock, watching a CPU whose counts the test sets.
struct Watcher {
    WatchdogSettings settings{true, true, 3 * kSecond};
    StallWatch watch;
    uint64_t now_ns = 5 * kSecond;
    uint64_t own_ticks = 500;
    uint64_t heartbeat = 40;
    uint64_t progress = 40;

    // One of the watcher's ticks, `elapsed_ns` after the last one.
    kstd::StallVerdict tick(uint64_t elapsed_ns = kSecond / kTickHz) {
        now_ns += elapsed_ns;
        ++own_ticks;
        return watch.observe({heartbeat, progress}, now_ns, own_ticks, settings, kTickHz);
    }
    // `seconds` of the watcher's ticks; the first verdict that is not None, if any.
    kstd::StallVerdict run(unsigned seconds, bool watched_ticks, bool watched_schedules) {
        for (unsigned i = 0; i < seconds * kTickHz; ++i) {
            if (watched_ticks) ++heartbeat;
            if (watched_schedules) progress = heartbeat;
            const kstd::StallVerdict verdict = tick();
            if (verdict.stall != Stall::None) return verdict;
        }
        return {};
    }
};

TEST(StallWatch, HealthyCpuIsNeverStuck) {
    Watcher w;
    EXPECT_EQ(w.run(60, true, true).stall, Stall::None);
}

TEST(StallWatch, IdleOrUserCpuThatSchedulesRarelyIsNotStuck) {
    // Ticks arrive; the scheduling mark moves once every 2 s (under the 3 s threshold).
    Watcher w;
    for (int round = 0; round < 20; ++round) {
        EXPECT_EQ(w.run(2, true, false).stall, Stall::None);
        w.progress = w.heartbeat;
    }
}

TEST(StallWatch, SilentHeartbeatIsInterruptsOffOnceAfterThreshold) {
    Watcher w;
    w.tick();
    const uint64_t stalled_at = w.now_ns;
    // ticks: [2.99 s of nothing] -> not yet
    for (unsigned i = 0; i < 3 * kTickHz - 1; ++i) EXPECT_EQ(w.tick().stall, Stall::None);
    const kstd::StallVerdict verdict = w.tick();
    EXPECT_EQ(verdict.stall, Stall::InterruptsOff);
    EXPECT_EQ(verdict.since_ns, stalled_at);
    // Reported once per stall, however long it lasts.
    EXPECT_EQ(w.run(30, false, false).stall, Stall::None);
}

TEST(StallWatch, ReportsAgainAfterTheCpuRecoveredAndStalledAgain) {
    Watcher w;
    EXPECT_EQ(w.run(5, false, false).stall, Stall::InterruptsOff);
    EXPECT_EQ(w.run(1, true, true).stall, Stall::None);
    EXPECT_EQ(w.run(5, false, false).stall, Stall::InterruptsOff);
}

TEST(StallWatch, TicksWithoutSchedulingIsNotScheduling) {
    Watcher w;
    w.tick();
    const uint64_t since = w.now_ns;
    const kstd::StallVerdict verdict = w.run(5, true, false);
    EXPECT_EQ(verdict.stall, Stall::NotScheduling);
    EXPECT_EQ(verdict.since_ns, since);
    EXPECT_EQ(w.run(30, true, false).stall, Stall::None);  // once
    EXPECT_EQ(w.run(1, true, true).stall, Stall::None);
    EXPECT_EQ(w.run(5, true, false).stall, Stall::NotScheduling);  // re-armed by scheduling
}

TEST(StallWatch, EndOfReportedInterruptsOffStallIsNotReportedAgainAsNotScheduling) {
    Watcher w;
    EXPECT_EQ(w.run(5, false, false).stall, Stall::InterruptsOff);
    // Interrupts back on: ticks resume, the task schedules 1 s later.
    EXPECT_EQ(w.run(1, true, false).stall, Stall::None);
    EXPECT_EQ(w.run(10, true, true).stall, Stall::None);
}

TEST(StallWatch, WholeMachineStallIsNotReported) {
    // The host stops the VM for 60 s: the watcher's next tick sees its clock jump but has taken
    // one tick, like the watched CPU, which has not ticked yet.
    Watcher w;
    EXPECT_EQ(w.run(1, true, true).stall, Stall::None);
    EXPECT_EQ(w.tick(60 * kSecond).stall, Stall::None);
    // The watched CPU takes its late tick a little later.
    ++w.heartbeat;
    w.progress = w.heartbeat;
    EXPECT_EQ(w.tick().stall, Stall::None);
    EXPECT_EQ(w.run(10, true, true).stall, Stall::None);
}

TEST(StallWatch, WatcherThatMissedTicksWaitsForEnoughOfItsOwn) {
    // The clock passes the threshold long before the watcher has taken half the threshold's ticks
    // (its ticks come every 100 ms instead of 10 ms): it reports only once it has.
    Watcher w;
    w.tick();
    unsigned ticks = 0;
    kstd::StallVerdict verdict;
    while (verdict.stall == Stall::None && ticks < 1000) {
        verdict = w.tick(kSecond / 10);
        ++ticks;
    }
    EXPECT_EQ(verdict.stall, Stall::InterruptsOff);
    EXPECT_EQ(ticks, 3 * kTickHz / 2);
}

TEST(StallWatch, DisabledNeverReports) {
    Watcher w;
    w.settings.enabled = false;
    EXPECT_EQ(w.run(60, false, false).stall, Stall::None);
}

}  // namespace

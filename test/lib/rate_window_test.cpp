// Checks the calibration's portable half: when a window bracketed at both ends is precise enough,
// the rate it gives, and the clock rates CPUID leaves state.
#include "lib/rate_window.hpp"

#include <gtest/gtest.h>

namespace {

using kstd::Bracket;
using kstd::CounterWindow;

constexpr uint64_t kPitHz = 1193182;

TEST(RateWindow, TicksAreBetweenBracketMidpoints) {
    const CounterWindow window{{100, 110}, {2'000'100, 2'000'120}, 2'400};
    EXPECT_EQ(kstd::precise_timestamp_ticks(window, 1000), 2'000'110 - 105);
}

TEST(RateWindow, OneMillisecondOfPitIsPreciseToATenthOfAPercent) {
    // 1 GHz timestamps, 1193 PIT counts: one count is 838 ppm, the brackets 10 ppm.
    const CounterWindow window{{0, 10}, {1'000'000, 1'000'010}, 1193};
    const uint64_t ticks = kstd::precise_timestamp_ticks(window, 1000);
    ASSERT_NE(ticks, 0u);
    EXPECT_NEAR(static_cast<double>(kstd::scale(ticks, kPitHz, 1193)), 1e9, 1e9 * 0.001);
}

TEST(RateWindow, TooFewCounterTicksWait) {
    const CounterWindow window{{0, 10}, {500'000, 500'010}, 596};  // one count = 1678 ppm
    EXPECT_EQ(kstd::precise_timestamp_ticks(window, 1000), 0u);
}

TEST(RateWindow, AWideBracketWaitsForALongerWindow) {
    // A read that took 5 us (a stalled virtual CPU) is 2500 ppm of a 1 ms window, 250 of 10 ms.
    const Bracket slow_start{0, 5'000};
    EXPECT_EQ(kstd::precise_timestamp_ticks({slow_start, {1'000'000, 1'000'010}, 1193}, 1000), 0u);
    EXPECT_NE(kstd::precise_timestamp_ticks({slow_start, {10'000'000, 10'000'010}, 11932}, 1000), 0u);
}

TEST(RateWindow, ReadsOnEdgesAreNotTruncated) {
    // 100 us of PIT (119 counts) is 8400 ppm off when truncated, exact on edges: only the 20 ns
    // brackets count then.
    const CounterWindow truncated{{0, 20}, {100'000, 100'020}, 119};
    CounterWindow on_edges = truncated;
    on_edges.on_edges = true;
    EXPECT_EQ(kstd::precise_timestamp_ticks(truncated, 1000), 0u);
    EXPECT_EQ(kstd::precise_timestamp_ticks(on_edges, 1000), 100'000u);
}

TEST(RateWindow, NoCounterTicksIsNoRate) {
    EXPECT_EQ(kstd::precise_timestamp_ticks({{0, 10}, {50'000'000, 50'000'010}, 0}, 1000), 0u);
}

TEST(RateWindow, AnEndBeforeItsStartIsRejected) {
    EXPECT_EQ(kstd::precise_timestamp_ticks({{1'000'000, 1'000'010}, {0, 10}, 1193}, 1000), 0u);
    EXPECT_EQ(kstd::precise_timestamp_ticks({{10, 0}, {1'000'000, 1'000'010}, 1193}, 1000), 0u);
}

TEST(RateWindow, ScaleKeepsTheHighBitsOfTheProduct) {
    // 4e9 timer counts at 20 GHz over 4e10 ticks: the product is 8e19, past 64 bits.
    EXPECT_EQ(kstd::scale(4'000'000'000ull, 20'000'000'000ull, 40'000'000'000ull), 2'000'000'000ull);
}

TEST(RateWindow, ScaleSaturatesAndRefusesZero) {
    EXPECT_EQ(kstd::scale(UINT64_MAX, 2, 1), UINT64_MAX);
    EXPECT_EQ(kstd::scale(5, 7, 0), 0u);
}

kstd::CpuidClockLeaves intel_with_leaf_15(uint32_t denominator, uint32_t numerator, uint32_t crystal_hz) {
    kstd::CpuidClockLeaves leaves;
    leaves.intel = true;
    leaves.max_basic_leaf = 0x16;
    leaves.tsc_ratio_denominator = denominator;
    leaves.tsc_ratio_numerator = numerator;
    leaves.crystal_hz = crystal_hz;
    return leaves;
}

TEST(StatedClockRates, NoLeavesStateNothing) {
    const kstd::StatedClockRates rates = kstd::stated_clock_rates({});
    EXPECT_EQ(rates.timestamp_hz, 0u);
    EXPECT_EQ(rates.apic_timer_hz, 0u);
}

TEST(StatedClockRates, Leaf15GivesTheTscAndTheCrystalFeedsTheApicTimer) {
    // A 24 MHz crystal and a 2:300 ratio (a 3.6 GHz TSC).
    const kstd::StatedClockRates rates = kstd::stated_clock_rates(intel_with_leaf_15(2, 300, 24'000'000));
    EXPECT_EQ(rates.timestamp_hz, 3'600'000'000u);
    EXPECT_EQ(rates.apic_timer_hz, 24'000'000u);
}

TEST(StatedClockRates, Leaf16GivesTheCrystalWhereLeaf15LeavesItOut) {
    kstd::CpuidClockLeaves leaves = intel_with_leaf_15(2, 216, 0);  // 216/2: a 2.592 GHz part at 24 MHz
    leaves.base_mhz = 2592;
    const kstd::StatedClockRates rates = kstd::stated_clock_rates(leaves);
    EXPECT_EQ(rates.apic_timer_hz, 24'000'000u);
    EXPECT_EQ(rates.timestamp_hz, 2'592'000'000u);
}

TEST(StatedClockRates, Leaf15WithoutARatioStatesNothing) {
    EXPECT_EQ(kstd::stated_clock_rates(intel_with_leaf_15(0, 0, 24'000'000)).timestamp_hz, 0u);
    EXPECT_EQ(kstd::stated_clock_rates(intel_with_leaf_15(2, 0, 24'000'000)).timestamp_hz, 0u);
}

TEST(StatedClockRates, Leaf15IsIntelsOnly) {
    kstd::CpuidClockLeaves leaves = intel_with_leaf_15(2, 300, 24'000'000);
    leaves.intel = false;
    EXPECT_EQ(kstd::stated_clock_rates(leaves).timestamp_hz, 0u);
}

TEST(StatedClockRates, Leaf15BeyondTheMaximumLeafIsIgnored) {
    kstd::CpuidClockLeaves leaves = intel_with_leaf_15(2, 300, 24'000'000);
    leaves.max_basic_leaf = 0x14;
    EXPECT_EQ(kstd::stated_clock_rates(leaves).timestamp_hz, 0u);
}

TEST(StatedClockRates, TheHypervisorLeafComesFirst) {
    kstd::CpuidClockLeaves leaves = intel_with_leaf_15(2, 300, 24'000'000);
    leaves.hypervisor_timing_leaf = true;
    leaves.hypervisor_tsc_khz = 2'100'000;
    leaves.hypervisor_apic_bus_khz = 1'000'000;
    const kstd::StatedClockRates rates = kstd::stated_clock_rates(leaves);
    EXPECT_EQ(rates.timestamp_hz, 2'100'000'000u);
    EXPECT_EQ(rates.apic_timer_hz, 1'000'000'000u);
}

TEST(StatedClockRates, AnEmptyHypervisorLeafFallsBackToLeaf15) {
    kstd::CpuidClockLeaves leaves = intel_with_leaf_15(2, 300, 24'000'000);
    leaves.hypervisor_timing_leaf = true;
    EXPECT_EQ(kstd::stated_clock_rates(leaves).timestamp_hz, 3'600'000'000u);
}

}  // namespace

// The lock checker's rules (lib/lock_debug.hpp), driven directly: CPUs are made-up keys, so each
// rule is checked for what it catches and for what it must let through.
#include <gtest/gtest.h>

#include <memory>
#include <set>
#include <string>

#include "lib/lock_debug.hpp"

namespace {

using kernel::LockLevel;
using kernel::lock_debug::Tracker;
using kernel::lock_debug::Violation;

struct LockDebugTest : ::testing::Test {
    std::unique_ptr<Tracker> tracker = std::make_unique<Tracker>();
    int cpu0 = 0, cpu1 = 0;  // only their addresses matter
    int a = 0, b = 0, c = 0;

    void take(const void* cpu, const void* lock, LockLevel level = LockLevel::None) {
        ASSERT_EQ(tracker->acquiring_irq_lock(cpu, lock, level).violation, Violation::None);
        tracker->acquired_irq_lock(cpu, lock, level);
    }
};

TEST_F(LockDebugTest, NestedLocksInOrderAndReleasedInAnyOrderPass) {
    take(&cpu0, &a, LockLevel::ProcessTable);
    take(&cpu0, &b, LockLevel::Process);
    take(&cpu0, &c);  // unordered locks nest anywhere
    EXPECT_EQ(tracker->held_count(&cpu0), 3u);
    EXPECT_EQ(tracker->releasing_irq_lock(&cpu0, &a, false).violation, Violation::None);
    EXPECT_EQ(tracker->releasing_irq_lock(&cpu0, &c, false).violation, Violation::None);
    EXPECT_EQ(tracker->releasing_irq_lock(&cpu0, &b, false).violation, Violation::None);
    EXPECT_EQ(tracker->held_count(&cpu0), 0u);
}

TEST_F(LockDebugTest, RetakingAHeldLockIsRecursion) {
    take(&cpu0, &a);
    const auto report = tracker->acquiring_irq_lock(&cpu0, &a, LockLevel::None);
    EXPECT_EQ(report.violation, Violation::Recursion);
    EXPECT_EQ(report.lock, &a);
}

TEST_F(LockDebugTest, AnotherCpuMayWaitForALockThisOneHolds) {
    take(&cpu0, &a);
    EXPECT_EQ(tracker->acquiring_irq_lock(&cpu1, &a, LockLevel::None).violation, Violation::None);
    EXPECT_EQ(tracker->held_count(&cpu1), 0u);
}

TEST_F(LockDebugTest, LowerLevelUnderHigherIsAnOrderBreach) {
    take(&cpu0, &a, LockLevel::PhysicalMemory);
    const auto report = tracker->acquiring_irq_lock(&cpu0, &b, LockLevel::ProcessTable);
    EXPECT_EQ(report.violation, Violation::Order);
    EXPECT_EQ(report.other, &a);
    EXPECT_EQ(report.other_level, LockLevel::PhysicalMemory);
    // Equal levels (two processes' locks) and unordered locks are not ordered against it.
    EXPECT_EQ(tracker->acquiring_irq_lock(&cpu0, &b, LockLevel::PhysicalMemory).violation, Violation::None);
    EXPECT_EQ(tracker->acquiring_irq_lock(&cpu0, &b, LockLevel::None).violation, Violation::None);
}

TEST_F(LockDebugTest, ReleasingALockNotHeldHereIsForeign) {
    take(&cpu0, &a);
    EXPECT_EQ(tracker->releasing_irq_lock(&cpu1, &a, false).violation, Violation::ForeignUnlock);
    EXPECT_EQ(tracker->releasing_irq_lock(&cpu0, &b, false).violation, Violation::ForeignUnlock);
}

TEST_F(LockDebugTest, InterruptsOnAtReleaseAreReported) {
    take(&cpu0, &a, LockLevel::Process);
    const auto report = tracker->releasing_irq_lock(&cpu0, &a, true);
    EXPECT_EQ(report.violation, Violation::InterruptsOn);
    EXPECT_EQ(report.level, LockLevel::Process);
    EXPECT_EQ(tracker->held_count(&cpu0), 0u);  // still released: the report is the only effect
}

TEST_F(LockDebugTest, SpinLockUnderAnIrqLockIsReported) {
    EXPECT_EQ(tracker->acquiring_spin_lock(&cpu0, &b, LockLevel::None).violation, Violation::None);
    take(&cpu0, &a);
    const auto report = tracker->acquiring_spin_lock(&cpu0, &b, LockLevel::None);
    EXPECT_EQ(report.violation, Violation::SpinUnderIrqLock);
    EXPECT_EQ(report.other, &a);
    EXPECT_EQ(tracker->acquiring_spin_lock(&cpu1, &b, LockLevel::None).violation, Violation::None);
}

TEST_F(LockDebugTest, MoreLocksThanTrackedIsReported) {
    int locks[kernel::lock_debug::kMaxHeldPerCpu + 1];
    for (unsigned i = 0; i < kernel::lock_debug::kMaxHeldPerCpu; ++i) take(&cpu0, &locks[i]);
    EXPECT_EQ(tracker->acquiring_irq_lock(&cpu0, &locks[kernel::lock_debug::kMaxHeldPerCpu], LockLevel::None).violation,
              Violation::TooDeep);
}

TEST_F(LockDebugTest, ManyCpusKeepSeparateRecords) {
    constexpr unsigned kCpus = 256;
    auto cpus = std::make_unique<char[]>(kCpus * 64);  // per-CPU blocks are 64-byte apart or more
    for (unsigned i = 0; i < kCpus; ++i) take(&cpus[i * 64], &a);
    for (unsigned i = 0; i < kCpus; ++i) EXPECT_EQ(tracker->held_count(&cpus[i * 64]), 1u) << i;
    for (unsigned i = 0; i < kCpus; ++i)
        EXPECT_EQ(tracker->releasing_irq_lock(&cpus[i * 64], &a, false).violation, Violation::None);
}

}  // namespace

namespace {

// Every rule and level has its own words in the panic line: none falls back to "?" and no two
// read the same.
TEST(LockDebugNames, EveryViolationAndLevelIsNamedDistinctly) {
    using kernel::lock_debug::violation_name;
    const Violation violations[] = {Violation::None,         Violation::Recursion, Violation::ForeignUnlock,
                                    Violation::InterruptsOn, Violation::SpinUnderIrqLock, Violation::Order,
                                    Violation::TooDeep};
    std::set<std::string> seen;
    for (Violation v : violations) {
        const std::string name = violation_name(v);
        EXPECT_NE(name, "?");
        EXPECT_TRUE(seen.insert(name).second) << name;
    }
    const LockLevel levels[] = {LockLevel::None,           LockLevel::ProcessTable, LockLevel::Process,
                                LockLevel::KernelStackSlots, LockLevel::KernelStackMap, LockLevel::KernelHeap,
                                LockLevel::PhysicalMemory};
    seen.clear();
    for (LockLevel l : levels) {
        const std::string name = kernel::lock_level_name(l);
        EXPECT_NE(name, "?");
        EXPECT_TRUE(seen.insert(name).second) << name;
    }
    // The order the levels promise (outer first) is the order of their numbers.
    for (size_t i = 2; i < sizeof levels / sizeof levels[0]; ++i) EXPECT_LT(levels[i - 1], levels[i]);
}

}  // namespace

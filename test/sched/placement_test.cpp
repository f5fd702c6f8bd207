// Placement and stealing choices (src/sched/placement.hpp) over made-up CPU loads.
#include <gtest/gtest.h>

#include <vector>

#include "sched/placement.hpp"

namespace {

using kstd::CpuMask;
using sched::CpuLoad;
using sched::kNoCpu;

struct Machine {
    std::vector<CpuLoad> cpus;
    unsigned least_loaded(const CpuMask& allowed = CpuMask::all()) const {
        return sched::least_loaded(static_cast<unsigned>(cpus.size()), allowed, [&](unsigned i) { return cpus[i]; });
    }
    unsigned victim_for(unsigned thief) const {
        return sched::steal_victim(static_cast<unsigned>(cpus.size()), thief, [&](unsigned i) { return cpus[i]; });
    }
};

TEST(Placement, AnIdleCpuBeatsABusyOneWithTheSameQueue) {
    //        cpu0: busy, 0 ready   cpu1: idle, 0 ready
    Machine m{{{true, 0, false}, {true, 0, true}}};
    EXPECT_EQ(m.least_loaded(), 1u);
}

TEST(Placement, TheShortestQueueWinsAndTiesGoToTheLowestCpu) {
    Machine m{{{true, 3, false}, {true, 1, false}, {true, 1, false}}};
    EXPECT_EQ(m.least_loaded(), 1u);
}

TEST(Placement, CpusOutsideTheMaskOrNotRunningAreNeverChosen) {
    Machine m{{{true, 5, false}, {false, 0, true}, {true, 0, true}}};
    EXPECT_EQ(m.least_loaded(CpuMask::only(0)), 0u);      // the only allowed one, however loaded
    EXPECT_EQ(m.least_loaded(), 2u);                      // cpu1 does not take tasks yet
    EXPECT_EQ(m.least_loaded(CpuMask::only(1)), kNoCpu);  // allowed, but not running
    EXPECT_EQ(m.least_loaded(CpuMask{}), kNoCpu);         // nothing allowed
}

TEST(Stealing, TheLongestOtherQueueIsTheVictim) {
    Machine m{{{true, 0, true}, {true, 2, false}, {true, 4, false}, {true, 4, false}}};
    EXPECT_EQ(m.victim_for(0), 2u);  // 4 ready; tie with cpu3 goes to the lower index
}

TEST(Stealing, NoVictimWhenNoOtherCpuHasWaitingWork) {
    Machine m{{{true, 0, true}, {true, 0, false}, {false, 9, false}}};
    EXPECT_EQ(m.victim_for(0), kNoCpu);  // cpu1 has none waiting, cpu2 is not running
}

TEST(Stealing, ACpuNeverStealsFromItself) {
    Machine m{{{true, 7, false}, {true, 0, true}}};
    EXPECT_EQ(m.victim_for(0), kNoCpu);
    EXPECT_EQ(m.victim_for(1), 0u);
}

}  // namespace

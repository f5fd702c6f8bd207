// The process table (src/proc/process_table.cpp) on the host, with the kernel's Process type and
// its lock through the stateful fake arch: slots are reused, pids never are, the limit holds.
#include <gtest/gtest.h>

#include <memory>
#include <vector>

#include "fake_arch/fake_arch.hpp"
#include "lib/spinlock.hpp"
#include "proc/process.hpp"

namespace {

using kernel::IrqLockGuard;
using kernel::process::Process;
using kernel::process::ProcessTable;

class ProcessTableTest : public ::testing::Test {
protected:
    void SetUp() override { fake_arch::reset(); }
    void TearDown() override {
        EXPECT_TRUE(fake_arch::interrupts_enabled());
        EXPECT_EQ(fake_arch::disable_depth(), 0u);
    }
    Process* make() { return m_processes.emplace_back(std::make_unique<Process>()).get(); }
    int32_t insert(Process* p) {
        IrqLockGuard guard(m_table.lock());
        EXPECT_FALSE(fake_arch::interrupts_enabled());  // the table is used with the lock held
        return m_table.insert_locked(p);
    }
    void remove(Process* p) {
        IrqLockGuard guard(m_table.lock());
        m_table.remove_locked(p);
    }
    uint64_t live() {
        IrqLockGuard guard(m_table.lock());
        return m_table.live_locked();
    }

    ProcessTable m_table;
    std::vector<std::unique_ptr<Process>> m_processes;
};

TEST_F(ProcessTableTest, PidsCountFromOneAndSlotsFromZero) {
    Process* a = make();
    Process* b = make();
    EXPECT_EQ(insert(a), 1);
    EXPECT_EQ(insert(b), 2);
    EXPECT_EQ(a->pid, 1);
    EXPECT_EQ(a->slot, 0u);
    EXPECT_EQ(b->slot, 1u);
    EXPECT_EQ(live(), 2u);
}

TEST_F(ProcessTableTest, AFreedSlotIsReusedButItsPidIsNot) {
    Process* a = make();
    Process* b = make();
    insert(a);
    insert(b);
    remove(a);
    Process* c = make();
    EXPECT_EQ(insert(c), 3);
    EXPECT_EQ(c->slot, 0u);  // a's slot
    EXPECT_EQ(live(), 2u);
}

TEST_F(ProcessTableTest, TheLimitRefusesTheNextProcessUntilOneLeaves) {
    m_table.set_limit(3);
    std::vector<Process*> in;
    for (int i = 0; i < 3; ++i) {
        in.push_back(make());
        ASSERT_GT(insert(in.back()), 0);
    }
    Process* extra = make();
    EXPECT_EQ(insert(extra), -1);
    remove(in[1]);
    EXPECT_EQ(insert(extra), 4);
}

TEST_F(ProcessTableTest, TheLimitIsClampedToTheTable) {
    m_table.set_limit(0);
    EXPECT_EQ(m_table.limit(), 1u);
    m_table.set_limit(1u << 20);
    EXPECT_EQ(m_table.limit(), kernel::process::kProcessTableSize);
    for (unsigned i = 0; i < kernel::process::kProcessTableSize; ++i) ASSERT_GT(insert(make()), 0) << i;
    EXPECT_EQ(insert(make()), -1);  // every slot taken
}

TEST_F(ProcessTableTest, FindByPidSeesOnlyLiveEntries) {
    Process* a = make();
    Process* b = make();
    insert(a);
    insert(b);
    IrqLockGuard guard(m_table.lock());
    EXPECT_EQ(m_table.find_locked(2), b);
    EXPECT_EQ(m_table.find_locked(7), nullptr);
    m_table.remove_locked(b);
    EXPECT_EQ(m_table.find_locked(2), nullptr);
    EXPECT_EQ(m_table.find_locked(1), a);
}

TEST_F(ProcessTableTest, VisitingStopsWhenTheVisitorSaysSo) {
    for (int i = 0; i < 5; ++i) insert(make());
    IrqLockGuard guard(m_table.lock());
    std::vector<int32_t> seen;
    m_table.for_each_locked([&](Process* p) {
        seen.push_back(p->pid);
        return p->pid < 3;
    });
    EXPECT_EQ(seen, (std::vector<int32_t>{1, 2, 3}));
}

}  // namespace

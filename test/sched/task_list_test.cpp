// The task list (src/sched/task_list.cpp) on the host, through the stateful fake arch: it grows by
// whole chunks without moving an entry, reuses freed slots, reports running out, and lets go of
// its lock (the fake interrupt flag is back on) after every call.
#include <gtest/gtest.h>

#include <set>
#include <vector>

#include "fake_arch/fake_arch.hpp"
#include "sched/task_list.hpp"

namespace {

using sched::TaskList;
using sched::TaskListError;

// Chunk memory the test owns and can run out of.
int g_chunks_left = 0;
std::vector<std::vector<sched::TaskEntry>> g_chunk_memory;

void* allocate_chunk(size_t bytes) {
    if (g_chunks_left == 0) return nullptr;
    --g_chunks_left;
    g_chunk_memory.emplace_back(bytes / sizeof(sched::TaskEntry));
    return g_chunk_memory.back().data();
}

class TaskListTest : public ::testing::Test {
protected:
    void SetUp() override {
        fake_arch::reset();
        g_chunk_memory.clear();
        g_chunk_memory.reserve(TaskList::kMaxChunks + 1);  // chunks themselves never move either
        g_chunks_left = 1000;
    }
    void TearDown() override {
        EXPECT_TRUE(fake_arch::interrupts_enabled());
        EXPECT_EQ(fake_arch::disable_depth(), 0u);
    }
    TaskList m_list{allocate_chunk};
};

TEST_F(TaskListTest, SlotsCountFromZeroAndAreLive) {
    EXPECT_EQ(m_list.add().value(), 0u);
    EXPECT_EQ(m_list.add().value(), 1u);
    EXPECT_EQ(m_list.live(), 2u);
    EXPECT_EQ(m_list.slots(), 2u);
    EXPECT_EQ(g_chunk_memory.size(), 1u);  // one chunk holds the first 256
}

TEST_F(TaskListTest, ANewSlotHoldsAZeroEntry) {
    const uint32_t slot = m_list.add().value();
    m_list.entry(slot) = {0x1000, 0xdead};
    m_list.remove(slot);
    const uint32_t again = m_list.add().value();
    ASSERT_EQ(again, slot);
    EXPECT_EQ(m_list.entry(again).pml4_phys, 0u);
    EXPECT_EQ(m_list.entry(again).saved_rsp, 0u);  // not the free-list link it held
}

TEST_F(TaskListTest, GrowingNeverMovesAnEntry) {
    // slots: [0 .. 255] in chunk 0, then [256 ..] in chunk 1: entry 0's address stays put.
    const uint32_t first = m_list.add().value();
    sched::TaskEntry* const first_address = &m_list.entry(first);
    m_list.entry(first) = {0xABC000, 0x1234};
    for (unsigned i = 1; i < TaskList::kEntriesPerChunk + 10; ++i) ASSERT_TRUE(m_list.add());
    EXPECT_EQ(g_chunk_memory.size(), 2u);
    EXPECT_EQ(&m_list.entry(first), first_address);
    EXPECT_EQ(m_list.entry(first).pml4_phys, 0xABC000u);
    EXPECT_EQ(m_list.entry(first).saved_rsp, 0x1234u);
}

TEST_F(TaskListTest, FreedSlotsAreReusedBeforeTheListGrows) {
    std::vector<uint32_t> slots;
    for (int i = 0; i < 5; ++i) slots.push_back(m_list.add().value());
    m_list.remove(slots[1]);
    m_list.remove(slots[3]);
    EXPECT_EQ(m_list.live(), 3u);
    std::set<uint32_t> reused{m_list.add().value(), m_list.add().value()};
    EXPECT_EQ(reused, (std::set<uint32_t>{slots[1], slots[3]}));
    EXPECT_EQ(m_list.slots(), 5u);  // no new slot was handed out
    EXPECT_EQ(m_list.add().value(), 5u);
}

TEST_F(TaskListTest, RunningOutOfChunkMemoryIsReportedAndRecoverable) {
    g_chunks_left = 1;
    for (unsigned i = 0; i < TaskList::kEntriesPerChunk; ++i) ASSERT_TRUE(m_list.add());
    auto failed = m_list.add();
    ASSERT_FALSE(failed);
    EXPECT_EQ(failed.error(), TaskListError::OutOfMemory);
    EXPECT_EQ(m_list.live(), TaskList::kEntriesPerChunk);
    g_chunks_left = 1;
    EXPECT_EQ(m_list.add().value(), TaskList::kEntriesPerChunk);
}

TEST_F(TaskListTest, AFullListRefusesTheNextTask) {
    const uint64_t capacity = uint64_t{TaskList::kEntriesPerChunk} * TaskList::kMaxChunks;
    for (uint64_t i = 0; i < capacity; ++i) ASSERT_TRUE(m_list.add()) << "slot " << i;
    auto failed = m_list.add();
    ASSERT_FALSE(failed);
    EXPECT_EQ(failed.error(), TaskListError::Full);
    m_list.remove(77);
    EXPECT_EQ(m_list.add().value(), 77u);  // a freed slot still works when full
}

}  // namespace

// The task list (see task_list.hpp).
#include "sched/task_list.hpp"

namespace sched {

kstd::Result<uint32_t, TaskListError> TaskList::add() {
    kernel::IrqLockGuard guard(m_lock);
    uint32_t slot;
    if (m_free_head != kNoSlot) {
        slot = m_free_head;
        m_free_head = static_cast<uint32_t>(entry(slot).saved_rsp);
    } else {
        if (m_next_unused == m_chunk_count * kEntriesPerChunk) {
            if (m_chunk_count == kMaxChunks) return kstd::fail(TaskListError::Full);
            auto* chunk = static_cast<TaskEntry*>(m_allocate_chunk(sizeof(TaskEntry) * kEntriesPerChunk));
            if (!chunk) return kstd::fail(TaskListError::OutOfMemory);
            m_chunks[m_chunk_count++] = chunk;
        }
        slot = m_next_unused++;
    }
    entry(slot) = {0, 0};
    ++m_live;
    return slot;
}

void TaskList::remove(uint32_t slot) {
    kernel::IrqLockGuard guard(m_lock);
    entry(slot) = {0, m_free_head};
    m_free_head = slot;
    --m_live;
}

uint64_t TaskList::live() const {
    kernel::IrqLockGuard guard(m_lock);
    return m_live;
}

uint64_t TaskList::slots() const {
    kernel::IrqLockGuard guard(m_lock);
    return m_next_unused;
}

}  // namespace sched

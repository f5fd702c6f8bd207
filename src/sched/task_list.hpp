// The task list: one 16-byte entry per task — the page tables to load and the saved ring-0 RSP
// to resume from — in chunks of 256 entries added as tasks are created, so the list grows
// without ever moving an entry: the switch path reads and writes a task's entry without the
// list's lock, through the slot it owns. Free slots chain through their saved_rsp field.
//
//   chunk 0: [ e0 | e1 | ... | e255 ]   chunk 1: [ e256 | ... ]   ...   up to 256 chunks
//             ^ slot 0                            ^ slot 256
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "lib/result.hpp"
#include "lib/spinlock.hpp"

namespace sched {

struct TaskEntry {
    uint64_t pml4_phys;  // the page tables to load when switching to the task
    uint64_t saved_rsp;  // ring-0 RSP pointing at its saved frame (valid while not running)
};
static_assert(sizeof(TaskEntry) == 16, "a task-list entry is two words: PML4 and RSP");

enum class TaskListError { OutOfMemory, Full };

class TaskList {
public:
    static constexpr unsigned kEntriesPerChunk = 256;  // 4 KiB
    static constexpr unsigned kMaxChunks = 256;        // 65 536 tasks

    // `allocate_chunk` gives memory for one chunk (kmalloc in the kernel), nullptr when out.
    explicit constexpr TaskList(void* (*allocate_chunk)(size_t bytes)) : m_allocate_chunk(allocate_chunk) {}

    // A slot for a new task (holding a zero entry), counted live until remove().
    kstd::Result<uint32_t, TaskListError> add();
    void remove(uint32_t slot);

    // The slot's owner reads and writes its entry without the lock: entries never move.
    TaskEntry& entry(uint32_t slot) { return m_chunks[slot / kEntriesPerChunk][slot % kEntriesPerChunk]; }

    uint64_t live() const;   // slots added and not removed
    uint64_t slots() const;  // slots ever handed out: how far the list has grown

private:
    static constexpr uint32_t kNoSlot = ~0u;

    void* (*m_allocate_chunk)(size_t bytes);
    mutable kernel::IrqSpinLock m_lock;  // guards everything below (not the entries' contents)
    TaskEntry* m_chunks[kMaxChunks] = {};
    unsigned m_chunk_count = 0;
    uint32_t m_next_unused = 0;
    uint32_t m_free_head = kNoSlot;
    uint64_t m_live = 0;
};

}  // namespace sched

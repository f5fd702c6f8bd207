// The process table: a fixed array of slots for the processes alive or zombie, a limit on how
// many there may be, and pids that only ever grow (a pid is never reused while the kernel runs).
// A slot index is a process's small, dense id inside the kernel (per-slot counters hang off it).
//
// Every *_locked call needs lock() held by the caller: exit's reparenting and waitpid's search
// take several steps that must see one consistent table. Lock order: this lock first, then a
// task's block lock, a wait queue's lock, a CPU's lock.
#pragma once

#include <stdint.h>

#include "lib/spinlock.hpp"

namespace kernel::process {

struct Process;

inline constexpr unsigned kProcessTableSize = 1024;
inline constexpr unsigned kDefaultProcessLimit = 128;

class ProcessTable {
public:
    kernel::IrqSpinLock& lock() { return m_lock; }

    // At most `limit` entries at once, clamped to 1..kProcessTableSize.
    void set_limit(unsigned limit);
    unsigned limit() const { return m_limit; }

    // Gives `process` a slot and the next pid (both stored in it) and returns the pid, or -1
    // when the limit is reached.
    int32_t insert_locked(Process* process);
    void remove_locked(Process* process);
    Process* find_locked(int32_t pid) const;
    uint64_t live_locked() const { return m_live; }

    // Calls visit(process) for every entry, in slot order; stops early if it returns false.
    template <typename Visit>
    void for_each_locked(Visit visit) const {
        for (unsigned slot = 0; slot < m_slots_used; ++slot)
            if (Process* process = m_slots[slot]; process && !visit(process)) return;
    }

private:
    kernel::IrqSpinLock m_lock{kernel::LockLevel::ProcessTable};
    unsigned m_limit = kDefaultProcessLimit;
    uint64_t m_live = 0;
    int32_t m_next_pid = 1;
    // Slots at and above this have never been used: searches and visits stop there, so a table
    // of a few processes costs a few steps, not kProcessTableSize.
    unsigned m_slots_used = 0;
    Process* m_slots[kProcessTableSize] = {};
};

}  // namespace kernel::process

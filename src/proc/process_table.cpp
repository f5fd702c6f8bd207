// The process table (see process_table.hpp).
#include "proc/process_table.hpp"

#include "proc/process.hpp"

namespace kernel::process {

void ProcessTable::set_limit(unsigned limit) {
    m_limit = limit == 0 ? 1 : limit > kProcessTableSize ? kProcessTableSize : limit;
}

int32_t ProcessTable::insert_locked(Process* process) {
    if (m_live >= m_limit) return -1;
    unsigned slot = 0;
    while (slot < m_slots_used && m_slots[slot]) ++slot;
    if (slot == kProcessTableSize) return -1;
    if (slot == m_slots_used) ++m_slots_used;
    m_slots[slot] = process;
    process->slot = slot;
    process->pid = m_next_pid++;
    ++m_live;
    return process->pid;
}

void ProcessTable::remove_locked(Process* process) {
    m_slots[process->slot] = nullptr;
    --m_live;
}

Process* ProcessTable::find_locked(int32_t pid) const {
    Process* found = nullptr;
    for_each_locked([&](Process* process) {
        if (process->pid == pid) found = process;
        return found == nullptr;
    });
    return found;
}

}  // namespace kernel::process

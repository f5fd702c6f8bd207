// The scheduler's view of a task: state, queue links and accounting. Portable: the kernel's
// task (src/sched/tasks.hpp) embeds this next to the seed's task-list entry (PML4 + saved RSP).
#pragma once

#include <stdint.h>

#include "lib/cpu_mask.hpp"

namespace sched {

enum class TaskState : uint8_t {
    Running,   // on a CPU right now (exactly one per CPU, possibly its idle task)
    Ready,     // on a run queue
    Blocked,   // on a wait queue
    Sleeping,  // on a CPU's timer queue until wake_tick
    Dead,      // exited; waiting to be reaped
};
const char* task_state_name(TaskState state);

struct Task {
    uint64_t id = 0;
    const char* name = "";
    TaskState state = TaskState::Ready;
    bool is_idle = false;
    // Invariant: a task is on at most one queue (run, wait or timer) at a time, via these links.
    Task* queue_next = nullptr;
    Task* queue_prev = nullptr;
    uint64_t wake_tick = 0;       // Sleeping: the tick at which it becomes Ready
    uint64_t runtime_ticks = 0;   // ticks during which it was the running task
    uint64_t switches_in = 0;     // times it was picked to run
    unsigned cpu = 0;             // CPU whose queues hold it
    // CPUs it may run on: every one by default; balancing never moves a task outside it.
    kstd::CpuMask affinity = kstd::CpuMask::all();

    bool may_run_on(unsigned cpu_index) const { return affinity.contains(cpu_index); }
};

// Intrusive FIFO of tasks: O(1) push, pop and removal from the middle.
class TaskQueue {
public:
    void push_back(Task* task);
    // Inserts `task` before `position` (nullptr: at the back).
    void insert_before(Task* position, Task* task);
    Task* pop_front();
    // pop_front() then push_back(newcomer), as one step (the queue must not be empty).
    Task* rotate(Task* newcomer);
    void remove(Task* task);
    // Empties the queue in one step: returns its front, the rest chained through queue_next.
    Task* take_all();
    Task* front() const { return m_head; }
    Task* back() const { return m_tail; }
    bool empty() const { return m_head == nullptr; }
    // May be read without the lock that guards the queue (another CPU choosing where to place or
    // steal work): a hint that is at once out of date, but never a torn or undefined read.
    uint64_t size() const { return __atomic_load_n(&m_size, __ATOMIC_RELAXED); }

private:
    void set_size(uint64_t size) { __atomic_store_n(&m_size, size, __ATOMIC_RELAXED); }

    Task* m_head = nullptr;
    Task* m_tail = nullptr;
    uint64_t m_size = 0;
};

}  // namespace sched

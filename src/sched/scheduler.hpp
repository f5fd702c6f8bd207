// Per-CPU scheduling policy, pure logic: round robin within the run queue with a one-tick
// quantum, no switch when the current task is the only runnable one (it keeps its CPU and its
// warm caches, as the seed design asks), the idle task only when nothing else can run, a timer queue for
// sleepers and wait queues for blocking. The kernel calls it with its per-CPU lock held and does
// the actual switch; host tests call it directly and check which task it picks.
#pragma once

#include <stdint.h>

#include "sched/task.hpp"

namespace sched {

class WaitQueue {
public:
    bool empty() const { return m_waiters.empty(); }
    uint64_t size() const { return m_waiters.size(); }
    // Removes the oldest waiter without readying it: on SMP the waker hands it to the scheduler
    // of the CPU it blocked on (Task::cpu), under that CPU's lock.
    Task* take_oldest() { return m_waiters.pop_front(); }
    // Removes every waiter, oldest first, chained through queue_next (queue_prev is stale).
    Task* take_all() { return m_waiters.take_all(); }

private:
    friend class CpuScheduler;
    TaskQueue m_waiters;
};

class CpuScheduler {
public:
    // `idle` runs when nothing else can; `current` is the task already running (the boot code).
    void init(unsigned cpu, Task* idle, Task* current);

    Task* current() const { return m_current; }
    Task* idle() const { return m_idle; }
    // Lock-free read: a hint. Counts the handed-off task.
    uint64_t ready_count() const { return m_ready.size() + (__atomic_load_n(&m_next, __ATOMIC_RELAXED) != nullptr); }
    uint64_t sleeping_count() const { return m_sleepers.size(); }
    uint64_t now() const { return m_tick; }

    // A new or woken task becomes Ready on this CPU.
    void make_ready(Task* task);
    // A woken task of this CPU, readied by code running on this CPU with interrupts off, and
    // WITHOUT this CPU's lock: it runs next, ahead of the run queue, if that queue is empty (it
    // would have run next from there too, so the order tasks run in is the same). Only this
    // CPU reads or writes the slot it waits in, so no lock is needed: other CPUs only add to
    // the run queue (under the lock) and steal from it, never from the slot. False, and nothing
    // changed, if the slot is taken or the run queue is not empty: make_ready() under the lock.
    bool hand_off(Task* task);

    // Timer interrupt: account the tick to the current task, wake due sleepers, and pick the
    // task to run next (the current one if nothing else is ready).
    Task* on_tick();
    // The current task gives up the CPU but stays runnable.
    Task* yield();
    // The current task sleeps until now() + ticks (at least one tick).
    Task* sleep_current(uint64_t ticks);
    // Ends `task`'s sleep early (a kill must not wait out a long sleep): it becomes Ready here.
    // False, and nothing changes, if it is not sleeping on this CPU.
    bool wake_sleeper(Task* task);
    // The current task waits on `queue` until woken.
    Task* block_current(WaitQueue& queue);
    // The current task is finished. The caller reaps it once it is no longer running.
    Task* exit_current();
    // The current task leaves this CPU but stays runnable: it is on no queue of ours when this
    // returns, and the caller hands it to another CPU's make_ready() once it has stopped running
    // here (its affinity no longer includes this CPU).
    Task* migrate_current();

    // Work stealing: removes the ready task that would run last here and may run on
    // `thief_cpu`, for another CPU to run; nullptr if there is none.
    Task* take_for_migration(unsigned thief_cpu);
    // May be read without this CPU's lock (is that CPU parked?): a hint, like ready_count().
    bool idle_now() const { return __atomic_load_n(&m_current, __ATOMIC_RELAXED) == m_idle; }

    // Wakes the oldest waiter (returns it, or nullptr) / every waiter (returns how many).
    // Woken tasks become Ready on this CPU.
    Task* wake_one(WaitQueue& queue);
    uint64_t wake_all(WaitQueue& queue);

private:
    // Chooses the next task; the current one, if still Running, goes to the back of the queue.
    Task* switch_away();
    Task* switch_to_handed_off();
    void insert_sleeper(Task* task);
    void set_current(Task* task) { __atomic_store_n(&m_current, task, __ATOMIC_RELAXED); }

    unsigned m_cpu = 0;
    Task* m_current = nullptr;
    Task* m_idle = nullptr;
    TaskQueue m_ready;
    Task* m_next = nullptr;  // hand_off(): runs before m_ready's front; this CPU's own
    TaskQueue m_sleepers;  // ordered by wake_tick, earliest first
    uint64_t m_tick = 0;
};

}  // namespace sched

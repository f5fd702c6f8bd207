// Scheduling policy (see scheduler.hpp).
#include "sched/scheduler.hpp"

namespace sched {

const char* task_state_name(TaskState state) {
    switch (state) {
    case TaskState::Running: return "running";
    case TaskState::Ready: return "ready";
    case TaskState::Blocked: return "blocked";
    case TaskState::Sleeping: return "sleeping";
    case TaskState::Dead: return "dead";
    }
    return "?";
}

void TaskQueue::push_back(Task* task) {
    task->queue_next = nullptr;
    task->queue_prev = m_tail;
    if (m_tail) m_tail->queue_next = task;
    else m_head = task;
    m_tail = task;
    set_size(m_size + 1);
}

void TaskQueue::insert_before(Task* position, Task* task) {
    if (!position) {
        push_back(task);
        return;
    }
    task->queue_next = position;
    task->queue_prev = position->queue_prev;
    if (position->queue_prev) position->queue_prev->queue_next = task;
    else m_head = task;
    position->queue_prev = task;
    set_size(m_size + 1);
}

Task* TaskQueue::pop_front() {
    Task* task = m_head;
    if (task) remove(task);
    return task;
}

Task* TaskQueue::take_all() {
    Task* front = m_head;
    m_head = m_tail = nullptr;
    set_size(0);
    if (front) front->queue_prev = nullptr;
    return front;
}

Task* TaskQueue::rotate(Task* newcomer) {
    // The length does not change, so it is not stored: the common switch touches only links.
    // The front's queue_prev is already null (it is the front).
    Task* front = m_head;
    Task* second = front->queue_next;
    if (second) {
        second->queue_prev = nullptr;
        m_head = second;
        m_tail->queue_next = newcomer;
        newcomer->queue_prev = m_tail;
        front->queue_next = nullptr;
    } else {
        m_head = newcomer;  // the front was the only one: its links are both null already
        newcomer->queue_prev = nullptr;
    }
    newcomer->queue_next = nullptr;
    m_tail = newcomer;
    return front;
}

void TaskQueue::remove(Task* task) {
    if (task->queue_prev) task->queue_prev->queue_next = task->queue_next;
    else m_head = task->queue_next;
    if (task->queue_next) task->queue_next->queue_prev = task->queue_prev;
    else m_tail = task->queue_prev;
    task->queue_next = task->queue_prev = nullptr;
    set_size(m_size - 1);
}

void CpuScheduler::init(unsigned cpu, Task* idle, Task* current) {
    m_cpu = cpu;
    m_idle = idle;
    m_idle->is_idle = true;
    m_idle->cpu = cpu;
    set_current(current ? current : idle);
    m_current->state = TaskState::Running;
    m_current->cpu = cpu;
    if (m_current != m_idle) m_idle->state = TaskState::Ready;  // parked, never queued
}

void CpuScheduler::make_ready(Task* task) {
    task->state = TaskState::Ready;
    __atomic_store_n(&task->cpu, m_cpu, __ATOMIC_RELAXED);  // read lock-free by interrupt_wait()
    m_ready.push_back(task);
}

bool CpuScheduler::hand_off(Task* task) {
    if (m_next || m_ready.size() != 0) return false;
    task->state = TaskState::Ready;
    __atomic_store_n(&task->cpu, m_cpu, __ATOMIC_RELAXED);  // as make_ready (it is this CPU's already)
    __atomic_store_n(&m_next, task, __ATOMIC_RELAXED);      // ready_count() reads it lock-free
    return true;
}

// switch_away's pick of a handed-off task. Inlined like the rest of it: a call here would make
// every switch path that inlines switch_away keep more registers across it.
[[gnu::always_inline]] inline Task* CpuScheduler::switch_to_handed_off() {
    // Ahead of the queue (it was empty when the task was handed off; whatever joined since came
    // later). A still-running task goes to the back, as for a rotation.
    Task* previous = m_current;
    Task* next = m_next;
    __atomic_store_n(&m_next, nullptr, __ATOMIC_RELAXED);
    if (previous->is_idle) {
        previous->state = TaskState::Ready;  // parked, never queued
    } else if (previous->state == TaskState::Running) {
        previous->state = TaskState::Ready;
        m_ready.push_back(previous);
    }
    set_current(next);
    next->state = TaskState::Running;
    ++next->switches_in;
    return next;
}

[[gnu::always_inline]] inline Task* CpuScheduler::switch_away() {
    if (m_next) return switch_to_handed_off();
    Task* previous = m_current;
    Task* next;
    if (m_ready.empty()) {
        // Nothing else to run: keep a still-running task (no switch at all), else park. A
        // running idle task stays too, so `previous` here is never the idle task.
        if (previous->state == TaskState::Running) return previous;
        next = m_idle;
    } else if (previous->state == TaskState::Running && !previous->is_idle) {
        previous->state = TaskState::Ready;
        next = m_ready.rotate(previous);  // to the back; the front runs
    } else {
        next = m_ready.pop_front();
        if (previous->is_idle) previous->state = TaskState::Ready;  // parked, never queued
    }
    set_current(next);
    next->state = TaskState::Running;
    ++next->switches_in;
    return next;
}

Task* CpuScheduler::on_tick() {
    ++m_tick;
    if (!m_current->is_idle) ++m_current->runtime_ticks;
    while (!m_sleepers.empty() && m_sleepers.front()->wake_tick <= m_tick) make_ready(m_sleepers.pop_front());
    return switch_away();
}

// Always inlined, into the kernel's yield too (a cross-module inline under LTO): the switch's
// pick without a call of its own, as before the hand-off check made switch_away too big for the
// inliner's taste.
[[gnu::always_inline]] Task* CpuScheduler::yield() { return switch_away(); }

void CpuScheduler::insert_sleeper(Task* task) {
    // Ordered by wake_tick; equal deadlines keep arrival order. Linear in the number of sleepers.
    Task* position = m_sleepers.front();
    while (position && position->wake_tick <= task->wake_tick) position = position->queue_next;
    m_sleepers.insert_before(position, task);
}

Task* CpuScheduler::sleep_current(uint64_t ticks) {
    Task* task = m_current;
    task->state = TaskState::Sleeping;
    if (ticks == 0) ticks = 1;
    // Saturate: a sleep "for ever" must not wrap into a wake tick in the past.
    task->wake_tick = ticks > ~0ull - m_tick ? ~0ull : m_tick + ticks;
    insert_sleeper(task);
    return switch_away();
}

bool CpuScheduler::wake_sleeper(Task* task) {
    if (task->state != TaskState::Sleeping || task->cpu != m_cpu) return false;
    m_sleepers.remove(task);
    make_ready(task);
    return true;
}

Task* CpuScheduler::block_current(WaitQueue& queue) {
    m_current->state = TaskState::Blocked;
    queue.m_waiters.push_back(m_current);
    return switch_away();
}

Task* CpuScheduler::exit_current() {
    m_current->state = TaskState::Dead;
    return switch_away();
}

Task* CpuScheduler::migrate_current() {
    Task* leaving = m_current;
    leaving->state = TaskState::Ready;  // not Running: switch_away() must not requeue it here
    Task* next = switch_away();
    return next;
}

Task* CpuScheduler::take_for_migration(unsigned thief_cpu) {
    // From the back: the front is about to run here with a warm cache; the back waits longest.
    for (Task* task = m_ready.back(); task; task = task->queue_prev) {
        if (!task->may_run_on(thief_cpu)) continue;
        m_ready.remove(task);
        return task;
    }
    return nullptr;
}

Task* CpuScheduler::wake_one(WaitQueue& queue) {
    Task* task = queue.m_waiters.pop_front();
    if (task) make_ready(task);
    return task;
}

uint64_t CpuScheduler::wake_all(WaitQueue& queue) {
    uint64_t woken = 0;
    while (wake_one(queue)) ++woken;
    return woken;
}

}  // namespace sched

// Checks the portable scheduling policy (sched::CpuScheduler, sched::TaskQueue) on a fake CPU
// that keeps the state the kernel keeps: the task it runs, the switch count and a timeline of
// which task ran each tick. Covers round robin, no-switch, idle, sleep, wait queues, exit, yield,
// fairness over thousands of tasks and a long random run checked after every step.
#include "sched/scheduler.hpp"

#include <gtest/gtest.h>

#include <stdint.h>

#include <algorithm>
#include <array>
#include <deque>
#include <ostream>
#include <random>
#include <string>
#include <utility>
#include <vector>

namespace sched {

// GoogleTest prints these in failure messages.
void PrintTo(Task* task, std::ostream* out) { *out << (task ? task->name : "(null)"); }
void PrintTo(TaskState state, std::ostream* out) { *out << task_state_name(state); }

}  // namespace sched

namespace {

using sched::CpuScheduler;
using sched::Task;
using sched::TaskQueue;
using sched::TaskState;
using sched::WaitQueue;

// One CPU on the host. It owns the tasks, drives a CpuScheduler the way src/sched/tasks.cpp
// does, and records what the kernel would do instead of doing it: the task it switches to and
// which task ran each tick. Every call checks the kernel's contract: the task the scheduler
// returns is its current task, Running, and never one that has exited.
class FakeCpu {
public:
    FakeCpu() {
        m_idle = add_task(".");
        m_boot = add_task("M");
        sched.init(0, m_idle, m_boot);
        m_running = m_boot;
    }
    FakeCpu(const FakeCpu&) = delete;
    FakeCpu& operator=(const FakeCpu&) = delete;

    // A task the scheduler has not seen yet (the kernel's create_locked()).
    Task* add_task(std::string name) {
        m_names.push_back(std::move(name));
        Task& task = m_tasks.emplace_back();  // a deque: earlier tasks never move
        task.id = m_tasks.size() - 1;
        task.name = m_names.back().c_str();
        m_exited.push_back(false);
        return &task;
    }
    // A new task, Ready (the kernel's spawn()).
    Task* spawn(std::string name) {
        Task* task = add_task(std::move(name));
        sched.make_ready(task);
        return task;
    }

    // One timer tick: the running task runs for it, then the scheduler picks the next one.
    Task* tick() {
        Task* ran = m_running;
        m_history.push_back(ran);
        adopt(sched.on_tick());
        return ran;
    }
    // `n` ticks; returns who ran each of them, one name after the other ("." is idle).
    std::string run_ticks(uint64_t n) {
        std::string timeline;
        for (uint64_t i = 0; i < n; ++i) timeline += tick()->name;
        return timeline;
    }

    // What the running task can do (the kernel's scheduler trap). The idle task does none of it.
    Task* yield() {
        expect_task_running("yield");
        return adopt(sched.yield());
    }
    Task* sleep(uint64_t ticks) {
        expect_task_running("sleep");
        return adopt(sched.sleep_current(ticks));
    }
    Task* block(WaitQueue& queue) {
        expect_task_running("block");
        return adopt(sched.block_current(queue));
    }
    Task* exit() {
        expect_task_running("exit");
        m_exited[m_running->id] = true;
        return adopt(sched.exit_current());
    }

    Task* idle() const { return m_idle; }
    Task* boot() const { return m_boot; }
    Task* running() const { return m_running; }
    bool exited(const Task* task) const { return m_exited[task->id]; }
    uint64_t switch_count() const { return m_switches; }
    const std::vector<Task*>& history() const { return m_history; }
    std::deque<Task>& tasks() { return m_tasks; }
    const std::deque<Task>& tasks() const { return m_tasks; }

    // Tasks that are not idle with `state`.
    uint64_t count(TaskState state) const {
        return std::count_if(m_tasks.begin(), m_tasks.end(),
                             [state](const Task& task) { return !task.is_idle && task.state == state; });
    }

    CpuScheduler sched;

private:
    Task* adopt(Task* next) {
        EXPECT_EQ(next, sched.current()) << "the scheduler returned a task other than its current one";
        EXPECT_EQ(next->state, TaskState::Running) << next->name;
        EXPECT_FALSE(m_exited[next->id]) << "task " << next->name << " exited and was scheduled again";
        if (next != m_running) ++m_switches;
        m_running = next;
        return next;
    }
    void expect_task_running(const char* what) const {
        EXPECT_FALSE(m_running->is_idle) << "the test made the idle task " << what;
    }

    std::deque<Task> m_tasks;
    std::deque<std::string> m_names;  // Task::name points into these
    std::vector<bool> m_exited;       // by id: exit() was called, so it must never run again
    std::vector<Task*> m_history;     // the task that ran each tick
    Task* m_idle = nullptr;
    Task* m_boot = nullptr;
    Task* m_running = nullptr;        // what the kernel would be running (its g_current)
    uint64_t m_switches = 0;          // like the kernel's g_switches
};

// Ticks until `task` stops sleeping (at most `limit` ticks); returns now() at that point.
uint64_t tick_until_awake(FakeCpu& cpu, Task* task, uint64_t limit) {
    for (uint64_t i = 0; i < limit && task->state == TaskState::Sleeping; ++i) cpu.tick();
    return cpu.sched.now();
}

// The runtime of each task in `tasks`.
std::vector<uint64_t> runtimes(const std::vector<Task*>& tasks) {
    std::vector<uint64_t> result;
    for (const Task* task : tasks) result.push_back(task->runtime_ticks);
    return result;
}

// max - min of `values` (0 when empty).
uint64_t spread(const std::vector<uint64_t>& values) {
    if (values.empty()) return 0;
    auto [low, high] = std::minmax_element(values.begin(), values.end());
    return *high - *low;
}

// ---------------------------------------------------------------------------------------------
// TaskQueue

// A queue of single-letter tasks, each a fixed element of `pool`.
struct Letters {
    Letters() {
        for (unsigned i = 0; i < pool.size(); ++i) {
            names[i] = std::string(1, static_cast<char>('A' + i));
            pool[i].name = names[i].c_str();
        }
    }
    Task* operator[](char letter) { return &pool[letter - 'A']; }
    std::array<Task, 8> pool;
    std::array<std::string, 8> names;
};

// The queue front to back, e.g. "ABC"; a '!' marks a backward link that does not match.
std::string draw(const TaskQueue& queue) {
    std::string picture;
    const Task* previous = nullptr;
    for (const Task* task = queue.front(); task; task = task->queue_next) {
        if (task->queue_prev != previous) picture += '!';
        picture += task->name;
        previous = task;
        if (picture.size() > 64) return picture + "...";  // a cycle
    }
    return picture;
}

TEST(TaskQueue, StartsEmpty) {
    TaskQueue queue;
    EXPECT_TRUE(queue.empty());
    EXPECT_EQ(queue.size(), 0u);
    EXPECT_EQ(queue.front(), nullptr);
    EXPECT_EQ(queue.pop_front(), nullptr);
}

TEST(TaskQueue, PushBackAndPopFrontAreFirstInFirstOut) {
    Letters t;
    TaskQueue queue;
    queue.push_back(t['A']);
    queue.push_back(t['B']);
    queue.push_back(t['C']);
    EXPECT_EQ(draw(queue), "ABC");
    EXPECT_EQ(queue.size(), 3u);
    EXPECT_EQ(queue.pop_front(), t['A']);
    EXPECT_EQ(queue.pop_front(), t['B']);
    EXPECT_EQ(draw(queue), "C");
    EXPECT_EQ(queue.pop_front(), t['C']);
    EXPECT_TRUE(queue.empty());
    EXPECT_EQ(queue.size(), 0u);
}

TEST(TaskQueue, PopFrontUnlinksTheTask) {
    Letters t;
    TaskQueue queue;
    queue.push_back(t['A']);
    queue.push_back(t['B']);
    queue.pop_front();
    EXPECT_EQ(t['A']->queue_next, nullptr);
    EXPECT_EQ(t['A']->queue_prev, nullptr);
    EXPECT_EQ(t['B']->queue_prev, nullptr);
}

TEST(TaskQueue, RemoveFromTheMiddleKeepsTheOrderOfTheRest) {
    Letters t;
    TaskQueue queue;
    for (char c : std::string("ABCDE")) queue.push_back(t[c]);
    queue.remove(t['C']);
    EXPECT_EQ(draw(queue), "ABDE");
    EXPECT_EQ(queue.size(), 4u);
    queue.remove(t['B']);
    EXPECT_EQ(draw(queue), "ADE");
    EXPECT_EQ(queue.size(), 3u);
}

TEST(TaskQueue, RemoveOfTheHeadMakesTheNextTheFront) {
    Letters t;
    TaskQueue queue;
    for (char c : std::string("ABC")) queue.push_back(t[c]);
    queue.remove(t['A']);
    EXPECT_EQ(draw(queue), "BC");
    EXPECT_EQ(queue.front(), t['B']);
    EXPECT_EQ(queue.size(), 2u);
}

TEST(TaskQueue, RemoveOfTheTailLetsPushBackAppendAfterTheNewTail) {
    Letters t;
    TaskQueue queue;
    for (char c : std::string("ABC")) queue.push_back(t[c]);
    queue.remove(t['C']);
    EXPECT_EQ(draw(queue), "AB");
    queue.push_back(t['D']);
    EXPECT_EQ(draw(queue), "ABD");
    EXPECT_EQ(queue.size(), 3u);
}

TEST(TaskQueue, RemoveOfTheOnlyTaskEmptiesTheQueue) {
    Letters t;
    TaskQueue queue;
    queue.push_back(t['A']);
    queue.remove(t['A']);
    EXPECT_TRUE(queue.empty());
    EXPECT_EQ(queue.size(), 0u);
    queue.push_back(t['B']);  // head and tail were both reset
    EXPECT_EQ(draw(queue), "B");
}

TEST(TaskQueue, InsertBeforeTheHeadMakesANewFront) {
    Letters t;
    TaskQueue queue;
    queue.push_back(t['B']);
    queue.push_back(t['C']);
    queue.insert_before(t['B'], t['A']);
    EXPECT_EQ(draw(queue), "ABC");
    EXPECT_EQ(queue.front(), t['A']);
    EXPECT_EQ(queue.size(), 3u);
}

TEST(TaskQueue, InsertBeforeAMiddleTaskKeepsBothNeighboursLinked) {
    Letters t;
    TaskQueue queue;
    for (char c : std::string("ABD")) queue.push_back(t[c]);
    queue.insert_before(t['D'], t['C']);
    EXPECT_EQ(draw(queue), "ABCD");
    EXPECT_EQ(queue.size(), 4u);
}

TEST(TaskQueue, InsertBeforeNullAppends) {
    Letters t;
    TaskQueue queue;
    queue.insert_before(nullptr, t['A']);  // into an empty queue
    queue.insert_before(nullptr, t['B']);
    EXPECT_EQ(draw(queue), "AB");
    EXPECT_EQ(queue.size(), 2u);
    queue.remove(t['B']);  // the tail was kept right by the append
    queue.push_back(t['C']);
    EXPECT_EQ(draw(queue), "AC");
}

// ---------------------------------------------------------------------------------------------
// init

TEST(SchedulerInit, TheBootTaskIsRunningAndIdleIsParked) {
    FakeCpu cpu;
    EXPECT_EQ(cpu.sched.current(), cpu.boot());
    EXPECT_EQ(cpu.boot()->state, TaskState::Running);
    EXPECT_EQ(cpu.sched.idle(), cpu.idle());
    EXPECT_TRUE(cpu.idle()->is_idle);
    EXPECT_NE(cpu.idle()->state, TaskState::Running);
    EXPECT_EQ(cpu.idle()->queue_next, nullptr);  // parked, never queued
    EXPECT_EQ(cpu.idle()->queue_prev, nullptr);
    EXPECT_EQ(cpu.sched.ready_count(), 0u);
    EXPECT_EQ(cpu.sched.sleeping_count(), 0u);
    EXPECT_EQ(cpu.sched.now(), 0u);
}

TEST(SchedulerInit, WithoutABootTaskIdleRuns) {
    Task idle;
    CpuScheduler scheduler;
    scheduler.init(3, &idle, nullptr);
    EXPECT_EQ(scheduler.current(), &idle);
    EXPECT_EQ(idle.state, TaskState::Running);
    EXPECT_EQ(idle.cpu, 3u);
    EXPECT_EQ(scheduler.ready_count(), 0u);
}

TEST(SchedulerInit, MakeReadyPutsTheTaskOnThisCpu) {
    FakeCpu cpu;
    Task* a = cpu.add_task("A");
    a->cpu = 7;
    cpu.sched.make_ready(a);
    EXPECT_EQ(a->state, TaskState::Ready);
    EXPECT_EQ(a->cpu, 0u);
    EXPECT_EQ(cpu.sched.ready_count(), 1u);
}

// ---------------------------------------------------------------------------------------------
// Round robin with a one-tick quantum

TEST(RoundRobin, ReadyTasksRunInFifoRotation) {
    FakeCpu cpu;
    cpu.spawn("A");
    cpu.spawn("B");
    cpu.spawn("C");
    EXPECT_EQ(cpu.run_ticks(8), "MABCMABC");
    EXPECT_EQ(cpu.switch_count(), 8u);
}

TEST(RoundRobin, ATaskMadeReadyLaterJoinsAtTheBack) {
    FakeCpu cpu;
    cpu.spawn("A");
    cpu.spawn("B");
    EXPECT_EQ(cpu.run_ticks(4), "MABM");  // now A runs; queue: B M
    cpu.spawn("D");                        // queue: B M D
    EXPECT_EQ(cpu.run_ticks(6), "ABMDAB");
}

TEST(RoundRobin, EveryTickIsAccountedToTheTaskThatRanIt) {
    FakeCpu cpu;
    Task* a = cpu.spawn("A");
    Task* b = cpu.spawn("B");
    EXPECT_EQ(cpu.run_ticks(7), "MABMABM");
    EXPECT_EQ(cpu.boot()->runtime_ticks, 3u);
    EXPECT_EQ(a->runtime_ticks, 2u);
    EXPECT_EQ(b->runtime_ticks, 2u);
    EXPECT_EQ(a->switches_in, 3u);             // picked for ticks 2, 5 and the coming 8
    EXPECT_EQ(b->switches_in, 2u);
    EXPECT_EQ(cpu.boot()->switches_in, 2u);  // ticks 4 and 7; init is not a switch in
}

// ---------------------------------------------------------------------------------------------
// No switch when the current task is the only runnable one

TEST(NoSwitch, TheOnlyRunnableTaskKeepsTheCpu) {
    FakeCpu cpu;
    EXPECT_EQ(cpu.run_ticks(6), "MMMMMM");
    EXPECT_EQ(cpu.boot()->switches_in, 0u);
    EXPECT_EQ(cpu.boot()->runtime_ticks, 6u);
    EXPECT_EQ(cpu.switch_count(), 0u);
}

TEST(NoSwitch, IdleNeverRunsWhileATaskIsRunnable) {
    FakeCpu cpu;
    WaitQueue queue;
    cpu.spawn("A");
    cpu.spawn("B");
    cpu.yield();        // A runs; queue: B M
    cpu.sleep(50);      // B runs; queue: M
    cpu.block(queue);   // M runs alone; A sleeps, B is blocked
    EXPECT_EQ(cpu.running(), cpu.boot());
    EXPECT_EQ(cpu.run_ticks(40), std::string(40, 'M'));
    EXPECT_EQ(cpu.idle()->switches_in, 0u);
    EXPECT_NE(cpu.idle()->state, TaskState::Running);
}

TEST(NoSwitch, ASleeperWakingUpEndsTheLoneRun) {
    FakeCpu cpu;
    cpu.spawn("A");
    cpu.yield();    // A runs; queue: M
    cpu.sleep(3);   // M runs alone until A wakes at tick 3
    EXPECT_EQ(cpu.run_ticks(6), "MMMAMA");
}

// ---------------------------------------------------------------------------------------------
// Idle only when nothing is runnable

TEST(Idle, RunsOnlyWhileTheOnlyTaskSleeps) {
    FakeCpu cpu;
    EXPECT_EQ(cpu.run_ticks(2), "MM");
    EXPECT_EQ(cpu.sleep(3), cpu.idle());  // M wakes at tick 5
    EXPECT_EQ(cpu.run_ticks(5), "...MM");
    EXPECT_EQ(cpu.running(), cpu.boot());
    EXPECT_NE(cpu.idle()->state, TaskState::Running);
}

TEST(Idle, IsNeverAccountedRuntime) {
    FakeCpu cpu;
    cpu.sleep(10);
    EXPECT_EQ(cpu.run_ticks(12), "..........MM");
    EXPECT_EQ(cpu.idle()->runtime_ticks, 0u);
    EXPECT_EQ(cpu.boot()->runtime_ticks, 2u);
}

TEST(Idle, IsNeverPutOnTheRunQueue) {
    FakeCpu cpu;
    WaitQueue queue;
    cpu.block(queue);                 // idle runs
    cpu.sched.wake_one(queue);        // M ready: queue M
    EXPECT_EQ(cpu.run_ticks(1), ".");  // idle gives way to M
    EXPECT_EQ(cpu.sched.ready_count(), 0u);
    EXPECT_EQ(cpu.run_ticks(4), "MMMM");
}

TEST(Idle, AWakeWhileIdleRunsTakesEffectAtTheNextTick) {
    // There is no preemption on wake: like the kernel's input IRQ, wake_one only queues the task.
    FakeCpu cpu;
    WaitQueue queue;
    cpu.block(queue);
    EXPECT_EQ(cpu.run_ticks(3), "...");
    cpu.sched.wake_one(queue);
    EXPECT_EQ(cpu.running(), cpu.idle());
    EXPECT_EQ(cpu.run_ticks(3), ".MM");
}

TEST(Idle, ExitOfTheLastTaskLeavesIdleRunning) {
    FakeCpu cpu;
    EXPECT_EQ(cpu.exit(), cpu.idle());
    EXPECT_EQ(cpu.run_ticks(5), ".....");
    EXPECT_EQ(cpu.boot()->state, TaskState::Dead);
}

// ---------------------------------------------------------------------------------------------
// Sleep

TEST(Sleep, ASleeperBecomesReadyExactlyAtItsWakeTick) {
    FakeCpu cpu;
    cpu.spawn("A");
    cpu.spawn("B");
    cpu.spawn("C");
    EXPECT_EQ(cpu.run_ticks(10), "MABCMABCMA");
    Task* sleeper = cpu.running();  // B, at tick 10
    cpu.sleep(4);
    EXPECT_EQ(sleeper->wake_tick, 14u);
    for (uint64_t now = 10; now < 14; ++now) {
        EXPECT_EQ(sleeper->state, TaskState::Sleeping) << "at tick " << now;
        cpu.tick();
    }
    EXPECT_EQ(cpu.sched.now(), 14u);
    EXPECT_EQ(sleeper->state, TaskState::Ready);  // queued behind others, not yet running
    EXPECT_EQ(cpu.sched.sleeping_count(), 0u);
}

TEST(Sleep, ASleeperNeverRunsBeforeItsWakeTick) {
    FakeCpu cpu;
    Task* a = cpu.spawn("A");
    cpu.spawn("B");
    cpu.yield();  // A runs
    cpu.sleep(20);
    const std::string timeline = cpu.run_ticks(20);
    EXPECT_EQ(timeline, "BMBMBMBMBMBMBMBMBMBM");
    EXPECT_EQ(cpu.run_ticks(3), "BAM");  // woken at tick 20, A joined the queue behind B
    EXPECT_EQ(a->runtime_ticks, 1u);
}

TEST(Sleep, AWokenSleeperIsReadyAtOnceAndOffTheTimerQueue) {
    FakeCpu cpu;
    cpu.spawn("A");
    Task* sleeper = cpu.boot();
    cpu.sleep(1000);
    EXPECT_EQ(cpu.sched.sleeping_count(), 1u);
    EXPECT_TRUE(cpu.sched.wake_sleeper(sleeper));
    EXPECT_EQ(sleeper->state, TaskState::Ready);
    EXPECT_EQ(cpu.sched.sleeping_count(), 0u);
    EXPECT_EQ(cpu.run_ticks(2), "AM");  // A finishes its quantum, then M runs: not at tick 1000
}

TEST(Sleep, WakeSleeperLeavesOtherTasksAlone) {
    FakeCpu cpu;
    Task* a = cpu.spawn("A");
    EXPECT_FALSE(cpu.sched.wake_sleeper(a));  // Ready, not sleeping
    EXPECT_EQ(a->state, TaskState::Ready);
    EXPECT_FALSE(cpu.sched.wake_sleeper(cpu.running()));  // Running
    EXPECT_EQ(cpu.sched.ready_count(), 1u);
}

TEST(Sleep, SleepZeroSleepsOneTick) {
    FakeCpu cpu;
    cpu.spawn("A");
    cpu.spawn("B");
    Task* sleeper = cpu.boot();
    cpu.sleep(0);
    EXPECT_EQ(sleeper->state, TaskState::Sleeping);
    EXPECT_EQ(sleeper->wake_tick, 1u);
    EXPECT_EQ(tick_until_awake(cpu, sleeper, 100), 1u);
    EXPECT_EQ(sleeper->state, TaskState::Ready);
}

TEST(Sleep, DifferentDeadlinesWakeEarliestFirst) {
    FakeCpu cpu;
    Task* a = cpu.spawn("A");
    Task* b = cpu.spawn("B");
    Task* c = cpu.spawn("C");
    cpu.yield();    // A runs
    cpu.sleep(7);   // A: tick 7; B runs
    cpu.sleep(3);   // B: tick 3; C runs
    cpu.sleep(5);   // C: tick 5; M runs
    std::string wakes;
    for (int i = 0; i < 10; ++i) {
        const bool sleeping[3] = {a->state == TaskState::Sleeping, b->state == TaskState::Sleeping,
                                  c->state == TaskState::Sleeping};
        cpu.tick();
        for (Task* task : {a, b, c}) {
            if (sleeping[task->id - a->id] && task->state != TaskState::Sleeping) {
                wakes += std::string(task->name) + "@" + std::to_string(cpu.sched.now()) + " ";
            }
        }
    }
    EXPECT_EQ(wakes, "B@3 C@5 A@7 ");
}

TEST(Sleep, EqualDeadlinesWakeInArrivalOrder) {
    // Made ready C, A, B, so the order they fall asleep is not their alphabetical order.
    FakeCpu cpu;
    WaitQueue parked;
    cpu.spawn("C");
    cpu.spawn("A");
    cpu.spawn("B");
    cpu.yield();        // C runs
    cpu.sleep(3);       // A runs
    cpu.sleep(3);       // B runs
    cpu.sleep(3);       // M runs
    cpu.block(parked);  // idle runs; all three wake together at tick 3
    EXPECT_EQ(cpu.run_ticks(9), "...CABCAB");
}

TEST(Sleep, MixedDeadlinesWakeByDeadlineThenArrival) {
    FakeCpu cpu;
    WaitQueue parked;
    for (const char* name : {"A", "B", "C", "D"}) cpu.spawn(name);
    cpu.yield();        // A runs
    cpu.sleep(5);       // A: tick 5
    cpu.sleep(3);       // B: tick 3
    cpu.sleep(5);       // C: tick 5
    cpu.sleep(3);       // D: tick 3
    cpu.block(parked);  // idle runs
    // Tick 3: B D wake (B fell asleep first). Tick 5: A C wake and queue behind B and D.
    EXPECT_EQ(cpu.run_ticks(11), "...BDBACDBA");
}

TEST(Sleep, ManySleepersEachWakeOnTheirOwnTick) {
    FakeCpu cpu;
    std::vector<Task*> sleepers;
    std::vector<uint64_t> deadlines;
    std::mt19937 rng(7);
    for (int i = 0; i < 300; ++i) sleepers.push_back(cpu.spawn("s" + std::to_string(i)));
    cpu.yield();
    for (Task* sleeper : sleepers) {
        ASSERT_EQ(cpu.running(), sleeper);
        const uint64_t ticks = 1 + rng() % 50;
        deadlines.push_back(cpu.sched.now() + ticks);
        cpu.sleep(ticks);
    }
    EXPECT_EQ(cpu.sched.sleeping_count(), 300u);
    uint64_t wrong = 0;
    while (cpu.sched.sleeping_count() > 0 && cpu.sched.now() < 100) {
        cpu.tick();
        for (size_t i = 0; i < sleepers.size(); ++i) {
            const bool asleep = sleepers[i]->state == TaskState::Sleeping;
            if (asleep != (cpu.sched.now() < deadlines[i])) ++wrong;
        }
    }
    EXPECT_EQ(wrong, 0u) << "task-ticks on which a sleeper's state disagreed with its deadline";
    EXPECT_EQ(cpu.sched.sleeping_count(), 0u);
}

TEST(Sleep, MaximalSleepDoesNotWrapIntoAnEarlyWake) {
    // now() + ticks overflows uint64_t: the wake tick must not land in the past (saturating at
    // UINT64_MAX would do), else "sleep for ever" becomes "sleep one tick".
    FakeCpu cpu;
    cpu.spawn("A");
    cpu.run_ticks(3);
    Task* sleeper = cpu.running();
    cpu.sleep(UINT64_MAX);
    EXPECT_GT(sleeper->wake_tick, cpu.sched.now());
    cpu.run_ticks(10);
    EXPECT_EQ(sleeper->state, TaskState::Sleeping);
}

// ---------------------------------------------------------------------------------------------
// Wait queues

TEST(WaitQueue, ABlockedTaskNeverRuns) {
    FakeCpu cpu;
    WaitQueue queue;
    Task* a = cpu.spawn("A");
    cpu.spawn("B");
    cpu.spawn("C");
    EXPECT_EQ(cpu.run_ticks(1), "M");  // A runs
    cpu.block(queue);                   // B runs; queue: C M
    EXPECT_EQ(a->state, TaskState::Blocked);
    EXPECT_EQ(queue.size(), 1u);
    const std::string timeline = cpu.run_ticks(1000);
    EXPECT_EQ(timeline.find('A'), std::string::npos);
    EXPECT_EQ(a->runtime_ticks, 0u);
    EXPECT_EQ(a->switches_in, 1u);
}

TEST(WaitQueue, AWokenTaskJoinsTheBackAndRuns) {
    FakeCpu cpu;
    WaitQueue queue;
    Task* a = cpu.spawn("A");
    cpu.spawn("B");
    cpu.spawn("C");
    cpu.run_ticks(1);  // A runs
    cpu.block(queue);  // B runs; queue: C M
    EXPECT_EQ(cpu.run_ticks(1000).substr(0, 6), "BCMBCM");  // ...B; now C runs, queue: M B
    EXPECT_EQ(cpu.sched.wake_one(queue), a);                // queue: M B A
    EXPECT_EQ(a->state, TaskState::Ready);
    EXPECT_EQ(cpu.run_ticks(8), "CMBACMBA");
}

TEST(WaitQueue, WakeOneWakesTheOldestWaiter) {
    FakeCpu cpu;
    WaitQueue queue;
    Task* a = cpu.spawn("A");
    Task* b = cpu.spawn("B");
    Task* c = cpu.spawn("C");
    cpu.spawn("D");
    cpu.yield();       // A runs
    cpu.block(queue);  // waiters: A
    cpu.block(queue);  // waiters: A B
    cpu.block(queue);  // waiters: A B C; D runs
    EXPECT_EQ(queue.size(), 3u);
    EXPECT_EQ(cpu.sched.wake_one(queue), a);
    EXPECT_EQ(cpu.sched.wake_one(queue), b);
    EXPECT_EQ(b->state, TaskState::Ready);
    EXPECT_EQ(c->state, TaskState::Blocked);
    EXPECT_EQ(queue.size(), 1u);
}

TEST(WaitQueue, WakeAllWakesEveryWaiterInOrderAndCountsThem) {
    FakeCpu cpu;
    WaitQueue queue;
    for (const char* name : {"A", "B", "C", "D"}) cpu.spawn(name);
    cpu.yield();       // A runs
    cpu.block(queue);
    cpu.block(queue);
    cpu.block(queue);  // D runs; queue: M
    EXPECT_EQ(cpu.sched.wake_all(queue), 3u);
    EXPECT_TRUE(queue.empty());
    EXPECT_EQ(cpu.sched.ready_count(), 4u);
    EXPECT_EQ(cpu.run_ticks(5), "DMABC");
}

TEST(WaitQueue, WakeAllAfterWakeOneWakesTheRest) {
    FakeCpu cpu;
    WaitQueue queue;
    for (const char* name : {"A", "B", "C", "D"}) cpu.spawn(name);
    cpu.yield();
    cpu.block(queue);
    cpu.block(queue);
    cpu.block(queue);
    cpu.sched.wake_one(queue);
    EXPECT_EQ(cpu.sched.wake_all(queue), 2u);
    EXPECT_EQ(cpu.count(TaskState::Blocked), 0u);
}

TEST(WaitQueue, WakeOneOnAnEmptyQueueReturnsNull) {
    FakeCpu cpu;
    WaitQueue queue;
    EXPECT_EQ(cpu.sched.wake_one(queue), nullptr);
    EXPECT_EQ(cpu.sched.ready_count(), 0u);
}

TEST(WaitQueue, WakeAllOnAnEmptyQueueReturnsZero) {
    FakeCpu cpu;
    WaitQueue queue;
    EXPECT_EQ(cpu.sched.wake_all(queue), 0u);
    EXPECT_EQ(cpu.sched.ready_count(), 0u);
}

TEST(WaitQueue, BlockWakeCyclesQueueEachTaskExactlyOnce) {
    FakeCpu cpu;
    WaitQueue queue;
    cpu.spawn("A");
    cpu.spawn("B");
    cpu.spawn("C");
    for (int round = 0; round < 300; ++round) {
        Task* blocker = cpu.running();
        cpu.block(queue);
        ASSERT_EQ(cpu.sched.wake_one(queue), blocker);
        ASSERT_EQ(blocker->state, TaskState::Ready);
        ASSERT_EQ(cpu.sched.ready_count(), cpu.count(TaskState::Ready)) << "round " << round;
        if (round % 3 == 0) cpu.tick();
    }
    std::string rotation = cpu.run_ticks(8);
    std::sort(rotation.begin(), rotation.end());
    EXPECT_EQ(rotation, "AABBCCMM");
}

TEST(WaitQueue, TasksOnDifferentQueuesWakeIndependently) {
    FakeCpu cpu;
    WaitQueue first;
    WaitQueue second;
    Task* a = cpu.spawn("A");
    Task* b = cpu.spawn("B");
    cpu.yield();        // A runs
    cpu.block(first);   // B runs
    cpu.block(second);  // M runs
    EXPECT_EQ(cpu.sched.wake_all(second), 1u);
    EXPECT_EQ(b->state, TaskState::Ready);
    EXPECT_EQ(a->state, TaskState::Blocked);
    EXPECT_EQ(first.size(), 1u);
}

// ---------------------------------------------------------------------------------------------
// Exit

TEST(Exit, AnExitedTaskIsDeadAndNeverRunsAgain) {
    FakeCpu cpu;
    Task* a = cpu.spawn("A");
    cpu.spawn("B");
    cpu.spawn("C");
    EXPECT_EQ(cpu.run_ticks(1), "M");  // A runs; queue: B C M
    EXPECT_EQ(cpu.exit()->name, std::string("B"));
    EXPECT_EQ(a->state, TaskState::Dead);
    const std::string timeline = cpu.run_ticks(999);
    EXPECT_EQ(timeline.find('A'), std::string::npos);
    EXPECT_EQ(timeline.substr(0, 9), "BCMBCMBCM");
    EXPECT_EQ(a->state, TaskState::Dead);
    EXPECT_EQ(cpu.sched.ready_count(), 2u);
}

TEST(Exit, TheOthersKeepTheirRotation) {
    FakeCpu cpu;
    cpu.spawn("A");
    cpu.spawn("B");
    cpu.spawn("C");
    EXPECT_EQ(cpu.run_ticks(6), "MABCMA");  // B runs; queue: C M A
    cpu.exit();
    EXPECT_EQ(cpu.run_ticks(6), "CMACMA");
}

// ---------------------------------------------------------------------------------------------
// Yield

TEST(Yield, MovesTheCurrentTaskToTheBackOfTheQueue) {
    FakeCpu cpu;
    Task* a = cpu.spawn("A");
    cpu.spawn("B");
    EXPECT_EQ(cpu.yield(), a);  // queue: B M
    EXPECT_EQ(cpu.boot()->state, TaskState::Ready);
    EXPECT_EQ(cpu.run_ticks(3), "ABM");
}

TEST(Yield, WithNobodyElseReadyKeepsTheCurrentTaskRunning) {
    FakeCpu cpu;
    EXPECT_EQ(cpu.yield(), cpu.boot());
    EXPECT_EQ(cpu.boot()->state, TaskState::Running);
    EXPECT_EQ(cpu.boot()->switches_in, 0u);
    EXPECT_EQ(cpu.switch_count(), 0u);
    EXPECT_EQ(cpu.sched.ready_count(), 0u);
    EXPECT_EQ(cpu.run_ticks(2), "MM");
}

TEST(Yield, DoesNotAdvanceTime) {
    FakeCpu cpu;
    cpu.spawn("A");
    cpu.yield();
    cpu.yield();
    EXPECT_EQ(cpu.sched.now(), 0u);
    EXPECT_EQ(cpu.boot()->runtime_ticks, 0u);
    EXPECT_EQ(cpu.running(), cpu.boot());
}

// ---------------------------------------------------------------------------------------------
// Fairness with thousands of tasks

TEST(Fairness, TwoThousandTasksGetEqualTicksWithinOne) {
    constexpr uint64_t kTasks = 2000;
    constexpr uint64_t kRounds = 5;
    constexpr uint64_t kExtra = 777;
    FakeCpu cpu;
    std::vector<Task*> tasks;
    for (uint64_t i = 0; i < kTasks; ++i) tasks.push_back(cpu.spawn("t" + std::to_string(i)));
    cpu.exit();  // the boot task leaves the CPU to the 2000
    cpu.run_ticks(kRounds * kTasks + kExtra);
    const std::vector<uint64_t> ticks = runtimes(tasks);
    EXPECT_LE(spread(ticks), 1u);
    uint64_t off = 0;  // the first kExtra in queue order got the extra tick
    for (uint64_t i = 0; i < kTasks; ++i) off += ticks[i] != kRounds + (i < kExtra ? 1 : 0);
    EXPECT_EQ(off, 0u);
    EXPECT_EQ(cpu.idle()->switches_in, 0u);
}

TEST(Fairness, TasksPresentForAWholeWindowStayWithinOneWhileOthersJoin) {
    FakeCpu cpu;
    std::vector<Task*> originals;
    for (int i = 0; i < 1000; ++i) originals.push_back(cpu.spawn("o" + std::to_string(i)));
    cpu.exit();
    cpu.run_ticks(3 * 1000 + 321);
    const std::vector<uint64_t> before = runtimes(originals);
    std::vector<Task*> joiners;
    for (int i = 0; i < 2000; ++i) {  // a window of 20 000 ticks, a new task every 10
        cpu.run_ticks(10);
        joiners.push_back(cpu.spawn("j" + std::to_string(i)));
    }
    std::vector<uint64_t> window;
    const std::vector<uint64_t> after = runtimes(originals);
    for (size_t i = 0; i < originals.size(); ++i) window.push_back(after[i] - before[i]);
    EXPECT_LE(spread(window), 1u);
}

TEST(Fairness, AfterJoinsEveryTaskStaysWithinOneOverTheNextWindow) {
    FakeCpu cpu;
    std::vector<Task*> tasks;
    for (int i = 0; i < 1000; ++i) tasks.push_back(cpu.spawn("o" + std::to_string(i)));
    cpu.exit();
    for (int i = 0; i < 1000; ++i) {
        cpu.run_ticks(7);
        tasks.push_back(cpu.spawn("j" + std::to_string(i)));
    }
    const std::vector<uint64_t> before = runtimes(tasks);
    cpu.run_ticks(2000 * 4 + 1234);
    const std::vector<uint64_t> after = runtimes(tasks);
    std::vector<uint64_t> window;
    for (size_t i = 0; i < tasks.size(); ++i) window.push_back(after[i] - before[i]);
    EXPECT_LE(spread(window), 1u);
    EXPECT_EQ(*std::min_element(window.begin(), window.end()), 4u);
}

// ---------------------------------------------------------------------------------------------
// A long random run

constexpr unsigned kWaitQueues = 4;

struct Simulation {
    FakeCpu cpu;
    std::array<WaitQueue, kWaitQueues> queues;
    std::array<std::deque<Task*>, kWaitQueues> waiters;  // the model: who blocked where, oldest first
    std::vector<Task*> live;  // every task but idle that has not exited, so checks skip the dead
};

// Every invariant the scheduler promises, over the live tasks and idle; with `all_tasks`, also
// that every task that exited is still Dead.
::testing::AssertionResult invariants_hold(Simulation& sim, bool all_tasks = false) {
    const FakeCpu& cpu = sim.cpu;
    const CpuScheduler& sched = cpu.sched;
    if (all_tasks) {
        for (const Task& task : cpu.tasks()) {
            if (cpu.exited(&task) && task.state != TaskState::Dead) {
                return ::testing::AssertionFailure() << "task " << task.name << " exited but is "
                                                     << task_state_name(task.state);
            }
        }
    }
    uint64_t running = 0, ready = 0, sleeping = 0, blocked = 0;
    std::vector<const Task*> checked(sim.live.begin(), sim.live.end());
    checked.push_back(cpu.idle());
    for (const Task* each : checked) {
        const Task& task = *each;
        switch (task.state) {
        case TaskState::Running:
            ++running;
            if (&task != sched.current()) {
                return ::testing::AssertionFailure() << task.name << " is Running but not current";
            }
            break;
        case TaskState::Ready:
            if (!task.is_idle) ++ready;
            break;
        case TaskState::Sleeping:
            ++sleeping;
            if (task.wake_tick <= sched.now()) {
                return ::testing::AssertionFailure() << task.name << " sleeps until tick " << task.wake_tick
                                                     << " but it is tick " << sched.now();
            }
            break;
        case TaskState::Blocked: ++blocked; break;
        case TaskState::Dead:
            return ::testing::AssertionFailure() << task.name << " is Dead but never exited";
        }
    }
    uint64_t queued = 0, modelled = 0;
    for (unsigned q = 0; q < kWaitQueues; ++q) {
        queued += sim.queues[q].size();
        modelled += sim.waiters[q].size();
    }
    if (running != 1) return ::testing::AssertionFailure() << running << " tasks are Running";
    if (sched.current() != cpu.running()) return ::testing::AssertionFailure() << "current is not what runs";
    if (sched.ready_count() != ready) {
        return ::testing::AssertionFailure() << "ready_count " << sched.ready_count() << ", Ready tasks " << ready;
    }
    if (sched.sleeping_count() != sleeping) {
        return ::testing::AssertionFailure() << "sleeping_count " << sched.sleeping_count() << ", Sleeping tasks "
                                             << sleeping;
    }
    if (queued != blocked || modelled != blocked) {
        return ::testing::AssertionFailure() << blocked << " Blocked tasks, " << queued << " on wait queues, "
                                             << modelled << " blocked per the model";
    }
    return ::testing::AssertionSuccess();
}

// One random step: a tick, or something the running task does, or a wake from "an interrupt",
// or a new task. Returns false when the step broke the model (the failure is already reported).
bool random_step(Simulation& sim, std::mt19937& rng) {
    FakeCpu& cpu = sim.cpu;
    const bool task_running = !cpu.running()->is_idle;
    const uint32_t roll = rng() % 100;
    const unsigned q = rng() % kWaitQueues;
    if (roll < 40) {
        cpu.tick();
    } else if (roll < 50) {
        task_running ? (void)cpu.yield() : (void)cpu.tick();
    } else if (roll < 62) {
        // Mostly short naps, some long sleeps so the timer queue fills up.
        const uint64_t ticks = rng() % 8 == 0 ? rng() % 2000 : rng() % 31;
        task_running ? (void)cpu.sleep(ticks) : (void)cpu.tick();
    } else if (roll < 72) {
        if (task_running) {
            sim.waiters[q].push_back(cpu.running());
            cpu.block(sim.queues[q]);
        } else {
            cpu.tick();
        }
    } else if (roll < 84) {
        Task* expected = sim.waiters[q].empty() ? nullptr : sim.waiters[q].front();
        if (expected) sim.waiters[q].pop_front();
        Task* woken = cpu.sched.wake_one(sim.queues[q]);
        EXPECT_EQ(woken, expected) << "wake_one is not first in, first out";
        if (woken != expected) return false;
    } else if (roll < 87) {
        const uint64_t expected = sim.waiters[q].size();
        sim.waiters[q].clear();
        const uint64_t woken = cpu.sched.wake_all(sim.queues[q]);
        EXPECT_EQ(woken, expected);
        if (woken != expected) return false;
    } else if (roll < 90) {
        if (task_running) {
            sim.live.erase(std::find(sim.live.begin(), sim.live.end(), cpu.running()));
            cpu.exit();
        } else {
            cpu.tick();
        }
    } else if (roll < 93) {
        sim.live.push_back(cpu.spawn("n" + std::to_string(cpu.tasks().size())));
    } else {
        cpu.tick();
    }
    return true;
}

void start(Simulation& sim) {
    sim.live.push_back(sim.cpu.boot());
    for (int i = 0; i < 199; ++i) sim.live.push_back(sim.cpu.spawn("t" + std::to_string(i)));  // 200 tasks
}

TEST(RandomSimulation, InvariantsHoldAfterEveryStep) {
    Simulation sim;
    std::mt19937 rng(0x5ab1e);
    start(sim);
    ASSERT_TRUE(invariants_hold(sim, true));
    uint64_t most_blocked = 0, most_sleeping = 0;
    for (int step = 0; step < 100000; ++step) {
        ASSERT_TRUE(random_step(sim, rng)) << "step " << step;
        ASSERT_TRUE(invariants_hold(sim, step % 1000 == 0)) << "after step " << step;
        ASSERT_FALSE(::testing::Test::HasFailure()) << "step " << step;
        uint64_t blocked = 0;
        for (const WaitQueue& queue : sim.queues) blocked += queue.size();
        most_blocked = std::max(most_blocked, blocked);
        most_sleeping = std::max(most_sleeping, sim.cpu.sched.sleeping_count());
    }
    ASSERT_TRUE(invariants_hold(sim, true));
    // The run really exercised the scheduler: many tasks, many exits, a busy CPU, full queues.
    EXPECT_GT(sim.cpu.tasks().size(), 2000u);
    EXPECT_GT(sim.cpu.tasks().size() - sim.live.size(), 1000u) << "exits";
    EXPECT_GT(sim.cpu.switch_count(), 30000u);
    EXPECT_GT(sim.cpu.sched.now(), 40000u);
    EXPECT_GE(most_blocked, 10u);
    EXPECT_GE(most_sleeping, 30u);
}

TEST(RandomSimulation, DeadTasksNeverRunAgain) {
    Simulation sim;
    std::mt19937 rng(0xdead);
    start(sim);
    std::vector<uint64_t> exit_tick;  // by id: ticks run before the task exited (UINT64_MAX: alive)
    for (int step = 0; step < 100000; ++step) {
        Task* running = sim.cpu.running();
        ASSERT_TRUE(random_step(sim, rng)) << "step " << step;
        exit_tick.resize(sim.cpu.tasks().size(), UINT64_MAX);
        if (sim.cpu.exited(running) && exit_tick[running->id] == UINT64_MAX) {
            exit_tick[running->id] = sim.cpu.history().size();
        }
    }
    const std::vector<Task*>& history = sim.cpu.history();
    uint64_t exited = 0, late = 0;
    for (uint64_t tick : exit_tick) exited += tick != UINT64_MAX;
    for (uint64_t tick = 0; tick < history.size(); ++tick) late += exit_tick[history[tick]->id] <= tick;
    EXPECT_GT(exited, 1000u);
    EXPECT_EQ(late, 0u) << "ticks run by a task after it exited";
}

TEST(RandomSimulation, EveryLiveTaskRunsOnceInTheRotationAfterwards) {
    Simulation sim;
    std::mt19937 rng(20240611);
    start(sim);
    for (int step = 0; step < 100000; ++step) ASSERT_TRUE(random_step(sim, rng)) << "step " << step;
    // Drain: wake every waiter, let every sleeper's tick come, then one full rotation.
    for (unsigned q = 0; q < kWaitQueues; ++q) {
        sim.cpu.sched.wake_all(sim.queues[q]);
        sim.waiters[q].clear();
    }
    for (int i = 0; i < 3000 && sim.cpu.sched.sleeping_count() > 0; ++i) sim.cpu.tick();
    ASSERT_EQ(sim.cpu.sched.sleeping_count(), 0u);
    if (sim.cpu.running()->is_idle) sim.cpu.tick();
    std::vector<Task*> live;
    for (Task& task : sim.cpu.tasks()) {
        if (!task.is_idle && task.state != TaskState::Dead) live.push_back(&task);
    }
    ASSERT_GT(live.size(), 10u);
    ASSERT_EQ(sim.cpu.sched.ready_count() + 1, live.size());
    const uint64_t first = sim.cpu.history().size();
    sim.cpu.run_ticks(live.size());
    std::vector<Task*> rotation(sim.cpu.history().begin() + first, sim.cpu.history().end());
    std::sort(rotation.begin(), rotation.end());
    std::sort(live.begin(), live.end());
    EXPECT_EQ(rotation, live);
}

}  // namespace

// --- SMP additions: migration for work stealing, and waiters taken without being readied ------
namespace {

TEST(Migration, TakesTheTaskThatWouldRunLast) {
    sched::Task idle, boot, a, b, c;
    sched::CpuScheduler cpu;
    cpu.init(0, &idle, &boot);
    cpu.make_ready(&a);
    cpu.make_ready(&b);
    cpu.make_ready(&c);
    // ready: [a b c] -> a thief takes c, the others keep their order
    EXPECT_EQ(cpu.take_for_migration(1), &c);
    EXPECT_EQ(cpu.ready_count(), 2u);
    EXPECT_EQ(cpu.yield(), &a);
}

TEST(Migration, RespectsTheAffinityMask) {
    sched::Task idle, boot, pinned, free_task;
    sched::CpuScheduler cpu;
    cpu.init(0, &idle, &boot);
    pinned.affinity = kstd::CpuMask::only(0);
    cpu.make_ready(&free_task);
    cpu.make_ready(&pinned);
    // ready: [free pinned]: the pinned one is last but may not leave CPU 0
    EXPECT_EQ(cpu.take_for_migration(1), &free_task);
    EXPECT_EQ(cpu.take_for_migration(1), nullptr);
    EXPECT_EQ(cpu.ready_count(), 1u);
}

TEST(Migration, EmptyQueueGivesNothing) {
    sched::Task idle, boot;
    sched::CpuScheduler cpu;
    cpu.init(0, &idle, &boot);
    EXPECT_EQ(cpu.take_for_migration(1), nullptr);
}

TEST(Migration, IdleNowOnlyWhenTheIdleTaskRuns) {
    sched::Task idle, boot;
    sched::CpuScheduler cpu;
    cpu.init(0, &idle, &boot);
    EXPECT_FALSE(cpu.idle_now());
    cpu.exit_current();
    EXPECT_TRUE(cpu.idle_now());
}

TEST(WaitQueueTake, TakesTheOldestWithoutReadyingIt) {
    sched::Task idle, boot, a, b;
    sched::CpuScheduler cpu;
    cpu.init(0, &idle, &boot);
    sched::WaitQueue queue;
    cpu.make_ready(&a);
    cpu.make_ready(&b);
    cpu.yield();  // a runs
    cpu.block_current(queue);  // a waits; b runs
    EXPECT_EQ(queue.take_oldest(), &a);
    EXPECT_TRUE(queue.empty());
    EXPECT_EQ(a.state, sched::TaskState::Blocked);  // the waker's scheduler readies it
    cpu.make_ready(&a);
    EXPECT_EQ(a.state, sched::TaskState::Ready);
}

}  // namespace

// set_affinity moves a running task: it leaves this CPU's queues entirely (no requeue here),
// the next ready task runs, and another CPU's scheduler adopts it as Ready.
TEST(Migration, TheCurrentTaskLeavesAndAnotherCpuAdoptsIt) {
    sched::Task idle0, idle1, boot, a, b;
    sched::CpuScheduler cpu0, cpu1;
    cpu0.init(0, &idle0, &boot);
    cpu1.init(1, &idle1, nullptr);
    cpu0.make_ready(&a);
    cpu0.make_ready(&b);
    EXPECT_EQ(cpu0.yield(), &a);  // boot goes to the back
    EXPECT_EQ(cpu0.migrate_current(), &b);
    EXPECT_EQ(a.state, sched::TaskState::Ready);
    EXPECT_EQ(cpu0.ready_count(), 1u);  // only boot: a is not requeued here
    cpu1.make_ready(&a);
    EXPECT_EQ(a.cpu, 1u);
    EXPECT_EQ(cpu1.yield(), &a);
    EXPECT_EQ(a.state, sched::TaskState::Running);
    // Nothing else was queued on CPU 0 since: it never picks a again.
    EXPECT_EQ(cpu0.yield(), &boot);
    EXPECT_EQ(cpu0.yield(), &b);
}

TEST(Migration, TheLastRunnableTaskLeavingParksTheCpu) {
    sched::Task idle, boot;
    sched::CpuScheduler cpu;
    cpu.init(0, &idle, &boot);
    EXPECT_EQ(cpu.migrate_current(), &idle);
    EXPECT_TRUE(cpu.idle_now());
    EXPECT_EQ(boot.state, sched::TaskState::Ready);
    EXPECT_EQ(cpu.ready_count(), 0u);
}

// --- take_all and hand_off: a wait queue emptied in one step, and a woken task handed to the
// next switch of its CPU without the run queue ----------------------------------------------
namespace {

TEST(TaskQueue, TakeAllEmptiesTheQueueAndChainsItsTasksInOrder) {
    Letters letters;
    TaskQueue queue;
    for (char c : {'A', 'B', 'C'}) queue.push_back(letters[c]);
    Task* taken = queue.take_all();
    EXPECT_TRUE(queue.empty());
    EXPECT_EQ(queue.size(), 0u);
    EXPECT_EQ(queue.back(), nullptr);
    std::string order;
    for (Task* task = taken; task; task = task->queue_next) order += task->name;
    EXPECT_EQ(order, "ABC");
    EXPECT_EQ(taken->queue_prev, nullptr);
    queue.push_back(letters['D']);  // reusable afterwards
    EXPECT_EQ(draw(queue), "D");
    EXPECT_EQ(TaskQueue{}.take_all(), nullptr);
}

// A task blocked on `queue` and taken off it, as the kernel's waker does before readying it.
Task* block_and_take(FakeCpu& cpu, WaitQueue& queue) {
    Task* blocker = cpu.running();
    cpu.block(queue);
    EXPECT_EQ(queue.take_oldest(), blocker);
    return blocker;
}

TEST(HandOff, TheHandedOffTaskRunsAtTheNextSwitch) {
    FakeCpu cpu;
    WaitQueue queue;
    Task* a = cpu.spawn("A");
    cpu.yield();  // A runs, M waits
    block_and_take(cpu, queue);  // M runs again
    ASSERT_TRUE(cpu.sched.hand_off(a));
    EXPECT_EQ(a->state, TaskState::Ready);
    EXPECT_EQ(a->cpu, 0u);
    EXPECT_EQ(cpu.sched.ready_count(), 1u);  // counted for placement and stealing hints
    Task* m = cpu.running();
    cpu.block(queue);
    EXPECT_EQ(cpu.running(), a);
    EXPECT_EQ(cpu.sched.ready_count(), 0u);
    EXPECT_EQ(m->state, TaskState::Blocked);
}

TEST(HandOff, IsRefusedWhileTheRunQueueHoldsATask) {
    FakeCpu cpu;
    WaitQueue queue;
    cpu.spawn("A");
    Task* m = block_and_take(cpu, queue);  // A runs
    cpu.spawn("B");
    EXPECT_FALSE(cpu.sched.hand_off(m));
    EXPECT_EQ(m->state, TaskState::Blocked);  // untouched: the caller readies it the usual way
    cpu.sched.make_ready(m);
    EXPECT_EQ(cpu.run_ticks(3), "ABM");
}

TEST(HandOff, IsRefusedWhileAnotherTaskHoldsTheSlot) {
    FakeCpu cpu;
    WaitQueue queue;
    cpu.spawn("A");
    cpu.spawn("B");
    Task* m = block_and_take(cpu, queue);  // A runs
    Task* a = block_and_take(cpu, queue);  // B runs
    EXPECT_TRUE(cpu.sched.hand_off(m));
    EXPECT_FALSE(cpu.sched.hand_off(a));
    EXPECT_EQ(a->state, TaskState::Blocked);
}

TEST(HandOff, ARunningTaskThatIsPreemptedGoesBehindTheHandedOffOne) {
    FakeCpu cpu;
    WaitQueue queue;
    Task* a = cpu.spawn("A");
    cpu.yield();  // A runs
    block_and_take(cpu, queue);  // M runs
    ASSERT_TRUE(cpu.sched.hand_off(a));
    EXPECT_EQ(cpu.run_ticks(4), "MAMA");
}

TEST(HandOff, RunsBeforeTasksReadiedAfterIt) {
    FakeCpu cpu;
    WaitQueue queue;
    cpu.spawn("A");
    cpu.spawn("B");
    Task* m = block_and_take(cpu, queue);  // A runs
    Task* a = block_and_take(cpu, queue);  // B runs
    ASSERT_TRUE(cpu.sched.hand_off(m));
    cpu.sched.make_ready(a);  // another CPU's wake, under the lock, after the hand-off
    EXPECT_EQ(cpu.run_ticks(4), "BMAB");
}

TEST(HandOff, IsNeverStolen) {
    FakeCpu cpu;
    WaitQueue queue;
    Task* a = cpu.spawn("A");
    cpu.yield();
    block_and_take(cpu, queue);
    ASSERT_TRUE(cpu.sched.hand_off(a));
    EXPECT_EQ(cpu.sched.take_for_migration(1), nullptr);
    cpu.yield();
    EXPECT_EQ(cpu.running(), a);
}

TEST(HandOff, AParkedCpuRunsItAtItsNextSwitch) {
    FakeCpu cpu;
    WaitQueue queue;
    Task* m = cpu.running();
    cpu.block(queue);  // nothing else: idle runs
    ASSERT_TRUE(cpu.sched.idle_now());
    EXPECT_EQ(queue.take_oldest(), m);
    ASSERT_TRUE(cpu.sched.hand_off(m));
    EXPECT_TRUE(cpu.sched.idle_now());  // the kernel sends the wake-up IPI for this
    EXPECT_EQ(cpu.tick(), cpu.idle());
    EXPECT_EQ(cpu.running(), m);
    EXPECT_EQ(cpu.idle()->state, TaskState::Ready);  // parked, not queued
    EXPECT_EQ(cpu.sched.ready_count(), 0u);
}

// The kernel hands a woken task off whenever hand_off accepts it and makes it ready otherwise;
// the tasks must then run in exactly the order they run in with make_ready alone.
TEST(HandOff, TasksRunInTheOrderTheRunQueueAloneGives) {
    std::mt19937 random(1234);
    for (int run = 0; run < 50; ++run) {
        FakeCpu with, without;
        WaitQueue with_queue, without_queue;
        for (const char* name : {"A", "B", "C"}) {
            with.spawn(name);
            without.spawn(name);
        }
        uint64_t handed_off = 0;
        for (int step = 0; step < 400; ++step) {
            const unsigned action = random() % 4;
            if (action == 0) {
                with.tick();
                without.tick();
            } else if (action == 1 && !with.running()->is_idle) {
                with.block(with_queue);
                without.block(without_queue);
            } else if (action == 2) {
                Task* a = with_queue.take_oldest();
                Task* b = without_queue.take_oldest();
                ASSERT_EQ(a == nullptr, b == nullptr);
                if (!a) continue;
                if (with.sched.hand_off(a)) ++handed_off;
                else with.sched.make_ready(a);
                without.sched.make_ready(b);
            } else if (action == 3 && !with.running()->is_idle) {
                with.yield();
                without.yield();
            }
            ASSERT_STREQ(with.running()->name, without.running()->name) << "run " << run << " step " << step;
            ASSERT_EQ(with.sched.ready_count(), without.sched.ready_count());
        }
        EXPECT_GT(handed_off, 0u);
    }
}

}  // namespace

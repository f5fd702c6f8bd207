// Kernel tasks and the switch path (the seed design's model, docs/tasks.md). The task list holds one 16-byte entry
// per task — its PML4 and its saved ring-0 RSP — in chunks that are added as tasks are created,
// so it grows without ever moving an entry. A task switches where it gives up the CPU (yield,
// sleep, block, exit, migrate) or in the interrupt that preempts it (the timer, the wake-up
// IPI): this CPU's portable scheduler picks, the next entry's CR3 is loaded, and
// arch::switch_context saves the callee-saved registers and RSP in the current entry and
// resumes the next one from its own.
//
// SMP: every CPU has its own scheduler, run queue and lock; the switch path takes only its own
// CPU's lock. A task keeps its CPU while runnable; a CPU with nothing to run steals a ready task
// from the busiest other CPU at its tick, and a task made ready on a parked CPU wakes that CPU
// with an IPI at once instead of at its next tick.
#pragma once

#include <stdint.h>

#include "mm/kernel_stacks.hpp"
#include "lib/cpu_mask.hpp"
#include "lib/spinlock.hpp"
#include "lib/result.hpp"
#include "sched/scheduler.hpp"
#include "sched/task_list.hpp"

namespace kernel::tasks {

struct WaitQueue;

struct KernelTask {
    sched::Task sched;  // the scheduler's view (state, queue links, accounting)
    uint32_t slot;      // index of this task's entry in the task list (sched/task_list.hpp)
    sched::TaskEntry* entry;  // that entry (entries never move): the switch reaches it in one load
    KernelStack stack;  // empty for the boot task, which runs on the boot stack
    char name[24];
    // 1 while a CPU runs on this task's stack, cleared by that CPU only after it has switched to
    // another stack (arch::switch_context): a task woken, stolen or migrated to another CPU is not resumed
    // there before its previous CPU is off its stack.
    uint32_t on_cpu;
    void* process;            // the user process this task runs (nullptr: a kernel task)
    void* thread;             // which of the process's threads it is
    // The CPUs that have this task's page tables loaded right now, and some that had them
    // (a CPU switching away stays in lazily), shared by every task on those tables (a process's
    // threads): TLB shootdowns go to these CPUs only. The switch path adds a CPU before it loads
    // the tables. nullptr: the kernel's tables, which every CPU may hold.
    kstd::CpuMask* address_space_cpus;
    WaitQueue* blocked_queue; // the queue it sleeps on while Blocked (kill wakes it there)
    IrqSpinLock block_lock;   // the task clears blocked_queue under it, so a waker using the
                              // pointer under it never sees the queue freed in between
    void* extended_state;     // a user task's x87/SSE/AVX registers while they are not on a CPU
                              // (arch::extended_state_*), in the same allocation as the task;
                              // nullptr for kernel tasks, which never use them
};

enum class TaskError { OutOfMemory, TooManyTasks, NoSuchCpu };

// A wait queue shared by tasks on any CPU, with its own lock.
struct WaitQueue {
    sched::WaitQueue waiters;
    IrqSpinLock lock;
    // Tasks inside block_unless on this queue (counted before they check their condition, until they
    // are taken off the queue or find their condition true): 0 lets a wake skip the lock
    // (nobody_blocking says why that is race-free).
    uint32_t blocking = 0;
};

// A lock that sleeps instead of spinning, for work that may block or take long (with interrupts
// on) while others must wait: a process's mapping changes (mmap, munmap, fork's snapshot).
// Waiters block on its queue; unlock wakes them and one takes it.
class Mutex {
public:
    void lock();
    void unlock();

private:
    WaitQueue m_queue;
    uint32_t m_held = 0;
};

class MutexGuard {
public:
    explicit MutexGuard(Mutex& mutex) : m_mutex(mutex) { m_mutex.lock(); }
    ~MutexGuard() { m_mutex.unlock(); }
    MutexGuard(const MutexGuard&) = delete;
    MutexGuard& operator=(const MutexGuard&) = delete;

private:
    Mutex& m_mutex;
};

// Counts events and lets tasks wait until a number of them have happened: a join for a group of
// tasks, each signalling as its last act. signal() is safe from any CPU and from interrupt
// handlers; a wait never misses a signal (the count is re-checked under the queue's lock).
class Completion {
public:
    void signal();
    void wait_until(uint64_t count);
    uint64_t count() const { return __atomic_load_n(&m_count, __ATOMIC_ACQUIRE); }
    void reset() { __atomic_store_n(&m_count, 0, __ATOMIC_RELEASE); }

private:
    WaitQueue m_queue;
    uint64_t m_count = 0;
};

inline constexpr unsigned kAnyCpu = ~0u;
inline constexpr uint64_t kForever = ~0ull;  // a sleep that only interrupt_wait() ends

// Turns the running boot code into task "main", creates this CPU's idle task and hooks the
// scheduler into the wake-up IPI. `tick_hz`: the rate on_timer_tick is called at.
void init(unsigned tick_hz);
// The timer interrupt's work after its EOI (the kernel's tick hook): steal if idle, account the
// tick, switch if the quantum is over (the preempted task resumes inside this call later).
void on_timer_tick(arch::TrapFrame* frame);
// An AP: its boot context becomes its idle task; from then on it runs tasks.
void init_application_processor();

// On `cpu` (kAnyCpu: the online CPU with the shortest run queue); `pinned` keeps it there.
kstd::Result<KernelTask*, TaskError> spawn(const char* name, void (*entry)(uint64_t), uint64_t parameter,
                                           unsigned cpu = kAnyCpu, bool pinned = false);
KernelTask* current();

// A user task: `pml4_phys` is its address space, `build_frame(stack_top, context)` writes its
// initial frame on the new kernel stack and returns the RSP to save (arch::build_user_task_frame
// or build_forked_task_frame). It starts Ready on the least-loaded CPU its affinity allows;
// `*publish` is set to the task before it can run (and so before it can exit). Its x87/SSE/AVX
// registers start clean, or as a copy of the calling user task's (fork).
struct UserTaskSpec {
    const char* name;
    uint64_t pml4_phys;               // its address space
    kstd::CpuMask* address_space_cpus;  // the CPUs that have that space loaded (KernelTask)
    void* process;
    void* thread;
    kstd::CpuMask affinity;
    bool copy_callers_extended_state;  // fork: the caller's registers; else clean ones
};
kstd::Result<KernelTask*, TaskError> spawn_user(const UserTaskSpec& spec,
                                                uint64_t (*build_frame)(uint64_t stack_top, void* context),
                                                void* context, KernelTask** publish);
// How user tasks' x87/SSE/AVX registers follow them (docs/fpu.md): eager (saved and loaded on
// every switch between user tasks, the default) or lazy (loaded at the first use after a switch,
// through #NM). Set once, on the boot CPU before the others start and any user task runs.
void use_lazy_extended_state(bool lazy);
// The calling task's CPU mask; moves it at once if it runs outside the new mask. False (nothing
// changed) if no online CPU is in the mask.
bool set_current_affinity(const kstd::CpuMask& cpus);
// The calling task runs on the kernel's page tables from now on (the last thread of a process
// giving up its own on exit). Then empties `cpus` (the old space's set), waiting for CPUs that
// still have the space loaded, so the old tables can be freed.
void leave_address_space(kstd::CpuMask& cpus);
// A CPU that a shootdown for the space with set `cpus` reached, interrupts off: if this CPU has
// another space loaded (it stayed in the set lazily), it leaves the set and returns true, as no
// entry of that space can be in its TLB (its CR3 load dropped them). False: it has the space.
bool drop_space_unless_loaded(kstd::CpuMask& cpus);
// Ends `task`'s wait early, on a wait queue or in a sleep: it re-checks its condition (and sees
// that it is being killed).
void interrupt_wait(KernelTask* task);
// Sets the calling task's affinity: to the CPU it runs on now (it will not be moved), or back to
// every CPU. Returns the CPU index it is pinned to.
unsigned pin_current_to_this_cpu();
void unpin_current();

void yield();
void sleep_ms(uint64_t milliseconds);
// Sleeps unless `stop(context)` holds, checked without lost wake-ups against interrupt_wait()
// (which ends the sleep early). Returns stop(context) after waking.
bool sleep_ms_unless(uint64_t milliseconds, bool (*stop)(void* context), void* context);
void block_on(WaitQueue& queue);
// Blocks unless `satisfied(context)` holds when checked under the queue's lock (the condition a
// waker makes true before it wakes the queue): no lost wake-ups between check and sleep.
void block_unless(WaitQueue& queue, bool (*satisfied)(void* context), void* context);
// The same protocol with the condition inlined into the caller: no call through a pointer, no
// context object in memory (the pipes' waits). begin_block turns interrupts off, publishes the
// task's queue for a kill, announces it in `blocking` and takes the queue's lock; finish_block
// is given the condition as checked under that lock and releases it, blocking unless it held.
// Returns whether interrupts were on, for finish_block.
bool begin_block(WaitQueue& queue);
void finish_block(WaitQueue& queue, bool satisfied, bool were_enabled);
template <typename Satisfied>
inline void block_until(WaitQueue& queue, Satisfied satisfied) {
    const bool were_enabled = begin_block(queue);
    finish_block(queue, satisfied(), were_enabled);
}
// True if no task can be blocked on `queue`, or about to block on it with its condition still
// false, so a wake-up may skip the queue's lock. Why that cannot lose a wake-up: a waker makes its
// waiters' condition true (a store) before it wakes; a waiter announces itself in `blocking` (a
// locked add) before it checks that condition. Both sides put a full barrier between their store
// and their load (the waker the fence below, the waiter its locked add), so in the single order
// of those barriers either the waiter's add comes first, and the load below sees blocking > 0 and
// the waker takes the lock as before (the check-under-lock protocol applies), or the waker's fence
// comes first, and then the waiter's condition check, after its add, sees the store and the
// waiter does not block. A count > 0 for a task that has not blocked yet only costs a lock round.
// Inline: most wake-ups (a pipe waking a writer that is not waiting) end here, in 3 instructions.
inline bool nobody_blocking(WaitQueue& queue) {
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    return __atomic_load_n(&queue.blocking, __ATOMIC_RELAXED) == 0;
}
// The wake-ups below once someone may be blocking: under the queue's lock.
bool wake_one_blocking(WaitQueue& queue);
uint64_t wake_all_blocking(WaitQueue& queue);
// Wake waiters (each back onto the CPU it blocked on); safe from interrupt handlers.
inline bool wake_one(WaitQueue& queue) { return !nobody_blocking(queue) && wake_one_blocking(queue); }
inline uint64_t wake_all(WaitQueue& queue) { return nobody_blocking(queue) ? 0 : wake_all_blocking(queue); }
// A waker that wakes several queues after its store(s) needs only one fence for all of them:
// fence_before_wake(), then wake_all_after_fence() for each (nobody_blocking's argument, with the
// fence shared).
inline void fence_before_wake() { __atomic_thread_fence(__ATOMIC_SEQ_CST); }
inline uint64_t wake_all_after_fence(WaitQueue& queue) {
    return __atomic_load_n(&queue.blocking, __ATOMIC_RELAXED) == 0 ? 0 : wake_all_blocking(queue);
}
// Tasks blocked on `queue` right now.
uint64_t waiting_count(WaitQueue& queue);
[[noreturn]] void exit();

uint64_t live_count();        // tasks not yet reaped, idle and main included
uint64_t task_list_slots();   // entries the task list has grown to
uint64_t switch_count();      // context switches, all CPUs
uint64_t steal_count();       // tasks moved by work stealing
uint64_t wake_ipi_count();    // wake-up IPIs sent
unsigned cpu_of(const KernelTask* task);
uint64_t ready_count(unsigned cpu);
uint64_t ipi_switch_count(unsigned cpu);  // switches a wake-up IPI made on `cpu`

bool idle_now(unsigned cpu);

}  // namespace kernel::tasks

// Kernel tasks, the task list and the switch, per CPU (see tasks.hpp).
#include "sched/tasks.hpp"

#include "arch/arch.hpp"
#include "lib/clock.hpp"
#include "lib/console.hpp"
#include "sched/cpu_local.hpp"
#include "sched/placement.hpp"
#include "mm/kernel_address_space.hpp"
#include "mm/kernel_heap.hpp"
#include "lib/panic.hpp"
#include "lib/format.hpp"

namespace kernel::tasks {
namespace {

constexpr unsigned kTaskStackPages = 4;     // 16 KiB below each guard page

// --- the task list (shared; the switch path only reads and writes entries it owns) ---------
sched::TaskList g_task_list(kmalloc);

}  // namespace

// --- per CPU (CpuLocal::tasks points at this CPU's) ------------------------------------------
// The running task is the scheduler's current one, also in CpuLocal::current_task for a
// one-load current().
struct CpuTasks {
    IrqSpinLock lock;                // guards everything below
    sched::CpuScheduler scheduler;
    KernelTask* reap_head = nullptr; // dead tasks left by the switch (linked through
                                     // sched.queue_next: a dead task is on no queue)
    bool running = false;            // this CPU takes tasks
    // The loaded user space's CPU set (KernelTask), nullptr for the kernel's tables. Written by
    // this CPU after each CR3 load; read by others (leave_address_space).
    kstd::CpuMask* loaded_space_cpus = nullptr;
    uint64_t switches = 0;           // context switches made here
    uint64_t ipi_switches = 0;       // switches made by the wake-up IPI (not the tick)
    bool extended_state_live = false;  // lazy mode: the current task's registers are loaded (CR0.TS
                                       // clear); changed only by this CPU with interrupts off
};

namespace {

CpuTasks g_cpus[kMaxCpus];
KernelTask g_boot_task;
uint64_t g_steals = 0, g_wake_ipis = 0;

unsigned g_tick_hz = 0;  // the timer's rate, for turning sleeps into ticks
bool g_lazy_extended_state = false;  // set once at boot (use_lazy_extended_state)

KernelTask* from_sched(sched::Task* task) { return reinterpret_cast<KernelTask*>(task); }
static_assert(__builtin_offsetof(KernelTask, sched) == 0, "sched::Task must be first");

CpuTasks& this_cpu_tasks() { return *this_cpu().tasks; }
KernelTask* current_of(const CpuLocal& cpu) { return static_cast<KernelTask*>(cpu.current_task); }

// A CPU's load as placement and stealing see it: read without its lock.
sched::CpuLoad load_of(unsigned cpu) {
    return {__atomic_load_n(&g_cpus[cpu].running, __ATOMIC_ACQUIRE), g_cpus[cpu].scheduler.ready_count(),
            g_cpus[cpu].scheduler.idle_now()};
}

TaskError error_of(sched::TaskListError error) {
    return error == sched::TaskListError::Full ? TaskError::TooManyTasks : TaskError::OutOfMemory;
}

// Dead tasks go from a CPU's reap list (filled by the switch, which still runs on the dead
// task's stack) to one global list, and a reaper task frees them: freeing a stack unmaps it,
// which shoots down other CPUs' TLB entries and so must not happen inside the switch path with
// interrupts off and a CPU lock held.
IrqSpinLock g_dead_lock;
KernelTask* g_dead_head = nullptr;  // linked through sched.queue_next (a dead task is on no queue)

void reap_locked(CpuTasks& cpu) {
    if (!cpu.reap_head) return;
    IrqLockGuard guard(g_dead_lock);
    while (KernelTask* task = cpu.reap_head) {
        cpu.reap_head = reinterpret_cast<KernelTask*>(task->sched.queue_next);
        task->sched.queue_next = reinterpret_cast<sched::Task*>(g_dead_head);
        g_dead_head = task;
    }
}

void reaper(uint64_t) {
    for (;;) {
        KernelTask* dead;
        {
            IrqLockGuard guard(g_dead_lock);
            dead = g_dead_head;
            g_dead_head = nullptr;
        }
        // In batches: their stacks go with one TLB shootdown for all (free_kernel_stacks), which
        // is what lets the reaper keep up with tasks ending on many CPUs at once.
        constexpr unsigned kBatch = 32;
        while (dead) {
            KernelTask* batch[kBatch];
            KernelStack stacks[kBatch];
            unsigned count = 0;
            for (; dead && count < kBatch; dead = reinterpret_cast<KernelTask*>(dead->sched.queue_next)) {
                while (__atomic_load_n(&dead->on_cpu, __ATOMIC_ACQUIRE)) arch::cpu_relax();
                batch[count] = dead;
                stacks[count++] = dead->stack;
            }
            free_kernel_stacks(stacks, count);
            for (unsigned i = 0; i < count; ++i) {
                const uint32_t slot = batch[i]->slot;
                kfree(batch[i]);
                g_task_list.remove(slot);  // last: once live_count() drops, everything the task held is back
            }
        }
        sleep_ms(10);
    }
}

// Eager: the registers of a user task leaving are saved, those of a user task coming are loaded
// (a kernel task neither: it never touches them). Lazy: they are saved only if the leaving task
// used them since it was switched in, and the next use traps (on_extended_state_trap). A dead
// task's are saved like any other (its area lives until the reaper frees the task): one test
// less on every switch. The incoming task's last CPU saved them before clearing on_cpu.
[[gnu::always_inline]] inline void switch_extended_state_locked(CpuTasks& cpu, KernelTask* previous, KernelTask* next) {
    if (!g_lazy_extended_state) {
        void* const save_area = previous->extended_state;
        const void* const restore_area = next->extended_state;
        if (save_area && restore_area) arch::extended_state_switch(save_area, restore_area);
        else if (save_area) arch::extended_state_save(save_area);
        else if (restore_area) arch::extended_state_restore(restore_area);
        return;
    }
    if (!cpu.extended_state_live) return;
    arch::extended_state_save(previous->extended_state);
    cpu.extended_state_live = false;
    arch::extended_state_trap_next_use();
}

// Lazy mode, #NM from ring 3, interrupts off: the current task's first x87/SSE/AVX instruction
// since it was switched in.
bool on_extended_state_trap() {
    CpuTasks& cpu = this_cpu_tasks();
    KernelTask* task = current();
    if (!g_lazy_extended_state || cpu.extended_state_live || !task->extended_state) return false;
    arch::extended_state_allow_use();
    arch::extended_state_restore(task->extended_state);
    cpu.extended_state_live = true;
    return true;
}

// Fork: the caller's live registers to its save area, so the child can copy them.
void save_current_extended_state() {
    const bool were_enabled = arch::save_and_disable_interrupts();
    CpuTasks& cpu = this_cpu_tasks();
    if (!g_lazy_extended_state || cpu.extended_state_live) arch::extended_state_save(current()->extended_state);
    arch::restore_interrupts(were_enabled);
}

// The one switch path, in two halves. Under this CPU's lock, with the task the scheduler chose
// to follow `previous` (the running one): everything that must agree with the scheduler's state.
// Returns nullptr if `previous` keeps the CPU; else the task to switch to, which switch_to()
// then resumes once the lock is released (interrupts still off). Inlined: it is most of every
// switch, and each caller is a different path (yield, block, sleep, the tick, the wake IPI).
[[gnu::always_inline]] inline KernelTask* prepare_switch_locked(CpuTasks& cpu, CpuLocal& self, KernelTask* previous,
                                                              sched::Task* next_task) {
    KernelTask* next = from_sched(next_task);
    if (next == previous) return nullptr;
    __atomic_fetch_add(&cpu.switches, 1, __ATOMIC_RELAXED);  // read by switch_count()
    // A task that just left another CPU (woken, stolen or migrated) may still have that CPU on
    // its stack for a few instructions: resume it only once that CPU has let go. The wait is
    // behind an unlikely branch, so the usual case (long gone) has no loop padding on its path.
    if (__builtin_expect(__atomic_load_n(&next->on_cpu, __ATOMIC_ACQUIRE), 0)) {
        do arch::cpu_relax();
        while (__atomic_load_n(&next->on_cpu, __ATOMIC_ACQUIRE));
    }
    switch_extended_state_locked(cpu, previous, next);
    next->on_cpu = 1;
    self.current_task = next;
    if (next->process) arch::set_user_entry_stack(next->stack.top);
    kstd::CpuMask* const next_space_cpus = next->address_space_cpus;  // one load, across the atomics
    if (next_space_cpus != cpu.loaded_space_cpus) {
        // Joining the set before loading the tables: a shootdown that reads the set after that
        // reaches us; one that read it before changed the tables before we load them. The set
        // of the space we leave keeps us (lazy membership, docs/smp.md): switching between two
        // processes costs no locked instruction once each set has the CPU, and the CR3 load
        // below drops the old space's entries anyway. A shootdown that still reaches us, or the
        // space's last thread leaving it, takes us out (drop_space_unless_loaded,
        // leave_address_space).
        const unsigned index = self.index;
        __builtin_assume(index < kMaxCpus);  // every CpuLocal is in g_cpu_locals[kMaxCpus]
        if (next_space_cpus && !next_space_cpus->contains_concurrently(index)) {
            next_space_cpus->add_concurrently(index);
            __atomic_thread_fence(__ATOMIC_SEQ_CST);
        }
    }
    arch::load_address_space(next->entry->pml4_phys);
    // After the CR3 load: another CPU that reads a different space here knows this one can no
    // longer walk the old tables (leave_address_space frees them on that).
    __atomic_store_n(&cpu.loaded_space_cpus, next_space_cpus, __ATOMIC_RELEASE);
    return next;
}

// The other half, after the lock: the stack switch itself. `previous` stays suspended in here
// until a CPU switches back to it (arch::switch_context, which clears its on_cpu once off it).
[[gnu::always_inline]] inline void switch_to(KernelTask* previous, KernelTask* next) {
    arch::switch_context(&previous->entry->saved_rsp, next->entry->saved_rsp, &previous->on_cpu);
}

// Makes `task` ready on the CPU it belongs to, and wakes that CPU at once if it is parked.
void make_ready_on_its_cpu(sched::Task* task) {
    const unsigned target = task->cpu;
    bool parked;
    {
        IrqLockGuard guard(g_cpus[target].lock);
        g_cpus[target].scheduler.make_ready(task);
        parked = g_cpus[target].scheduler.idle_now();
    }
    if (parked) {
        __atomic_fetch_add(&g_wake_ipis, 1, __ATOMIC_RELAXED);
        // A self-IPI too: the handler that woke us returns to idle otherwise until the tick.
        arch::send_ipi(g_cpu_locals[target].apic_id, arch::kVectorWakeIpi);
    }
}

// A task taken off a wait queue becomes ready on its CPU. Woken from that same CPU (a pipe's
// writer waking the reader that blocked on this CPU, the common case when both are pinned or
// stayed put), it is handed off (CpuScheduler::hand_off): no lock, no run queue; the next switch
// here picks it. Interrupts off: the caller stays on this CPU until the task is in the slot.
void wake_task_interrupts_off(sched::Task* task) {
    CpuLocal& self = this_cpu();
    if (task->cpu == self.index) {
        CpuTasks& cpu = *self.tasks;  // set: a task of this CPU proves its scheduler is running
        if (cpu.scheduler.hand_off(task)) {
            // Woken by an interrupt handler while this CPU idles: switch now, not at the next tick.
            if (cpu.scheduler.idle_now()) {
                __atomic_fetch_add(&g_wake_ipis, 1, __ATOMIC_RELAXED);
                arch::send_ipi(self.apic_id, arch::kVectorWakeIpi);
            }
            return;
        }
    }
    make_ready_on_its_cpu(task);
}

// Work stealing, without holding our own lock while holding the victim's (no lock-order cycle):
// take the last ready task of the CPU with the longest queue, then ready it here.
void steal_if_idle(unsigned self) {
    if (!g_cpus[self].scheduler.idle_now() || g_cpus[self].scheduler.ready_count() != 0) return;
    // Chosen without the victim's lock: take_for_migration decides under it.
    const unsigned victim = sched::steal_victim(g_cpu_count, self, load_of);
    if (victim == sched::kNoCpu) return;
    sched::Task* task;
    {
        IrqLockGuard guard(g_cpus[victim].lock);
        task = g_cpus[victim].scheduler.take_for_migration(self);
    }
    if (!task) return;
    __atomic_fetch_add(&g_steals, 1, __ATOMIC_RELAXED);
    IrqLockGuard guard(g_cpus[self].lock);
    g_cpus[self].scheduler.make_ready(task);  // sets task->cpu = self
}

}  // namespace

void on_timer_tick(arch::TrapFrame* frame) {
    CpuLocal& self = this_cpu();
    CpuTasks& cpu = g_cpus[self.index];  // not self.tasks: a tick may come before init sets it
    if (!cpu.running) return;
    steal_if_idle(self.index);
    KernelTask* const previous = current_of(self);
    KernelTask* next;
    {
        InterruptsOffLockGuard guard(cpu.lock);
        reap_locked(cpu);
        // A CPU that was running user code or idling was not stuck in the kernel, even if its
        // task keeps the CPU (the one task on it, or nothing to do); one that switches here
        // schedules. Switches elsewhere are noted where a task gives up the CPU, or follow an
        // idle tick (the wake IPI).
        const bool was_not_in_a_kernel_task = arch::frame_is_user(frame) || cpu.scheduler.idle_now();
        next = prepare_switch_locked(cpu, self, previous, cpu.scheduler.on_tick());
        if (was_not_in_a_kernel_task || next) note_scheduled(self);
    }
    if (next) switch_to(previous, next);  // the preempted task resumes here, then returns from the interrupt
}

namespace {

void on_wake_ipi(arch::TrapFrame*, void*) {
    arch::end_of_interrupt();
    CpuLocal& self = this_cpu();
    CpuTasks& cpu = g_cpus[self.index];
    if (!cpu.running) return;
    KernelTask* const previous = current_of(self);
    KernelTask* next;
    {
        InterruptsOffLockGuard guard(cpu.lock);
        if (!cpu.scheduler.idle_now()) return;  // runs at its turn
        next = prepare_switch_locked(cpu, self, previous, cpu.scheduler.yield());
        if (next) __atomic_store_n(&cpu.ipi_switches, cpu.ipi_switches + 1, __ATOMIC_RELAXED);
    }
    if (next) switch_to(previous, next);
}

// The task gives the CPU back to the scheduler (yield, sleep, exit), interrupts off:
// `choose(cpu, previous)` runs under this CPU's lock and returns the scheduler's pick, or
// nullptr to keep running.
template <typename Choose>
[[gnu::always_inline]] inline void give_up_cpu(Choose choose) {
    CpuLocal& self = this_cpu();
    CpuTasks& cpu = *self.tasks;
    note_scheduled(self);  // the task gave the CPU back to the scheduler, if only to get it again
    KernelTask* const previous = current_of(self);
    KernelTask* next = nullptr;
    {
        InterruptsOffLockGuard guard(cpu.lock);
        reap_locked(cpu);
        if (sched::Task* chosen = choose(cpu, previous)) next = prepare_switch_locked(cpu, self, previous, chosen);
    }
    if (next) switch_to(previous, next);
}

// The current task moves to CPU `target` (its affinity no longer includes this one), interrupts
// off. Off this CPU's queues under its lock; onto the target's once our lock is released (never
// two CPU locks at once), still before the switch: the target waits for on_cpu before it
// resumes the task, and on_cpu clears only once the switch is off its stack.
void migrate_current(unsigned target) {
    CpuLocal& self = this_cpu();
    CpuTasks& cpu = *self.tasks;
    note_scheduled(self);
    KernelTask* const leaving = current_of(self);
    KernelTask* next;
    {
        InterruptsOffLockGuard guard(cpu.lock);
        if (leaving->sched.may_run_on(self.index) || target >= g_cpu_count ||
            !__atomic_load_n(&g_cpus[target].running, __ATOMIC_ACQUIRE))
            return;
        reap_locked(cpu);
        next = prepare_switch_locked(cpu, self, leaving, cpu.scheduler.migrate_current());
    }
    __atomic_store_n(&leaving->sched.cpu, target, __ATOMIC_RELAXED);
    make_ready_on_its_cpu(&leaving->sched);
    // migrate_current() never keeps the task: something else (the idle task at least) runs here.
    switch_to(leaving, next);
}

void idle_loop(uint64_t) {
    // The seed's park: nothing to run, so wait for the next interrupt with interrupts on.
    for (;;) arch::wait_for_interrupt();
}

KernelTask* create(const char* name, uint64_t pml4_phys, uint64_t (*build_frame)(uint64_t stack_top, void* context),
                   void* context, TaskError& error, bool user = false) {
    // A user task's register save area follows it in the same allocation, so the reaper's kfree
    // releases both.
    constexpr uint64_t kAlign = arch::kExtendedStateAlignment;
    const uint64_t state_bytes = user ? arch::extended_state_size() + kAlign - 1 : 0;
    auto* task = static_cast<KernelTask*>(kmalloc(sizeof(KernelTask) + state_bytes));
    if (!task) {
        error = TaskError::OutOfMemory;
        return nullptr;
    }
    *task = {};
    if (user)
        task->extended_state =
            reinterpret_cast<void*>((reinterpret_cast<uint64_t>(task + 1) + kAlign - 1) & ~(kAlign - 1));
    auto slot = g_task_list.add();
    if (!slot) {
        kfree(task);
        error = error_of(slot.error());
        return nullptr;
    }
    auto stack = allocate_kernel_stack(kTaskStackPages);
    if (!stack) {
        g_task_list.remove(slot.value());
        kfree(task);
        error = TaskError::OutOfMemory;
        return nullptr;
    }
    static uint64_t next_id = 1;
    task->slot = slot.value();
    task->stack = stack.value();
    task->sched.id = __atomic_fetch_add(&next_id, 1, __ATOMIC_RELAXED);
    kstd::format_to_buffer(task->name, sizeof(task->name), "%s", name);
    task->sched.name = task->name;
    task->entry = &g_task_list.entry(task->slot);
    *task->entry = {pml4_phys, build_frame(task->stack.top, context)};
    return task;
}

// A task list entry and scheduler for the context already running on this CPU (boot code on
// CPU 0, ap_main on an AP), which becomes task `name`.
KernelTask* adopt_running_context(KernelTask* task, const char* name) {
    auto slot = g_task_list.add();
    if (!slot) panic("tasks: no memory for the task list");
    task->slot = slot.value();
    kstd::format_to_buffer(task->name, sizeof(task->name), "%s", name);
    task->sched.name = task->name;
    task->entry = &g_task_list.entry(task->slot);
    *task->entry = {kernel_address_space().root().address(), 0};
    task->on_cpu = 1;  // it is running right now
    return task;
}

struct KernelEntry {
    void (*entry_point)(uint64_t);
    uint64_t parameter;
};

uint64_t build_kernel_frame(uint64_t stack_top, void* context) {
    const auto* kernel_entry = static_cast<const KernelEntry*>(context);
    return arch::build_kernel_task_frame(stack_top, kernel_entry->entry_point, kernel_entry->parameter);
}

KernelTask* create_kernel_task(const char* name, void (*entry_point)(uint64_t), uint64_t parameter,
                               TaskError& error) {
    KernelEntry kernel_entry{entry_point, parameter};
    return create(name, kernel_address_space().root().address(), build_kernel_frame, &kernel_entry, error);
}

// The online CPU with the least work among those `allowed` (sched/placement.hpp); kAnyCpu if none.
unsigned least_loaded_cpu(const kstd::CpuMask& allowed) {
    const unsigned cpu = sched::least_loaded(g_cpu_count, allowed, load_of);
    return cpu == sched::kNoCpu ? kAnyCpu : cpu;
}

}  // namespace

void init(unsigned tick_hz) {
    g_tick_hz = tick_hz;
    CpuTasks& cpu = g_cpus[0];
    adopt_running_context(&g_boot_task, "main");
    g_boot_task.sched.id = 0;
    TaskError error;
    KernelTask* idle = create_kernel_task("idle0", idle_loop, 0, error);
    if (!idle) panic("tasks: cannot create the idle task");
    {
        IrqLockGuard guard(cpu.lock);
        this_cpu().tasks = &cpu;
        this_cpu().current_task = &g_boot_task;
        cpu.scheduler.init(0, &idle->sched, &g_boot_task.sched);
        cpu.running = true;
    }
    arch::set_interrupt_handler(arch::kVectorWakeIpi, on_wake_ipi, nullptr);
    if (!spawn("reaper", reaper, 0, 0, true)) panic("tasks: cannot create the reaper task");
    klog("tasks: task list of 16-byte entries (PML4, RSP) in %u-entry chunks; idle task %lu; main is task 0",
         sched::TaskList::kEntriesPerChunk, idle->sched.id);
}

void init_application_processor() {
    const unsigned index = this_cpu().index;
    auto* idle = static_cast<KernelTask*>(kmalloc(sizeof(KernelTask)));
    if (!idle) panic("tasks: no memory for CPU %u's idle task", index);
    *idle = {};
    char name[16];
    kstd::format_to_buffer(name, sizeof(name), "idle%u", index);
    adopt_running_context(idle, name);
    idle->stack = this_cpu().boot_stack;
    idle->sched.affinity = kstd::CpuMask{};  // never moved, never stolen
    CpuTasks& cpu = g_cpus[index];
    IrqLockGuard guard(cpu.lock);
    this_cpu().tasks = &cpu;
    this_cpu().current_task = idle;
    cpu.scheduler.init(index, &idle->sched, nullptr);
    if (g_lazy_extended_state) arch::extended_state_trap_next_use();  // nothing is loaded yet
    __atomic_store_n(&cpu.running, true, __ATOMIC_RELEASE);
}

kstd::Result<KernelTask*, TaskError> spawn(const char* name, void (*entry_point)(uint64_t), uint64_t parameter,
                                           unsigned cpu_index, bool pinned) {
    if (cpu_index == kAnyCpu) {
        cpu_index = least_loaded_cpu(kstd::CpuMask::all());
        if (cpu_index == kAnyCpu) cpu_index = 0;
    } else if (cpu_index >= g_cpu_count || !__atomic_load_n(&g_cpus[cpu_index].running, __ATOMIC_ACQUIRE)) {
        return kstd::fail(TaskError::NoSuchCpu);
    }
    TaskError error;
    KernelTask* task = create_kernel_task(name, entry_point, parameter, error);
    if (!task) return kstd::fail(error);
    if (pinned) task->sched.affinity = kstd::CpuMask::only(cpu_index);
    task->sched.cpu = cpu_index;
    make_ready_on_its_cpu(&task->sched);
    return task;
}

KernelTask* current() {
    // One %gs-relative load: whichever CPU the caller is on when it runs, that CPU's current task
    // is the caller itself, so no interrupts-off window is needed.
    return static_cast<KernelTask*>(arch::cpu_local_word<PERCPU_CURRENT_TASK>());
}

kstd::Result<KernelTask*, TaskError> spawn_user(const UserTaskSpec& spec,
                                                uint64_t (*build_frame)(uint64_t stack_top, void* context),
                                                void* context, KernelTask** publish) {
    const unsigned cpu_index = least_loaded_cpu(spec.affinity);
    if (cpu_index == kAnyCpu) return kstd::fail(TaskError::NoSuchCpu);
    TaskError error;
    KernelTask* task = create(spec.name, spec.pml4_phys, build_frame, context, error, true);
    if (!task) return kstd::fail(error);
    if (spec.copy_callers_extended_state) {
        save_current_extended_state();
        __builtin_memcpy(task->extended_state, current()->extended_state, arch::extended_state_size());
    } else {
        arch::extended_state_init(task->extended_state);
    }
    task->process = spec.process;
    task->thread = spec.thread;
    task->address_space_cpus = spec.address_space_cpus;
    task->sched.affinity = spec.affinity;
    task->sched.cpu = cpu_index;
    __atomic_store_n(publish, task, __ATOMIC_RELEASE);
    make_ready_on_its_cpu(&task->sched);
    return task;
}

void use_lazy_extended_state(bool lazy) {
    g_lazy_extended_state = lazy;
    if (!lazy) return;
    arch::set_extended_state_trap_handler(on_extended_state_trap);
    arch::extended_state_trap_next_use();  // this (the boot) CPU; each AP as it starts
}

bool set_current_affinity(const kstd::CpuMask& cpus) {
    const unsigned target = least_loaded_cpu(cpus);
    if (target == kAnyCpu) return false;
    {
        CpuTasks& cpu = this_cpu_tasks();
        IrqLockGuard guard(cpu.lock);
        current()->sched.affinity = cpus;
        if (current()->sched.may_run_on(this_cpu().index)) return true;
    }
    const bool were_enabled = arch::save_and_disable_interrupts();
    migrate_current(target);
    arch::restore_interrupts(were_enabled);
    return true;
}

void leave_address_space(kstd::CpuMask& cpus) {
    const uint64_t kernel_root = kernel_address_space().root().address();
    {
        const bool were_enabled = arch::save_and_disable_interrupts();
        CpuTasks& cpu = this_cpu_tasks();
        current()->entry->pml4_phys = kernel_root;
        arch::load_address_space(kernel_root);
        current()->address_space_cpus = nullptr;
        __atomic_store_n(&cpu.loaded_space_cpus, nullptr, __ATOMIC_RELEASE);
        cpus.remove_concurrently(this_cpu().index);
        arch::restore_interrupts(were_enabled);
    }
    // The other threads have left the process, and no task will load the space again. A CPU
    // still in the set either switched away from it earlier and stayed in lazily (its loaded
    // space is another one, stored after its CR3 load: it is out), or is switching away from
    // the last of the other threads right now (wait for it).
    for (;;) {
        const kstd::CpuMask members = cpus.load_concurrently();
        if (members.empty()) return;
        for (unsigned index = 0; index < g_cpu_count; ++index)
            if (members.contains(index) && __atomic_load_n(&g_cpus[index].loaded_space_cpus, __ATOMIC_ACQUIRE) != &cpus)
                cpus.remove_concurrently(index);
        if (cpus.load_concurrently().empty()) return;
        yield();
    }
}

bool drop_space_unless_loaded(kstd::CpuMask& cpus) {
    const unsigned index = this_cpu().index;
    if (__atomic_load_n(&g_cpus[index].loaded_space_cpus, __ATOMIC_RELAXED) == &cpus) return false;
    cpus.remove_concurrently(index);
    return true;
}

void interrupt_wait(KernelTask* task) {
    {
        IrqLockGuard guard(task->block_lock);
        WaitQueue* queue = __atomic_load_n(&task->blocked_queue, __ATOMIC_ACQUIRE);
        if (queue) wake_all(*queue);
    }
    // A sleeping task stays on its CPU's timer queue; a ready one may move, so the CPU is
    // checked again under its lock.
    for (;;) {
        const unsigned cpu = __atomic_load_n(&task->sched.cpu, __ATOMIC_ACQUIRE);
        bool parked;
        {
            IrqLockGuard guard(g_cpus[cpu].lock);
            if (__atomic_load_n(&task->sched.cpu, __ATOMIC_ACQUIRE) != cpu) continue;
            parked = g_cpus[cpu].scheduler.wake_sleeper(&task->sched) && g_cpus[cpu].scheduler.idle_now();
        }
        // A woken sleeper on a parked CPU runs now, not at that CPU's next tick (a futex wake).
        if (parked) {
            __atomic_fetch_add(&g_wake_ipis, 1, __ATOMIC_RELAXED);
            arch::send_ipi(g_cpu_locals[cpu].apic_id, arch::kVectorWakeIpi);
        }
        return;
    }
}

unsigned pin_current_to_this_cpu() {
    // Under this CPU's lock (stealers read the mask under it) and with interrupts off, so the
    // CPU cannot change between reading its index and writing the mask.
    CpuTasks& cpu = this_cpu_tasks();
    IrqLockGuard guard(cpu.lock);
    const unsigned index = this_cpu().index;
    current()->sched.affinity = kstd::CpuMask::only(index);
    return index;
}

void unpin_current() {
    CpuTasks& cpu = this_cpu_tasks();
    IrqLockGuard guard(cpu.lock);
    current()->sched.affinity = kstd::CpuMask::all();
}

void yield() {
    const bool were_enabled = arch::save_and_disable_interrupts();
    give_up_cpu([](CpuTasks& cpu, KernelTask*) { return cpu.scheduler.yield(); });
    arch::restore_interrupts(were_enabled);
}

void sleep_ms(uint64_t milliseconds) { sleep_ms_unless(milliseconds, nullptr, nullptr); }

bool sleep_ms_unless(uint64_t milliseconds, bool (*stop)(void* context), void* context) {
    // Wake at the first tick at or after now + milliseconds. Counting from this CPU's last tick
    // (part of the current period is already over) makes the sleep at least `milliseconds` and
    // less than one tick longer, instead of a whole tick of slack.
    const bool were_enabled = arch::save_and_disable_interrupts();  // stay on this CPU's tick
    const uint64_t tick_ns = 1000000000ull / g_tick_hz;
    // At most one period: a last tick older than that is a late one (a stalled host, or a CPU that
    // has taken no tick yet, whose last_tick_ns is 0) and the next arrives soon; counting the whole
    // gap would add a tick per missed period (an AP's 10 ms INIT wait lasted 40-72 ms so).
    uint64_t since_tick_ns = clock::ns_since_boot() - __atomic_load_n(&this_cpu().last_tick_ns, __ATOMIC_RELAXED);
    if (since_tick_ns > tick_ns) since_tick_ns = tick_ns;
    constexpr uint64_t kLongest = (~0ull - 2000000000ull) / 1000000;  // keeps the sum below from wrapping
    const uint64_t ticks = milliseconds >= kLongest ? ~0ull : (milliseconds * 1000000 + since_tick_ns + tick_ns - 1) / tick_ns;
    give_up_cpu([&](CpuTasks& cpu, KernelTask*) -> sched::Task* {
        // The stop condition is checked under this CPU's lock, which interrupt_wait() takes to
        // end a sleep early: a kill between the caller's check and this sleep is not lost.
        if (stop && stop(context)) return nullptr;
        return cpu.scheduler.sleep_current(ticks ? ticks : 1);
    });
    arch::restore_interrupts(were_enabled);
    return stop && stop(context);
}

void block_on(WaitQueue& queue) { block_unless(queue, nullptr, nullptr); }

void block_unless(WaitQueue& queue, bool (*satisfied)(void* context), void* context) {
    const bool were_enabled = begin_block(queue);
    finish_block(queue, satisfied && satisfied(context), were_enabled);
}

bool begin_block(WaitQueue& queue) {
    const bool were_enabled = arch::save_and_disable_interrupts();
    KernelTask* const self = current();
    // Published before the condition is checked (which includes the kill test), so a kill either
    // comes before that check and is seen by it, or finds the queue here and wakes it
    // (interrupt_wait). Both sides store, then load the other's word, with a full barrier in
    // between (this xchg and the locked add below; the killer's locked kill store and block
    // lock), so at least one sees the other's store; a killer that sees the queue but not yet
    // `blocking` read it before our add, so our check, after the add, sees the kill. Published
    // after the check (as it once was), a kill in between found no queue and the task slept
    // through it.
    __atomic_store_n(&self->blocked_queue, &queue, __ATOMIC_SEQ_CST);
    // Announced before the condition is checked, with a full barrier (a locked add), for
    // wakers' lock-free emptiness check (wake_all). Withdrawn under the queue's lock: in
    // finish_block if the condition holds, else by the waker that takes this task off the queue
    // (so a woken task never touches the queue again, which may be freed once its waiters are
    // gone).
    __atomic_fetch_add(&queue.blocking, 1, __ATOMIC_SEQ_CST);
    // Lock order: the wait queue, then this CPU. The waker takes them one at a time. The
    // condition is checked under the queue lock, which every waker takes too, so a wake between
    // the caller's check and this block cannot be lost.
    queue.lock.lock_interrupts_off();
    return were_enabled;
}

void finish_block(WaitQueue& queue, bool satisfied, bool were_enabled) {
    CpuLocal& self_cpu = this_cpu();
    KernelTask* const previous = current_of(self_cpu);
    KernelTask* next = nullptr;
    note_scheduled(self_cpu);
    if (satisfied) {
        __atomic_fetch_sub(&queue.blocking, 1, __ATOMIC_RELAXED);  // not blocking after all
    } else {
        CpuTasks& cpu = *self_cpu.tasks;
        InterruptsOffLockGuard guard(cpu.lock);
        reap_locked(cpu);
        next = prepare_switch_locked(cpu, self_cpu, previous, cpu.scheduler.block_current(queue.waiters));
    }
    queue.lock.unlock_interrupts_off();
    if (next) switch_to(previous, next);
    {
        // Still with interrupts off: the queue pointer is withdrawn under the block lock, which
        // interrupt_wait holds while it uses it (the queue may be freed once we return).
        InterruptsOffLockGuard guard(previous->block_lock);
        __atomic_store_n(&previous->blocked_queue, nullptr, __ATOMIC_RELAXED);
    }
    arch::restore_interrupts(were_enabled);
}

bool wake_one_blocking(WaitQueue& queue) {
    const bool were_enabled = arch::save_and_disable_interrupts();
    sched::Task* task;
    {
        InterruptsOffLockGuard guard(queue.lock);
        task = queue.waiters.take_oldest();
        if (task) __atomic_fetch_sub(&queue.blocking, 1, __ATOMIC_RELAXED);
    }
    if (task) wake_task_interrupts_off(task);
    arch::restore_interrupts(were_enabled);
    return task != nullptr;
}

uint64_t wake_all_blocking(WaitQueue& queue) {
    // Every waiter leaves the queue at once under one hold of its lock (a pipe wakes its other
    // end on each transfer: one lock round and no per-waiter unlinking), then each is readied on
    // its own CPU, oldest first, all with interrupts off once.
    const bool were_enabled = arch::save_and_disable_interrupts();
    sched::Task* taken;
    uint64_t woken;
    {
        InterruptsOffLockGuard guard(queue.lock);
        woken = queue.waiters.size();
        taken = queue.waiters.take_all();
        if (woken) __atomic_fetch_sub(&queue.blocking, static_cast<uint32_t>(woken), __ATOMIC_RELAXED);
    }
    while (taken) {
        sched::Task* next = taken->queue_next;
        wake_task_interrupts_off(taken);  // its links are rewritten as it is queued
        taken = next;
    }
    arch::restore_interrupts(were_enabled);
    return woken;
}

uint64_t waiting_count(WaitQueue& queue) {
    IrqLockGuard guard(queue.lock);
    return queue.waiters.size();
}

void Completion::signal() {
    __atomic_fetch_add(&m_count, 1, __ATOMIC_RELEASE);
    wake_all(m_queue);
}

void Completion::wait_until(uint64_t count) {
    struct Target {
        const Completion* completion;
        uint64_t count;
    } target{this, count};
    while (this->count() < count)
        block_unless(m_queue, [](void* context) {
            const auto* t = static_cast<const Target*>(context);
            return t->completion->count() >= t->count;
        }, &target);
}

void Mutex::lock() {
    while (__atomic_exchange_n(&m_held, 1, __ATOMIC_ACQUIRE)) {
        // Checked again under the queue's lock, which unlock's wake takes: no lost wake-up.
        block_unless(m_queue, [](void* held) { return __atomic_load_n(static_cast<uint32_t*>(held), __ATOMIC_ACQUIRE) == 0; },
                     &m_held);
    }
}

void Mutex::unlock() {
    __atomic_store_n(&m_held, 0, __ATOMIC_RELEASE);
    wake_all(m_queue);  // every waiter tries again; one wins, the rest block again
}

void exit() {
    arch::save_and_disable_interrupts();
    give_up_cpu([](CpuTasks& cpu, KernelTask* dying) {
        sched::Task* next = cpu.scheduler.exit_current();
        // Still on its stack until the switch: the reaper frees it once on_cpu is clear.
        dying->sched.queue_next = reinterpret_cast<sched::Task*>(cpu.reap_head);
        cpu.reap_head = dying;
        return next;
    });
    panic("tasks: a dead task was scheduled again");
}

uint64_t live_count() { return g_task_list.live(); }
uint64_t task_list_slots() { return g_task_list.slots(); }

uint64_t switch_count() {
    uint64_t total = 0;
    for (unsigned cpu = 0; cpu < g_cpu_count; ++cpu) total += __atomic_load_n(&g_cpus[cpu].switches, __ATOMIC_RELAXED);
    return total;
}
uint64_t steal_count() { return __atomic_load_n(&g_steals, __ATOMIC_RELAXED); }
uint64_t wake_ipi_count() { return __atomic_load_n(&g_wake_ipis, __ATOMIC_RELAXED); }
unsigned cpu_of(const KernelTask* task) { return task->sched.cpu; }
uint64_t ipi_switch_count(unsigned cpu) {
    return cpu < kMaxCpus ? __atomic_load_n(&g_cpus[cpu].ipi_switches, __ATOMIC_RELAXED) : 0;
}
uint64_t ready_count(unsigned cpu) { return cpu < kMaxCpus ? g_cpus[cpu].scheduler.ready_count() : 0; }

bool idle_now(unsigned cpu) { return cpu < kMaxCpus && g_cpus[cpu].scheduler.idle_now(); }

}  // namespace kernel::tasks

extern "C" [[noreturn]] void kernel_task_exit() { kernel::tasks::exit(); }

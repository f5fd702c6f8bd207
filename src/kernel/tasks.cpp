// Kernel tasks, the task list and the interrupt-driven switch (see tasks.hpp).
#include "tasks.hpp"

#include "arch/arch.hpp"
#include "kernel/clock.hpp"
#include "kernel/console.hpp"
#include "kernel/interrupts.hpp"
#include "kernel/kernel_address_space.hpp"
#include "kernel/kernel_heap.hpp"
#include "kernel/panic.hpp"
#include "kernel/spinlock.hpp"
#include "lib/format.hpp"

namespace kernel::tasks {
namespace {

constexpr unsigned kEntriesPerChunk = 256;  // one 4 KiB chunk
constexpr unsigned kMaxChunks = 256;        // up to 65 536 tasks
constexpr unsigned kTaskStackPages = 4;     // 16 KiB below each guard page

enum Operation : uint64_t { kYield = 1, kSleep, kBlock, kExit };

TaskEntry* g_chunks[kMaxChunks];
unsigned g_chunk_count = 0;
uint32_t g_next_unused_slot = 0;
uint32_t g_free_slot_head = ~0u;  // free slots chain through their saved_rsp field
uint64_t g_live = 0;
uint64_t g_switches = 0;

sched::CpuScheduler g_scheduler;  // CPU 0; one per CPU with the SMP milestone
KernelTask* g_current = nullptr;
KernelTask* g_reap_list[64];      // dead tasks whose stacks are freed on the next switch
unsigned g_reap_count = 0;
KernelTask g_boot_task;
IrqSpinLock g_lock;               // task list and scheduler state

sched::WaitQueue g_input_waiters;

TaskEntry& entry(uint32_t slot) { return g_chunks[slot / kEntriesPerChunk][slot % kEntriesPerChunk]; }
KernelTask* from_sched(sched::Task* task) { return reinterpret_cast<KernelTask*>(task); }
static_assert(__builtin_offsetof(KernelTask, sched) == 0, "sched::Task must be first");

kstd::Result<uint32_t, TaskError> allocate_slot_locked() {
    if (g_free_slot_head != ~0u) {
        const uint32_t slot = g_free_slot_head;
        g_free_slot_head = static_cast<uint32_t>(entry(slot).saved_rsp);
        return slot;
    }
    if (g_next_unused_slot == g_chunk_count * kEntriesPerChunk) {
        if (g_chunk_count == kMaxChunks) return kstd::fail(TaskError::TooManyTasks);
        auto* chunk = static_cast<TaskEntry*>(kmalloc(sizeof(TaskEntry) * kEntriesPerChunk));
        if (!chunk) return kstd::fail(TaskError::OutOfMemory);
        g_chunks[g_chunk_count++] = chunk;
    }
    return g_next_unused_slot++;
}

void free_slot_locked(uint32_t slot) {
    entry(slot) = {0, g_free_slot_head};
    g_free_slot_head = slot;
}

void reap_locked() {
    for (unsigned i = 0; i < g_reap_count; ++i) {
        KernelTask* task = g_reap_list[i];
        free_kernel_stack(task->stack);
        free_slot_locked(task->slot);
        kfree(task);
        --g_live;
    }
    g_reap_count = 0;
}

// The one switch path: called with the interrupted task's frame, returns the frame to resume.
uint64_t switch_locked(arch::TrapFrame* frame, sched::Task* next_task) {
    KernelTask* previous = g_current;
    KernelTask* next = from_sched(next_task);
    entry(previous->slot).saved_rsp = reinterpret_cast<uint64_t>(frame);
    if (next == previous) return reinterpret_cast<uint64_t>(frame);
    ++g_switches;
    if (previous->sched.state == sched::TaskState::Dead) {
        if (g_reap_count == sizeof(g_reap_list) / sizeof(g_reap_list[0])) panic("tasks: reap list full");
        g_reap_list[g_reap_count++] = previous;  // still on its stack until the iretq below
    }
    g_current = next;
    arch::load_address_space(entry(next->slot).pml4_phys);
    return entry(next->slot).saved_rsp;
}

uint64_t on_tick(arch::TrapFrame* frame) {
    IrqLockGuard guard(g_lock);
    reap_locked();
    return switch_locked(frame, g_scheduler.on_tick());
}

uint64_t on_scheduler_trap(arch::TrapFrame* frame, void*) {
    IrqLockGuard guard(g_lock);
    reap_locked();
    sched::Task* next = nullptr;
    const uint64_t operation = arch::scheduler_trap_operation(frame);
    const uint64_t argument = arch::scheduler_trap_argument(frame);
    switch (operation) {
    case kYield: next = g_scheduler.yield(); break;
    case kSleep: next = g_scheduler.sleep_current(argument); break;
    case kBlock: next = g_scheduler.block_current(*reinterpret_cast<sched::WaitQueue*>(argument)); break;
    case kExit: next = g_scheduler.exit_current(); break;
    default: panic("tasks: unknown scheduler operation %llu", static_cast<unsigned long long>(operation));
    }
    return switch_locked(frame, next);
}

void idle_loop(uint64_t) {
    // The seed's park: nothing to run, so wait for the next interrupt with interrupts on.
    for (;;) asm volatile("sti; hlt" ::: "memory");
}

KernelTask* create_locked(const char* name, void (*entry_point)(uint64_t), uint64_t parameter, TaskError& error) {
    auto* task = static_cast<KernelTask*>(kmalloc(sizeof(KernelTask)));
    if (!task) {
        error = TaskError::OutOfMemory;
        return nullptr;
    }
    *task = {};
    auto slot = allocate_slot_locked();
    if (!slot) {
        kfree(task);
        error = slot.error();
        return nullptr;
    }
    auto stack = allocate_kernel_stack(kTaskStackPages);
    if (!stack) {
        free_slot_locked(slot.value());
        kfree(task);
        error = TaskError::OutOfMemory;
        return nullptr;
    }
    static uint64_t next_id = 1;
    task->slot = slot.value();
    task->stack = stack.value();
    task->sched.id = next_id++;
    kstd::format_to_buffer(task->name, sizeof(task->name), "%s", name);
    task->sched.name = task->name;
    entry(task->slot) = {kernel_address_space().root().address(),
                         arch::build_kernel_task_frame(task->stack.top, entry_point, parameter)};
    ++g_live;
    return task;
}

void on_input() {
    // IRQ context, interrupts already off: the lock only guards against other CPUs.
    IrqLockGuard guard(g_lock);
    g_scheduler.wake_all(g_input_waiters);
}

}  // namespace

void init() {
    IrqLockGuard guard(g_lock);
    auto slot = allocate_slot_locked();
    if (!slot) panic("tasks: no memory for the task list");
    g_boot_task.slot = slot.value();
    g_boot_task.sched.id = 0;
    kstd::format_to_buffer(g_boot_task.name, sizeof(g_boot_task.name), "main");
    g_boot_task.sched.name = g_boot_task.name;
    entry(g_boot_task.slot) = {kernel_address_space().root().address(), 0};
    ++g_live;
    TaskError error;
    KernelTask* idle = create_locked("idle", idle_loop, 0, error);
    if (!idle) panic("tasks: cannot create the idle task");
    g_current = &g_boot_task;
    g_scheduler.init(0, &idle->sched, &g_boot_task.sched);
    arch::set_interrupt_handler(0x80, on_scheduler_trap, nullptr);
    interrupts::set_tick_hook(on_tick);
    interrupts::set_input_hook(on_input);
    klog("tasks: task list of 16-byte entries (PML4, RSP) in %u-entry chunks; idle task %llu; main is task 0",
         kEntriesPerChunk, static_cast<unsigned long long>(idle->sched.id));
}

kstd::Result<KernelTask*, TaskError> spawn(const char* name, void (*entry_point)(uint64_t), uint64_t parameter) {
    IrqLockGuard guard(g_lock);
    TaskError error;
    KernelTask* task = create_locked(name, entry_point, parameter, error);
    if (!task) return kstd::fail(error);
    g_scheduler.make_ready(&task->sched);
    return task;
}

KernelTask* current() { return g_current; }

void yield() { arch::scheduler_trap(kYield, 0); }

void sleep_ms(uint64_t milliseconds) {
    // Wake at the first tick at or after now + milliseconds. Counting from the last tick (part
    // of the current tick period is already over) makes the sleep at least `milliseconds` and
    // less than one tick longer, instead of a whole tick of slack.
    const uint64_t tick_ns = 1000000000ull / interrupts::tick_hz();
    const uint64_t since_tick_ns = clock::ns_since_boot() - interrupts::last_tick_ns();
    const uint64_t ticks = (milliseconds * 1000000 + since_tick_ns + tick_ns - 1) / tick_ns;
    arch::scheduler_trap(kSleep, ticks ? ticks : 1);
}

void block_on(sched::WaitQueue& queue) { arch::scheduler_trap(kBlock, reinterpret_cast<uint64_t>(&queue)); }

bool wake_one(sched::WaitQueue& queue) {
    IrqLockGuard guard(g_lock);
    return g_scheduler.wake_one(queue) != nullptr;
}

uint64_t wake_all(sched::WaitQueue& queue) {
    IrqLockGuard guard(g_lock);
    return g_scheduler.wake_all(queue);
}

void exit() {
    arch::scheduler_trap(kExit, 0);
    panic("tasks: a dead task was scheduled again");
}

uint64_t live_count() {
    IrqLockGuard guard(g_lock);
    return g_live;
}

uint64_t task_list_slots() {
    IrqLockGuard guard(g_lock);
    return g_next_unused_slot;
}

uint64_t switch_count() { return __atomic_load_n(&g_switches, __ATOMIC_RELAXED); }

size_t read_line(char* buffer, size_t capacity) {
    size_t length = 0;
    for (;;) {
        char c;
        // Check and block with interrupts off, so an IRQ cannot slip in between and be missed.
        const bool were_enabled = arch::save_and_disable_interrupts();
        const bool got = interrupts::read_input(c);
        if (!got) {
            block_on(g_input_waiters);  // the trap saves IF=0; the switch back restores it
            arch::restore_interrupts(were_enabled);
            continue;
        }
        arch::restore_interrupts(were_enabled);
        if (c == '\n') break;
        if (length + 1 < capacity) buffer[length++] = c;
    }
    if (capacity) buffer[length] = '\0';
    return length;
}

}  // namespace kernel::tasks

extern "C" [[noreturn]] void kernel_task_exit() { kernel::tasks::exit(); }

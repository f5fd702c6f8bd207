// Kernel tasks and the switch path (seed 000's model). The task list holds one 16-byte entry
// per task — its PML4 and its saved ring-0 RSP — in chunks that are added as tasks are created,
// so it grows without ever moving an entry. A switch happens only inside an interrupt (the timer,
// or vector 0x80 for yield/sleep/block/exit): save RSP in the current entry, let the portable
// scheduler pick, load the next entry's CR3 and RSP, pop its registers, iretq.
#pragma once

#include <stdint.h>

#include "kernel/kernel_stacks.hpp"
#include "lib/result.hpp"
#include "sched/scheduler.hpp"

namespace kernel::tasks {

struct TaskEntry {
    uint64_t pml4_phys;  // CR3 to load when switching to the task
    uint64_t saved_rsp;  // ring-0 RSP pointing at its saved frame (valid while not running)
};
static_assert(sizeof(TaskEntry) == 16, "the seed's task-list entry is 16 bytes");

struct KernelTask {
    sched::Task sched;  // the scheduler's view (state, queue links, accounting)
    uint32_t slot;      // index of this task's TaskEntry in the task list
    KernelStack stack;  // empty for the boot task, which runs on the boot stack
    char name[24];
};

enum class TaskError { OutOfMemory, TooManyTasks };

// Turns the running boot code into task "main", creates this CPU's idle task and hooks the
// scheduler into the timer tick and vector 0x80.
void init();

kstd::Result<KernelTask*, TaskError> spawn(const char* name, void (*entry)(uint64_t), uint64_t parameter);
KernelTask* current();

void yield();
void sleep_ms(uint64_t milliseconds);
void block_on(sched::WaitQueue& queue);
// Wake waiters; safe from interrupt handlers.
bool wake_one(sched::WaitQueue& queue);
uint64_t wake_all(sched::WaitQueue& queue);
[[noreturn]] void exit();

uint64_t live_count();        // tasks not yet reaped, idle and main included
uint64_t task_list_slots();   // entries the task list has grown to
uint64_t switch_count();      // context switches on this CPU

// Blocking console input: waits (on a wait queue, woken by the COM1/keyboard IRQ) for a line.
size_t read_line(char* buffer, size_t capacity);

}  // namespace kernel::tasks

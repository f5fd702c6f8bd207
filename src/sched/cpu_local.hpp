// Per-CPU data, reached through the GS base: each CPU's GS points at its own CpuLocal, whose
// first field points at itself, so `mov %gs:0` yields it without knowing the CPU's index.
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "arch/arch.hpp"  // <arch/percpu_offsets.h> through the contract
#include "mm/kernel_stacks.hpp"
#include "lib/cpu_mask.hpp"

namespace kernel {

namespace tasks {
struct CpuTasks;
}

using kstd::kMaxCpus;  // lib/cpu_mask.hpp: the one limit on CPU indices

struct CpuLocal {
    CpuLocal* self;          // must stay first: read via %gs:0
    // Read and written by the entry assembly through %gs (arch/percpu_offsets.h).
    uint64_t user_entry_stack_top;   // ring-0 stack of the user task running here
    uint64_t user_rsp_scratch;       // syscall entry's place for the user RSP
    uint64_t* tss_rsp0;              // this CPU's TSS.RSP0, written beside user_entry_stack_top
    void* current_task;      // the task running here (tasks::KernelTask*), read by tasks::current()
    tasks::CpuTasks* tasks;  // this CPU's scheduler and run state (sched/tasks.cpp)
    unsigned index;          // 0 = the boot CPU; dense, in the firmware table's order
    uint32_t apic_id;
    volatile bool online;    // set by the CPU itself once it runs kernel code
    uint64_t ticks;          // timer ticks taken on this CPU
    uint64_t last_tick_ns;   // clock::ns_since_boot() at the latest of them
    // `ticks` when this CPU last scheduled: its task entered the scheduler (block, sleep, yield,
    // exit), or a tick found it in user mode or idle or switched tasks. The watchdog's sign that
    // the CPU is not stuck in the kernel (docs/watchdog.md); written only by this CPU.
    uint64_t scheduled_at_tick;
    KernelStack boot_stack;  // APs: the stack ap_main starts on
    uint64_t interrupt_stack_tops[3];
};

static_assert(offsetof(CpuLocal, self) == PERCPU_SELF);
static_assert(offsetof(CpuLocal, user_entry_stack_top) == PERCPU_ENTRY_RSP);
static_assert(offsetof(CpuLocal, user_rsp_scratch) == PERCPU_USER_RSP);
static_assert(offsetof(CpuLocal, tss_rsp0) == PERCPU_TSS_RSP0);
static_assert(offsetof(CpuLocal, current_task) == PERCPU_CURRENT_TASK);
static_assert(offsetof(CpuLocal, index) == PERCPU_CPU_INDEX && sizeof(CpuLocal::index) == 4);

extern CpuLocal g_cpu_locals[kMaxCpus];
extern unsigned g_cpu_count;  // CPUs that have a CpuLocal (found, enabled)

void install_cpu_local(CpuLocal& cpu);  // loads IA32_GS_BASE on this CPU
CpuLocal& this_cpu();

// Interrupts off (on this CPU's scheduler paths): records that it scheduled, at its latest tick.
inline void note_scheduled(CpuLocal& cpu) {
    __atomic_store_n(&cpu.scheduled_at_tick, __atomic_load_n(&cpu.ticks, __ATOMIC_RELAXED), __ATOMIC_RELAXED);
}

}  // namespace kernel

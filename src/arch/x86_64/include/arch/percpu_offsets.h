/*
 * Offsets into the per-CPU block the GS base points at (src/sched/cpu_local.hpp, which
 * static_asserts them) that the entry assembly reads with %gs: prefixes. Shared by C++ and .S.
 */
#ifndef SABLE_ARCH_PERCPU_OFFSETS_H
#define SABLE_ARCH_PERCPU_OFFSETS_H

#define PERCPU_SELF 0             /* the block's own address */
#define PERCPU_ENTRY_RSP 8        /* top of the running user task's ring-0 stack (syscall entry) */
#define PERCPU_USER_RSP 16        /* scratch: the user RSP while syscall_entry switches stacks */
#define PERCPU_TSS_RSP0 24        /* the address of this CPU's TSS.RSP0 (set_user_entry_stack) */
#define PERCPU_CURRENT_TASK 32    /* the task running on this CPU (read in one instruction) */
#define PERCPU_CPU_INDEX 48       /* 32 bits: this CPU's dense index (mm's per-CPU frame cache) */

/* Reached from PERCPU_CURRENT_TASK by the system-call exit's kill test (user_entry.S); the
   static_asserts are in proc/syscalls.cpp, which sees both structures. */
#define TASK_PROCESS 176          /* tasks::KernelTask::process */
#define PROCESS_KILL_WORDS 524    /* process::Process::kill_reason, `ending` the next 4 bytes */

#endif

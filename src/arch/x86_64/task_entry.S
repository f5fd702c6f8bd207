/*
 * task_entry.S — the task switch, and where a new kernel task starts.
 *
 * Implements: extern "C" void arch_switch_context(uint64_t* saved_rsp, uint64_t next_rsp,
 *                                                 uint32_t* previous_on_cpu);
 *             (arch::switch_context, task_frame.cpp; docs/tasks.md draws it), and the RIP of
 *             every new kernel task's initial frame.
 * Must match:  arch::SwitchFrame (include/arch/trap_frame.hpp, static_asserts on its offsets):
 *              the six pushes below, lowest first R15, then the return address; task_frame.cpp,
 *              which builds a SwitchFrame that returns into isr_return_to_frame for a new task
 *              and leaves the entry function's address at a new kernel task's stack top; the
 *              seed's convention that RDX carries the task's parameter.
 * Calls:       extern "C" [[noreturn]] void kernel_task_exit();
 *
 * Every task that is not running is suspended the same way: its saved RSP points at a
 * SwitchFrame, and resuming it is popping that and `ret`. A task that gave up the CPU itself
 * (yield, block, sleep, exit, migrate) returns into the switch_context call it made; a task the
 * timer or the wake-up IPI preempted returns into that handler's switch_context call, then
 * unwinds to isr_common, which pops its TrapFrame and `iretq`s; a new task returns into
 * isr_return_to_frame with its initial TrapFrame. So either kind of task resumes from either
 * path: the switch never needs to know how the task it resumes was stopped.
 */
    .section .text
    .balign 16
    .global arch_switch_context
arch_switch_context:
    /* The SysV callee-saved registers: everything else the caller already treats as clobbered.
       Interrupts are off (the caller's), so the flags need no saving: every task resumed here
       goes on with interrupts off and restores its own state itself. */
    push %rbp
    push %rbx
    push %r12
    push %r13
    push %r14
    push %r15
    mov %rsp, (%rdi)
    mov %rsi, %rsp
    /* Off the previous task's stack: from here another CPU may resume it (sched/tasks.cpp,
       on_cpu). x86 stores are release-ordered: the saved RSP above is visible before this. */
    movl $0, (%rdx)
    pop %r15
    pop %r14
    pop %r13
    pop %r12
    pop %rbx
    pop %rbp
    ret

    .global kernel_task_trampoline
kernel_task_trampoline:
    pop %rax                    /* entry function, placed above the frame by task_frame.cpp */
    mov %rdx, %rdi              /* seed: RDX = parameter; SysV: first argument in RDI */
    and $-16, %rsp              /* the ABI wants RSP 16-aligned at the call */
    xor %ebp, %ebp              /* a clean RBP for the entry function (backtraces end here: the
                                   unwind table has no row for this code) */
    call *%rax
    call kernel_task_exit       /* returning from the entry function ends the task */
    ud2

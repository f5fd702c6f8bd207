/*
 * task_entry.S — where a new kernel task starts.
 *
 * Implements: the RIP of every new kernel task's initial frame (task_frame.cpp builds it).
 * Must match:  task_frame.cpp, which leaves the entry function's address at the new task's
 *              stack top, and the seed's convention that RDX carries the task's parameter.
 * Calls:       extern "C" [[noreturn]] void kernel_task_exit();
 */
    .section .text
    .global kernel_task_trampoline
kernel_task_trampoline:
    pop %rax                    /* entry function, placed above the frame by task_frame.cpp */
    mov %rdx, %rdi              /* seed: RDX = parameter; SysV: first argument in RDI */
    and $-16, %rsp              /* the ABI wants RSP 16-aligned at the call */
    xor %ebp, %ebp              /* ends backtraces here */
    call *%rax
    call kernel_task_exit       /* returning from the entry function ends the task */
    ud2

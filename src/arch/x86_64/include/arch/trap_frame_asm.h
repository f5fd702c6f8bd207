/*
 * The general registers of arch::TrapFrame below RDI/RAX, pushed and popped in one place for
 * both entry paths (isr_stubs.S for interrupts, user_entry.S for `syscall`), so the two frames
 * cannot drift apart. Order: trap_frame.hpp (static_asserts on every offset).
 */
#ifndef SABLE_ARCH_TRAP_FRAME_ASM_H
#define SABLE_ARCH_TRAP_FRAME_ASM_H

.macro PUSH_FRAME_REGISTERS           /* after RAX and RDI: RBX ... R15, R15 lowest */
    push %rbx
    push %rcx
    push %rdx
    push %rsi
    push %rbp
    push %r8
    push %r9
    push %r10
    push %r11
    push %r12
    push %r13
    push %r14
    push %r15
.endm

.macro POP_FRAME_REGISTERS            /* R15 ... RBX, then RDI and RAX */
    pop %r15
    pop %r14
    pop %r13
    pop %r12
    pop %r11
    pop %r10
    pop %r9
    pop %r8
    pop %rbp
    pop %rsi
    pop %rdx
    pop %rcx
    pop %rbx
    pop %rdi
    pop %rax
.endm

#endif

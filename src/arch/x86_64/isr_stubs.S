/*
 * isr_stubs.S — the 256 interrupt/exception entry stubs and their common path.
 *
 * Calls:      extern "C" void trap_dispatch(arch::TrapFrame* frame, uint64_t vector,
 *                                           uint64_t error_code);
 *             and, for the NMI, extern "C" void nmi_dispatch(arch::TrapFrame* frame).
 *             A handler that switches tasks does so inside trap_dispatch (task_entry.S): the
 *             interrupted task comes back here only once it is switched back to.
 * Must match: arch::TrapFrame (include/arch/trap_frame.hpp, static_asserts on every offset) and
 *             descriptors.cpp, which finds stub N at isr_stubs_begin + 16 * N.
 *
 * Each stub leaves RAX saved at offset 112 and RDI at 104 — exactly where the seed's table puts
 * them — with the vector in EDI and the error code in RAX. For vectors where the CPU pushed an
 * error code, `xchg` swaps it with RAX so RAX lands in the error code's slot and the frame has the
 * same shape for every vector.
 *
 * User mode: in the kernel the GS base always points at this CPU's per-CPU block; in ring 3 it
 * is the user's and the kernel's waits in IA32_KERNEL_GS_BASE. So an entry from ring 3 (the
 * interrupted CS has RPL 3) starts with `swapgs`, and a return to ring 3 ends with one. Only the
 * CS saved in the frame tells which, which is why both checks read it.
 *
 * NMIs take their own path, nmi_common: an NMI can land on any instruction, also between
 * `syscall` and syscall_entry's `swapgs` or between the `swapgs` and `sysretq` on the way out,
 * where CS is the kernel's but the GS base still (or already) ring 3's. There the GS base itself
 * decides: the kernel's is never 0 (it is the CPU's block) and ring 3's always is (user_mode.cpp
 * sets IA32_KERNEL_GS_BASE to 0 and ring 3 has no way to change it).
 */

#include <arch/trap_frame_asm.h>
#include <arch/x86_defs.h>

    .section .text
    .balign 16
    .global isr_stubs_begin
isr_stubs_begin:
    .set vector, 0
    .rept 256
    /* Stub N starts exactly at begin + 16 * N; `.org` refuses to move backwards, so a stub
       longer than 16 bytes fails the build. */
    .org isr_stubs_begin + vector * 16, 0xcc
    /* [Intel SDM vol3 §6.15] vectors that push an error code: 8, 10-14, 17, 21, 29, 30. */
    .if (vector == 8) || ((vector >= 10) && (vector <= 14)) || (vector == 17) || (vector == 21) || (vector == 29) || (vector == 30)
    xchg %rax, (%rsp)
    .else
    push %rax
    xor %eax, %eax
    .endif
    push %rdi
    mov $vector, %edi
    .if vector == X86_VECTOR_NMI
    jmp nmi_common
    .else
    jmp isr_common
    .endif
    .set vector, vector + 1
    .endr
    .org isr_stubs_begin + 256 * 16, 0xcc

isr_common:
    /* Here: 0(%rsp) = RDI, 8 = RAX/error code, 16 = RIP, 24 = CS pushed by the CPU. */
    testb $3, 24(%rsp)
    jz 1f
    swapgs
1:
    PUSH_FRAME_REGISTERS
    mov %edi, %esi                      /* vector */
    mov %rax, %rdx                      /* error code */
    mov %rsp, %rdi                      /* frame; 5 CPU + 15 pushed qwords keep RSP 16-aligned */
    cld                                 /* the ABI expects DF clear; the interrupted code may not */
    call trap_dispatch
    .global isr_return_to_frame
isr_return_to_frame:                    /* also where a brand-new task's SwitchFrame returns to */
    testb $3, TRAP_FRAME_CS(%rsp)       /* returning to ring 3? */
    jz 2f
    mov %rsp, %rdi
    call return_to_user_hook            /* kernel: a pending kill ends the task here */
2:
    POP_FRAME_REGISTERS
    testb $3, TRAP_FRAME_CS - TRAP_FRAME_RIP(%rsp)   /* CS of the frame iretq pops */
    jz 3f
    swapgs
3:  iretq

/* The NMI path (see the top of the file). It runs on the NMI's IST stack, calls nmi_dispatch
   (trap.cpp), never switches tasks and resumes the frame it interrupted. RBX (callee-saved, so
   it survives the call) remembers whether the entry swapped GS, so the exit swaps back. */
nmi_common:
    PUSH_FRAME_REGISTERS
    mov $X86_MSR_GS_BASE, %ecx
    rdmsr                               /* EDX:EAX = this CPU's GS base; both saved in the frame */
    xor %ebx, %ebx
    or %eax, %edx
    jnz 1f
    swapgs
    mov $1, %ebx
1:
    mov %rsp, %rdi                      /* frame */
    cld
    call nmi_dispatch
    test %ebx, %ebx
    jz 2f
    swapgs
2:
    POP_FRAME_REGISTERS
    iretq

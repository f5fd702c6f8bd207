/*
 * user_entry.S — the system-call entry (`syscall`/`sysret`) and the fault-tolerant user copy.
 *
 * Implements: syscall_entry (IA32_LSTAR points here; user_mode.cpp sets the MSRs per CPU)
 *             extern "C" uint64_t arch_user_copy(void* dst, const void* src, size_t n);
 *                 returns 0, or 1 if a page fault could not be resolved (trap.cpp moves the
 *                 faulting RIP from user_copy_fault_begin..end to user_copy_fault_fixup).
 *             arch_smap_enabled (protections.cpp): whether stac/clac exist and are needed.
 * Calls:      extern "C" int64_t syscall_dispatch(uint64_t a0, uint64_t a1, uint64_t a2,
 *                                               uint64_t a3, uint64_t number)   (proc/syscalls.cpp)
 * Must match: arch::TrapFrame (the same frame isr_stubs.S builds, so fork's child and the rare
 *             iretq return resume from it like from an interrupt), the GDT order fixed by
 *             SYSRET (descriptors.hpp) and percpu_offsets.h.
 */
#include <arch/percpu_offsets.h>
#include <arch/trap_frame_asm.h>

#include <arch/x86_defs.h>

    .section .text
    .balign 16
    .global syscall_entry
syscall_entry:
    /* [SDM vol2 SYSCALL] the CPU saved RIP in RCX and RFLAGS in R11, loaded the kernel CS/SS and
       masked RFLAGS with IA32_FMASK (IF, DF, TF, AC off) — but left RSP and the GS base as the
       user had them. Interrupts are off until the frame is on the kernel stack. */
    swapgs
    mov %rsp, %gs:PERCPU_USER_RSP
    mov %gs:PERCPU_ENTRY_RSP, %rsp
    /* The same five words an interrupt from ring 3 pushes, then the registers in isr_common's
       order: the frame is a whole arch::TrapFrame (fork copies it for the child). */
    pushq $X86_SELECTOR_USER_DATA
    pushq %gs:PERCPU_USER_RSP
    push %r11                           /* user RFLAGS */
    pushq $X86_SELECTOR_USER_CODE
    push %rcx                           /* user RIP */
    push %rax                           /* call number */
    push %rdi
    PUSH_FRAME_REGISTERS
    xor %ebp, %ebp                      /* backtraces stop at the user boundary */
    mov %r10, %rcx                      /* argument 3: R10 in the system-call convention */
    mov %rax, %r8                       /* the call number after the four arguments */
    sti                                 /* a system call is preemptible like any kernel code */
    call syscall_dispatch
    cli
    /* The way back restores only what the C code may have changed and the ABI preserves: the
       argument registers, and RBP, which the entry cleared. RBX and R12-R15 are callee-saved,
       so the C code gave them back as the user left them; RCX and R11 are the ABI's to clobber
       (SYSRET loads them); RAX is the result. SYSRET to a non-canonical RIP would fault in ring 0 with the user's RSP
       [SDM vol2 SYSRET]: that frame (a `syscall` in the last bytes of the lower half) takes
       the iretq path, which handles any frame. The RIP here is the CPU's, the address after
       the `syscall` instruction, below 2^47 + 16: bit 47 set is the one non-canonical case. */
    mov TRAP_FRAME_RIP(%rsp), %rcx
    bt $47, %rcx
    jc 1f
    mov TRAP_FRAME_RFLAGS(%rsp), %r11
    mov TRAP_FRAME_RDI(%rsp), %rdi
    mov TRAP_FRAME_RSI(%rsp), %rsi
    mov TRAP_FRAME_RDX(%rsp), %rdx
    mov TRAP_FRAME_R10(%rsp), %r10
    mov TRAP_FRAME_R8(%rsp), %r8
    mov TRAP_FRAME_R9(%rsp), %r9
    mov TRAP_FRAME_RBP(%rsp), %rbp
    mov TRAP_FRAME_RSP(%rsp), %rsp      /* the user stack; nothing below reads the kernel one */
    swapgs
    sysretq
1:  mov %rax, TRAP_FRAME_RAX(%rsp)      /* the result, for the pops */
    jmp isr_return_to_frame

/* Copies n bytes between kernel and user memory. A fault on a user page first goes to the
   kernel's fault handler (a stack page may need committing, then the `rep movs` resumes where it
   stopped: RSI, RDI and RCX say how far it got); an unresolvable one resumes at the fixup.
   Under SMAP this is the one place the kernel may touch user pages: AC is set for the copy
   alone (trap_dispatch clears it for whatever interrupts the copy; iretq brings it back).
   `stac`/`clac` are invalid opcodes without SMAP, hence the flag (protections.cpp). */
.macro USER_ACCESS insn
    cmpb $0, arch_smap_enabled(%rip)
    je 1f
    \insn
1:
.endm
    .balign 16
    .global arch_user_copy
    .global user_copy_fault_begin
    .global user_copy_fault_end
    .global user_copy_fault_fixup
arch_user_copy:
    mov %rdx, %rcx
    shr $3, %rcx                        /* whole quadwords, then the 0-7 bytes left */
    and $7, %edx
    USER_ACCESS stac
user_copy_fault_begin:
    rep movsq
    mov %rdx, %rcx
    rep movsb
user_copy_fault_end:
    USER_ACCESS clac
    xor %eax, %eax
    ret
user_copy_fault_fixup:
    USER_ACCESS clac
    mov $1, %eax
    ret

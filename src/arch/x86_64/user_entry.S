/*
 * user_entry.S — the system-call entry (`syscall`/`sysret`) and the fault-tolerant user copy.
 *
 * Implements: syscall_entry (IA32_LSTAR points here; user_mode.cpp sets the MSRs per CPU)
 *             extern "C" int64_t syscall_fork_whole_frame(a0, a1, a2, a3): the table entry for
 *                 fork, which completes the frame before the C handler copies it (arch.hpp).
 *             extern "C" uint64_t arch_user_copy(void* dst, const void* src, size_t n);
 *                 returns 0, or 1 if a page fault could not be resolved (trap.cpp moves the
 *                 faulting RIP from user_copy_fault_begin..end to user_copy_fault_fixup).
 *             arch_smap_enabled (protections.cpp): whether stac/clac exist and are needed.
 * Calls:      syscall_table[number](a0, a1, a2, a3) for number < syscall_count, else
 *             syscall_table[syscall_count] (-ENOSYS); syscall_fork (proc/syscalls.cpp);
 *             isr_return_to_frame (isr_stubs.S) for the rare exit through iretq.
 * Must match: arch::TrapFrame (the offsets in x86_defs.h: the frame is the one isr_stubs.S
 *             builds, so fork's child and the iretq exit resume from it like from an
 *             interrupt), the GDT order fixed by SYSRET (descriptors.hpp), percpu_offsets.h
 *             (the per-CPU words, and the current task's process and kill words).
 *
 * The frame the entry builds is a whole TrapFrame's space but not all of its contents: RAX,
 * RBX, RBP, RCX, R11 and R12-R15 are left unwritten (docs/syscalls.md draws it). The callee-saved
 * ones need no saving for C code, which gives them back as it found them, and RCX and R11 are
 * the ABI's to clobber. Whatever reads the whole frame completes it first, while the registers
 * still hold the user's values: the iretq exit (after the C code returned) and fork (before any
 * C code ran), both with COMPLETE_FRAME. A new reader of those slots must do the same.
 */
#include <arch/percpu_offsets.h>
#include <arch/trap_frame_asm.h>

#include <arch/x86_defs.h>

/* The slots syscall_entry leaves open, for a frame at \offset(%rsp): RBX, RBP and R12-R15 from the
   registers (valid only where no C code of the call has run, or after it has returned), RCX and
   R11 as SYSRET leaves them (the return RIP and RFLAGS: nothing of the kernel's reaches ring 3).
   Clobbers R11 only, so a handler's arguments survive it. */
.macro COMPLETE_FRAME offset
    mov %rbx, TRAP_FRAME_RBX+\offset(%rsp)
    mov %rbp, TRAP_FRAME_RBP+\offset(%rsp)
    mov %r12, TRAP_FRAME_R12+\offset(%rsp)
    mov %r13, TRAP_FRAME_R13+\offset(%rsp)
    mov %r14, TRAP_FRAME_R14+\offset(%rsp)
    mov %r15, TRAP_FRAME_R15+\offset(%rsp)
    mov TRAP_FRAME_RIP+\offset(%rsp), %r11
    mov %r11, TRAP_FRAME_RCX+\offset(%rsp)
    mov TRAP_FRAME_RFLAGS+\offset(%rsp), %r11
    mov %r11, TRAP_FRAME_R11+\offset(%rsp)
.endm

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
    /* The same five words an interrupt from ring 3 pushes: always whole, so frame_is_user, the
       RIP of a kill report and the RSP are right whatever reads them. */
    pushq $X86_SELECTOR_USER_DATA
    pushq %gs:PERCPU_USER_RSP
    push %r11                           /* user RFLAGS */
    pushq $X86_SELECTOR_USER_CODE
    push %rcx                           /* user RIP */
    /* RAX ... R15 in isr_common's layout; written: what the exit restores (the six argument
       registers, which the ABI preserves and C may clobber). RBP is the user's throughout, like
       the other callee-saved registers: the kernel has no frame pointers (its backtraces walk
       the unwind table, which has no row for this code, so they stop here). */
    sub $TRAP_FRAME_RIP, %rsp
    mov %rdi, TRAP_FRAME_RDI(%rsp)
    mov %rsi, TRAP_FRAME_RSI(%rsp)
    mov %rdx, TRAP_FRAME_RDX(%rsp)
    mov %r10, TRAP_FRAME_R10(%rsp)
    mov %r8, TRAP_FRAME_R8(%rsp)
    mov %r9, TRAP_FRAME_R9(%rsp)
    mov %r10, %rcx                      /* argument 3: R10 in the system-call convention */
    sti                                 /* a system call is preemptible like any kernel code */
    cmp syscall_count(%rip), %rax       /* unsigned: a negative number is out of range too */
    jae 8f
    /* Named for debuggers: the first place every call passes with the frame built and the
       kernel's GS (test/debug/gdb_session.gdb stops here). */
    .global syscall_entry_call
syscall_entry_call:
    call *syscall_table(, %rax, 8)      /* the frame is 16-byte aligned, as the call wants */
    cli
    /* A kill that arrived during the call, or a process ending: both words (adjacent) only ever
       change from 0 to set, and with interrupts off nothing here is preempted, so one test
       decides; the iretq exit's return_to_user_hook then ends the task. */
    mov %gs:PERCPU_CURRENT_TASK, %rcx
    mov TASK_PROCESS(%rcx), %rcx
    cmpq $0, PROCESS_KILL_WORDS(%rcx)
    jne 9f
    /* SYSRET restores only what the C code may have changed and the ABI preserves: the argument
       registers. RBX, RBP and R12-R15 are callee-saved, so the C code gave them back as the
       user left them; RCX and R11 are the ABI's to clobber (SYSRET
       loads them); RAX is the result. SYSRET to a non-canonical RIP would fault in ring 0 with
       the user's RSP [SDM vol2 SYSRET]: that frame (a `syscall` in the last bytes of the lower
       half, which mmap can place there) takes the iretq path. The RIP here is the CPU's, the
       address after the `syscall` instruction, below 2^47 + 16: bit 47 set is the one
       non-canonical case. */
    mov TRAP_FRAME_RIP(%rsp), %rcx
    bt $47, %rcx
    jc 9f
    mov TRAP_FRAME_RFLAGS(%rsp), %r11
    mov TRAP_FRAME_RDI(%rsp), %rdi
    mov TRAP_FRAME_RSI(%rsp), %rsi
    mov TRAP_FRAME_RDX(%rsp), %rdx
    mov TRAP_FRAME_R10(%rsp), %r10
    mov TRAP_FRAME_R8(%rsp), %r8
    mov TRAP_FRAME_R9(%rsp), %r9
    mov TRAP_FRAME_RSP(%rsp), %rsp      /* the user stack; nothing below reads the kernel one */
    swapgs
    sysretq
8:  mov syscall_count(%rip), %rax       /* the table's last entry answers -ENOSYS */
    jmp syscall_entry_call
    /* The iretq exit pops every register: the result, and the open slots from the registers,
       which hold the user's values again now that the C code has returned. */
9:  mov %rax, TRAP_FRAME_RAX(%rsp)
    COMPLETE_FRAME 0
    jmp isr_return_to_frame

/* fork's entry in syscall_table, called by the `call` above with the frame right over the
   return address: the child gets a copy of the frame, so it must be whole before C code runs
   and changes the callee-saved registers (the child's RAX is fork's to set). */
    .balign 16
    .global syscall_fork_whole_frame
syscall_fork_whole_frame:
    COMPLETE_FRAME 8
    jmp syscall_fork

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

/*
 * x86-64 numbers that C++ and assembly both use, defined once: control-register and EFER bits,
 * MSRs, RFLAGS, page-table entry bits, GDT descriptors and selectors, the interrupt vector map
 * and the legacy COM1 port. The C++ headers (cpu.hpp, descriptors.hpp, pte.hpp, impl.hpp) name
 * them as typed constants; entry.S, ap_trampoline.S and user_entry.S use them directly.
 * [Intel SDM vol3: §2.5 control registers, §4.5 paging entries, §3.4.5 descriptors, §6.2 vectors]
 */
#ifndef SABLE_ARCH_X86_DEFS_H
#define SABLE_ARCH_X86_DEFS_H

/* Control registers. */
#define X86_CR0_PE 0x00000001          /* protected mode */
#define X86_CR0_MP 0x00000002          /* monitor coprocessor: WAIT obeys TS */
#define X86_CR0_EM 0x00000004          /* x87 instructions raise #NM */
#define X86_CR0_TS 0x00000008          /* task switched: x87/SSE/AVX instructions raise #NM */
#define X86_CR0_NE 0x00000020          /* x87 errors raise #MF (not the legacy FERR# line) */
#define X86_CR0_WP 0x00010000          /* supervisor writes honour read-only pages */
#define X86_CR0_PG 0x80000000          /* paging */
#define X86_CR4_TSD 0x00000004         /* rdtsc only in ring 0 (Sable leaves it clear: docs/security.md) */
#define X86_CR4_PAE 0x00000020
#define X86_CR4_OSFXSR 0x00000200      /* FXSAVE/FXRSTOR and SSE instructions enabled */
#define X86_CR4_OSXMMEXCPT 0x00000400  /* unmasked SIMD floating-point errors raise #XM */
#define X86_CR4_UMIP 0x00000800        /* sgdt, sidt, sldt, smsw, str raise #GP in ring 3 */
#define X86_CR4_OSXSAVE 0x00040000     /* XSAVE family and XCR0 enabled */
#define X86_CR4_SMEP 0x00100000        /* no kernel execution of user pages */
#define X86_CR4_SMAP 0x00200000        /* no kernel data access to user pages unless RFLAGS.AC */

/* XCR0: the state components XSAVE manages [SDM vol1 §13.1]. */
#define X86_XCR0_X87 0x1
#define X86_XCR0_SSE 0x2
#define X86_XCR0_AVX 0x4 /* upper halves of ymm0-15 */

/* MSRs and EFER bits. */
#define X86_MSR_EFER 0xC0000080
#define X86_MSR_STAR 0xC0000081
#define X86_MSR_LSTAR 0xC0000082
#define X86_MSR_FMASK 0xC0000084
#define X86_MSR_GS_BASE 0xC0000101
#define X86_MSR_KERNEL_GS_BASE 0xC0000102
#define X86_EFER_SCE 0x001             /* syscall/sysret */
#define X86_EFER_LME 0x100             /* long mode enable */
#define X86_EFER_LMA 0x400             /* long mode active (read-only) */
#define X86_EFER_NXE 0x800             /* execute-disable bit in page-table entries */

/* RFLAGS: bit 1 always reads one; a new task starts with interrupts on and ID set (CPUID ok). */
#define X86_RFLAGS_ALWAYS_ONE 0x000002
#define X86_RFLAGS_IF 0x000200
#define X86_RFLAGS_TF 0x000100
#define X86_RFLAGS_DF 0x000400
#define X86_RFLAGS_NT 0x004000
#define X86_RFLAGS_AC 0x040000
#define X86_RFLAGS_ID 0x200000
#define X86_RFLAGS_NEW_TASK (X86_RFLAGS_ID | X86_RFLAGS_IF | X86_RFLAGS_ALWAYS_ONE)

/* Page-table entry bits the boot stub needs (pte.hpp has the full set). */
#define X86_PTE_PRESENT 0x001
#define X86_PTE_WRITABLE 0x002
#define X86_PTE_HUGE 0x080             /* a PD/PDPT entry maps a page directly */

/* GDT descriptors (flat) and the selectors of the kernel's GDT (descriptors.cpp builds it in
   this order; `sysret` needs user data right below user code, STAR encodes that). */
#define X86_DESCRIPTOR_CODE32 0x00CF9A000000FFFF
#define X86_DESCRIPTOR_KERNEL_CODE64 0x00AF9A000000FFFF
#define X86_DESCRIPTOR_KERNEL_DATA 0x00CF92000000FFFF
#define X86_DESCRIPTOR_USER_DATA 0x00CFF2000000FFFF
#define X86_DESCRIPTOR_USER_CODE64 0x00AFFA000000FFFF
#define X86_SELECTOR_KERNEL_CODE 0x08
#define X86_SELECTOR_KERNEL_DATA 0x10
#define X86_SELECTOR_USER_DATA (0x18 | 3)
#define X86_SELECTOR_USER_CODE (0x20 | 3)

/* The interrupt vector map (0..31 are exceptions). */
#define X86_VECTOR_NMI 2               /* non-maskable interrupt: its own entry path (isr_stubs.S) */
#define X86_VECTOR_TIMER 0x20          /* the local APIC timer: the tick */
#define X86_VECTOR_IRQ_BASE 0x30       /* IO APIC pin n -> 0x30 + n */
#define X86_VECTOR_WAKE 0xF0           /* IPI: a task was made ready on a parked CPU */
#define X86_VECTOR_REMOTE_CALL 0xF1    /* IPI: run a function (TLB shootdown) */
#define X86_VECTOR_SPURIOUS 0xFF

/* arch::TrapFrame (trap_frame.hpp, which static_asserts these): byte offsets from the saved RSP
   of the registers the entry assembly reads. */
#define TRAP_FRAME_R15 0
#define TRAP_FRAME_R14 8
#define TRAP_FRAME_R13 16
#define TRAP_FRAME_R12 24
#define TRAP_FRAME_R11 32
#define TRAP_FRAME_R10 40
#define TRAP_FRAME_R9 48
#define TRAP_FRAME_R8 56
#define TRAP_FRAME_RBP 64
#define TRAP_FRAME_RSI 72
#define TRAP_FRAME_RDX 80
#define TRAP_FRAME_RCX 88
#define TRAP_FRAME_RBX 96
#define TRAP_FRAME_RDI 104
#define TRAP_FRAME_RAX 112
#define TRAP_FRAME_RIP 120
#define TRAP_FRAME_CS 128
#define TRAP_FRAME_RFLAGS 136
#define TRAP_FRAME_RSP 144
#define TRAP_FRAME_BYTES 160

/* The PC's first serial port. */
#define X86_COM1_PORT 0x3F8

#endif

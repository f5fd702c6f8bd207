/*
 * entry.S — Multiboot2 header, the 32-bit boot stub and the jump into 64-bit C++.
 *
 * Implements: extern "C" [[noreturn]] void kernel_main(uint32_t magic, uint32_t info_phys);
 * Must match:  linker.ld (.multiboot2 first, .boot_bss outside [__bss_start, __bss_end),
 *              __init_array_start/end) and boot_layout.hpp (the symbols exported below).
 *
 * GRUB enters _start in 32-bit protected mode, paging off, EAX = Multiboot2 magic,
 * EBX = physical address of the boot information [Multiboot2 spec §3.3]. The stub refuses to
 * go on without that magic or without long mode, because either means nothing below can work.
 */

#include <arch/x86_defs.h>

#define MB2_HEADER_MAGIC   0xE85250D6
#define MB2_ARCH_I386      0
#define MB2_BOOT_MAGIC     0x36D76289


#define CPUID_EXT_LM       (1 << 29)    /* CPUID 0x80000001 EDX: long mode */
#define CPUID_EXT_NX       (1 << 20)    /* CPUID 0x80000001 EDX: execute-disable */

#define BOOT_IDENTITY_GIB  4            /* identity map 0..4 GiB with 2 MiB pages */
#define BOOT_STACK_BYTES   (32 * 1024)


/* ------------------------------------------------------------------------------------------ */
/* [Multiboot2 §3.1] the header must sit in the first 32 KiB of the file, 8-byte aligned.      */
    .section .multiboot2, "a"
    .balign 8
mb2_header:
    .long MB2_HEADER_MAGIC
    .long MB2_ARCH_I386
    .long mb2_header_end - mb2_header
    .long 0x100000000 - (MB2_HEADER_MAGIC + MB2_ARCH_I386 + (mb2_header_end - mb2_header))
    /* Framebuffer tag (type 5), optional, no preferred mode: under UEFI there is no text mode,
       and without this tag GRUB hands over no console at all. BIOS runs keep text mode
       because grub.cfg sets gfxpayload=text. */
    .balign 8
    .short 5
    .short 1
    .long 20
    .long 0, 0, 0
    .balign 8
    .short 0                            /* end tag: type 0, flags 0, size 8 */
    .short 0
    .long 8
mb2_header_end:

/* ------------------------------------------------------------------------------------------ */
/* Boot-time memory that must survive the BSS clear in 64-bit code: it is in use by then.     */
    .section .boot_bss, "aw", @nobits
    .balign 4096
    .global boot_pml4, boot_pdpt, boot_pd, boot_pt, boot_stack_guard, boot_stack_top
boot_pml4:        .skip 4096
boot_pdpt:        .skip 4096
boot_pd:          .skip 4096 * BOOT_IDENTITY_GIB
boot_pt:          .skip 4096        /* splits the 2 MiB page that holds the stack guard */
boot_tables_end:
boot_stack_guard: .skip 4096        /* left unmapped: a stack overflow faults here */
boot_stack:       .skip BOOT_STACK_BYTES
boot_stack_top:

/* ------------------------------------------------------------------------------------------ */
    .section .data
    .balign 8
    .global boot_entry_tsc
boot_entry_tsc:
    .quad 0

    .section .rodata.boot, "a"
    .balign 8
gdt64:
    .quad 0                             /* 0x00: null */
    .quad X86_DESCRIPTOR_KERNEL_CODE64  /* X86_SELECTOR_KERNEL_CODE */
    .quad X86_DESCRIPTOR_KERNEL_DATA    /* X86_SELECTOR_KERNEL_DATA */
gdt64_end:
gdt64_pointer:
    .short gdt64_end - gdt64 - 1
    .quad gdt64                         /* lgdt in 32-bit mode reads only the low 4 bytes */

msg_no_multiboot: .asciz "Sable: not started by a Multiboot2 loader (bad magic in EAX); halting.\r\n"
msg_no_cpuid:     .asciz "Sable: this CPU has no CPUID instruction; halting.\r\n"
msg_no_long_mode: .asciz "Sable: this CPU has no 64-bit long mode (x86-64 required); halting.\r\n"

/* ------------------------------------------------------------------------------------------ */
    .section .text.boot, "ax"
    .code32
    .global _start
_start:
    cli
    cld
    mov $boot_stack_top, %esp
    mov %eax, %edi                      /* keep magic and info pointer across the checks */
    mov %ebx, %esi

    cmp $MB2_BOOT_MAGIC, %eax
    mov $msg_no_multiboot, %eax
    jne boot_fail32

    /* CPUID exists iff EFLAGS.ID (bit 21) can be toggled [Intel SDM vol2A, CPUID]. */
    pushfl
    pop %eax
    mov %eax, %ecx
    xor $(1 << 21), %eax
    push %eax
    popfl
    pushfl
    pop %eax
    push %ecx
    popfl
    cmp %eax, %ecx
    mov $msg_no_cpuid, %eax
    je boot_fail32

    mov $0x80000000, %eax
    cpuid
    cmp $0x80000001, %eax
    mov $msg_no_long_mode, %eax
    jb boot_fail32
    mov $0x80000001, %eax
    cpuid
    test $CPUID_EXT_LM, %edx
    mov $msg_no_long_mode, %eax
    jz boot_fail32
    mov %edx, %ebp                      /* remember the NX bit for EFER below */

    /* The boot_to_init benchmark counts from here (every x86-64 CPU has a TSC). In .data, not
       the BSS, which the 64-bit code clears later. */
    rdtsc
    mov %eax, boot_entry_tsc
    mov %edx, boot_entry_tsc + 4

    /* Clear the tables: GRUB zero-fills BSS, but a second loader might not. */
    push %edi
    mov $boot_pml4, %edi
    mov $((boot_tables_end - boot_pml4) / 4), %ecx
    xor %eax, %eax
    rep stosl
    pop %edi

    /* PML4[0] -> PDPT; PDPT[0..3] -> four page directories covering 0..4 GiB. */
    movl $(boot_pdpt + X86_PTE_PRESENT + X86_PTE_WRITABLE), boot_pml4
    mov $boot_pd + X86_PTE_PRESENT + X86_PTE_WRITABLE, %eax
    xor %ecx, %ecx
1:  mov %eax, boot_pdpt(, %ecx, 8)
    add $4096, %eax
    inc %ecx
    cmp $BOOT_IDENTITY_GIB, %ecx
    jb 1b

    /* 2048 PD entries, each an identity 2 MiB page. The top half of the 64-bit entry stays 0,
       which is right for physical addresses below 4 GiB. */
    mov $(X86_PTE_PRESENT + X86_PTE_WRITABLE + X86_PTE_HUGE), %eax
    xor %ecx, %ecx
1:  mov %eax, boot_pd(, %ecx, 8)
    add $0x200000, %eax
    inc %ecx
    cmp $(512 * BOOT_IDENTITY_GIB), %ecx
    jb 1b

    /* Split the 2 MiB page holding the stack guard into 4 KiB pages, all identity-mapped
       except the guard itself, so overflowing the boot stack faults instead of corrupting
       the page tables below it. */
    mov $boot_stack_guard, %eax
    and $~0x1FFFFF, %eax
    or $(X86_PTE_PRESENT + X86_PTE_WRITABLE), %eax
    xor %ecx, %ecx
1:  mov %eax, boot_pt(, %ecx, 8)
    add $4096, %eax
    inc %ecx
    cmp $512, %ecx
    jb 1b
    mov $boot_stack_guard, %eax
    shr $12, %eax
    and $511, %eax
    movl $0, boot_pt(, %eax, 8)
    mov $boot_stack_guard, %eax
    shr $21, %eax
    movl $(boot_pt + X86_PTE_PRESENT + X86_PTE_WRITABLE), boot_pd(, %eax, 8)

    /* [Intel SDM vol3 §10.8.5] PAE, then EFER.LME, then CR0.PG activates IA-32e mode. */
    mov %cr4, %eax
    or $X86_CR4_PAE, %eax
    mov %eax, %cr4
    mov $boot_pml4, %eax
    mov %eax, %cr3
    mov $X86_MSR_EFER, %ecx
    rdmsr
    or $X86_EFER_LME, %eax
    test $CPUID_EXT_NX, %ebp
    jz 1f
    or $X86_EFER_NXE, %eax
1:  wrmsr
    mov %cr0, %eax
    or $(X86_CR0_PG + X86_CR0_PE + X86_CR0_WP), %eax
    mov %eax, %cr0

    lgdt gdt64_pointer
    ljmp $X86_SELECTOR_KERNEL_CODE, $long_mode_entry

/* Print the NUL-terminated message at EAX on X86_COM1_PORT and the VGA text screen, then stop.
   The serial port is programmed here because C++ has not run yet. */
boot_fail32:
    mov %eax, %esi
    mov $(X86_COM1_PORT + 1), %dx;  mov $0x00, %al; outb %al, %dx   /* no interrupts */
    mov $(X86_COM1_PORT + 3), %dx;  mov $0x80, %al; outb %al, %dx   /* DLAB on */
    mov $(X86_COM1_PORT + 0), %dx;  mov $0x01, %al; outb %al, %dx   /* divisor 1 = 115200 baud */
    mov $(X86_COM1_PORT + 1), %dx;  mov $0x00, %al; outb %al, %dx
    mov $(X86_COM1_PORT + 3), %dx;  mov $0x03, %al; outb %al, %dx   /* 8N1, DLAB off */
    mov $(X86_COM1_PORT + 2), %dx;  mov $0xC7, %al; outb %al, %dx   /* FIFO on, cleared */
    mov $0xB8000, %edi
2:  movb (%esi), %bl
    test %bl, %bl
    jz 4f
    mov $(X86_COM1_PORT + 5), %dx
3:  inb %dx, %al
    test $0x20, %al                     /* transmit holding register empty */
    jz 3b
    mov $X86_COM1_PORT, %dx
    mov %bl, %al
    outb %al, %dx
    cmp $' ', %bl                       /* keep CR/LF off the screen */
    jb 5f
    movb %bl, (%edi)
    movb $0x4F, 1(%edi)                 /* white on red */
    add $2, %edi
5:  inc %esi
    jmp 2b
4:  cli
    hlt
    jmp 4b

/* ------------------------------------------------------------------------------------------ */
    .code64
long_mode_entry:
    mov $X86_SELECTOR_KERNEL_DATA, %ax
    mov %ax, %ds
    mov %ax, %es
    mov %ax, %ss
    xor %eax, %eax
    mov %ax, %fs
    mov %ax, %gs
    mov $boot_stack_top, %rsp
    /* The upper halves of 64-bit registers are undefined after the mode switch. */
    mov %edi, %r12d                     /* magic */
    mov %esi, %r13d                     /* boot information */

    /* Quadwords (linker.ld aligns both ends to 8): an emulator without string acceleration
       runs one iteration per element, and the BSS is hundreds of KiB. */
    mov $__bss_start, %rdi
    mov $__bss_end, %rcx
    sub %rdi, %rcx
    shr $3, %rcx
    xor %eax, %eax
    rep stosq

    /* Global constructors, in link order. RSP stays 16-byte aligned at each call. */
    mov $__init_array_start, %rbx
1:  cmp $__init_array_end, %rbx
    jae 2f
    call *(%rbx)
    add $8, %rbx
    jmp 1b

2:  xor %ebp, %ebp                      /* terminates frame-pointer backtraces */
    mov %r12d, %edi
    mov %r13d, %esi
    call kernel_main
3:  cli
    hlt
    jmp 3b

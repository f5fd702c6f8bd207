/*
 * ap_trampoline.S — where application processors start: 16-bit real mode → 32-bit protected
 * mode → 64-bit long mode on the kernel's page tables, then C++.
 *
 * Implements: the code arch::install_ap_trampoline (smp_startup.cpp) copies to AP_TRAMPOLINE_BASE
 *             (<arch/ap_trampoline.h>: 4 KiB-aligned, below 1 MiB) and STARTUP points at.
 *             Position-dependent: every address below is AP_TRAMPOLINE_BASE + (label -
 *             ap_trampoline_begin).
 * Calls:      the entry in the data block: ap_main(uint64_t apic_id) (src/smp/bring_up.cpp).
 * Must match: the data block's offsets in <arch/ap_trampoline.h> (AP_DATA_*), which
 *             smp_startup.cpp fills and static_asserts against its struct.
 * All APs run this at once: each picks its own stack by its APIC id, nothing else is shared
 * but read-only data.
 */
#include <arch/ap_trampoline.h>
#include <arch/x86_defs.h>
#define ABS(label) (AP_TRAMPOLINE_BASE + (label) - ap_trampoline_begin)

    .section .rodata
    .balign 16
    .global ap_trampoline_begin, ap_trampoline_end, ap_trampoline_data
ap_trampoline_begin:
    .code16
    cli
    cld
    xor %ax, %ax
    mov %ax, %ds
    lgdtl ABS(ap_gdt_pointer)
    mov %cr0, %eax
    or $1, %eax                         /* CR0.PE */
    mov %eax, %cr0
    ljmpl $0x08, $ABS(ap_protected_mode)     /* ap_gdt: 32-bit code */

    .code32
ap_protected_mode:
    mov $0x10, %ax
    mov %ax, %ds
    mov %ax, %es
    mov %ax, %ss
    mov %cr4, %eax
    or $X86_CR4_PAE, %eax
    mov %eax, %cr4
    mov ABS(ap_trampoline_data) + AP_DATA_ROOT_TABLE, %eax
    mov %eax, %cr3
    mov $X86_MSR_EFER, %ecx             /* LME (+NXE: the tables use NX bits) */
    rdmsr
    or ABS(ap_trampoline_data) + AP_DATA_EFER_BITS, %eax
    wrmsr
    mov %cr0, %eax
    or $(X86_CR0_PG | X86_CR0_WP), %eax
    mov %eax, %cr0
    ljmp $0x18, $ABS(ap_long_mode)

    .code64
ap_long_mode:
    xor %eax, %eax
    mov %ax, %ds
    mov %ax, %es
    mov %ax, %ss
    mov $1, %eax                        /* CPUID.1:EBX[31:24] = initial APIC id */
    cpuid
    shr $24, %ebx
    mov ABS(ap_trampoline_data) + AP_DATA_STACKS, %rax
    mov (%rax, %rbx, 8), %rsp           /* this AP's own stack (guard page below it) */
    mov %rbx, %rdi
    xor %ebp, %ebp
    mov ABS(ap_trampoline_data) + AP_DATA_ENTRY, %rax
    call *%rax                          /* ap_main(apic_id): never returns */
1:  cli
    hlt
    jmp 1b

    .balign 8
ap_gdt:
    .quad 0
    .quad X86_DESCRIPTOR_CODE32         /* 0x08: 32-bit code */
    .quad X86_DESCRIPTOR_KERNEL_DATA    /* 0x10: data */
    .quad X86_DESCRIPTOR_KERNEL_CODE64  /* 0x18: 64-bit code */
ap_gdt_end:
ap_gdt_pointer:
    .short ap_gdt_end - ap_gdt - 1
    .long ABS(ap_gdt)

    .balign 8
ap_trampoline_data:
    .skip AP_DATA_BYTES
ap_trampoline_end:

/*
 * _start: the first user instruction of every Sable program (the ELF entry point).
 * Implements the entry contract the kernel's spawn keeps (docs/syscalls.md, abi.h):
 *   rdi = argc, rsi = argv (NULL-terminated array of pointers on the user stack),
 *   rsp 16-byte aligned; nothing else is assumed about the registers.
 * Calls `extern "C" void __libc_start_main(int argc, char** argv)` (start.cpp), which never
 * returns.
 */
    .text
    .globl _start
    .type _start, @function
_start:
    .cfi_startproc
    .cfi_undefined rip              /* the outermost frame: unwinders stop here */
    xorl %ebp, %ebp                 /* frame-pointer chains end with a zero rbp */
    cld                             /* the psABI wants DF clear at every call */
    movq %rsp, __sable_entry_rsp(%rip)  /* kept so `usertest args` can check the alignment */
    rdtsc                           /* when the program began (bench boot_to_init) */
    movl %eax, __sable_start_cycles(%rip)
    movl %edx, __sable_start_cycles + 4(%rip)
    /* The psABI wants rsp % 16 == 0 at a call; realign in case the kernel handed us less. */
    andq $-16, %rsp
    call __libc_start_main
    ud2                             /* not reached: __libc_start_main ends in exit() */
    .cfi_endproc
    .size _start, . - _start

    .bss
    .balign 8
    .globl __sable_entry_rsp
    .type __sable_entry_rsp, @object
__sable_entry_rsp:
    .quad 0
    .size __sable_entry_rsp, 8
    .globl __sable_start_cycles
    .type __sable_start_cycles, @object
__sable_start_cycles:
    .quad 0
    .size __sable_start_cycles, 8

    .section .note.GNU-stack, "", @progbits

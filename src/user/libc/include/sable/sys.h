/*
 * Raw Sable system calls and the TSC: the thin layer the libc wrappers (unistd.h) are built on,
 * and what benchmarks use directly so that nothing but the `syscall` instruction is timed.
 * Register use follows the contract at the top of <sable/abi.h>: rax = number; rdi, rsi, rdx,
 * r10, r8, r9 = arguments; rcx and r11 are clobbered by the instruction itself.
 */
#ifndef SABLE_SYS_H
#define SABLE_SYS_H

#include <sable/abi.h>
#include <stdint.h>

/* "memory": the kernel reads and writes user buffers, so no load or store may move across. */
static inline long sable_syscall0(long n) {
    long ret;
    __asm__ volatile("syscall" : "=a"(ret) : "a"(n) : "rcx", "r11", "memory");
    return ret;
}

static inline long sable_syscall1(long n, long a1) {
    long ret;
    __asm__ volatile("syscall" : "=a"(ret) : "a"(n), "D"(a1) : "rcx", "r11", "memory");
    return ret;
}

static inline long sable_syscall2(long n, long a1, long a2) {
    long ret;
    __asm__ volatile("syscall" : "=a"(ret) : "a"(n), "D"(a1), "S"(a2) : "rcx", "r11", "memory");
    return ret;
}

static inline long sable_syscall3(long n, long a1, long a2, long a3) {
    long ret;
    __asm__ volatile("syscall"
                     : "=a"(ret)
                     : "a"(n), "D"(a1), "S"(a2), "d"(a3)
                     : "rcx", "r11", "memory");
    return ret;
}

static inline long sable_syscall4(long n, long a1, long a2, long a3, long a4) {
    long ret;
    register long r10 __asm__("r10") = a4;
    __asm__ volatile("syscall" : "=a"(ret) : "a"(n), "D"(a1), "S"(a2), "d"(a3), "r"(r10) : "rcx", "r11", "memory");
    return ret;
}

static inline long sable_syscall6(long n, long a1, long a2, long a3, long a4, long a5, long a6) {
    register long r10 __asm__("r10") = a4;
    register long r8 __asm__("r8") = a5;
    register long r9 __asm__("r9") = a6;
    long ret;
    __asm__ volatile("syscall"
                     : "=a"(ret)
                     : "a"(n), "D"(a1), "S"(a2), "d"(a3), "r"(r10), "r"(r8), "r"(r9)
                     : "rcx", "r11", "memory");
    return ret;
}

/* The time-stamp counter after every earlier instruction has completed: LFENCE waits for them
   [Intel SDM vol2 RDTSC: "If software requires RDTSC to be executed only after all previous
   instructions have executed ... it can execute LFENCE immediately before RDTSC"].
   CR4.TSD is clear in Sable, so ring 3 may read it. */
static inline uint64_t rdtsc_serialized(void) {
    uint32_t low, high;
    __asm__ volatile("lfence\n\trdtsc" : "=a"(low), "=d"(high) : : "memory");
    return ((uint64_t)high << 32) | low;
}

#endif /* SABLE_SYS_H */

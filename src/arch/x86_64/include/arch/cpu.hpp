// Small named wrappers around single x86-64 instructions, so the rest of the kernel never
// writes inline assembly. Arch-private: portable modules (mm/, sched/, smp/, lib/, boot/) do not
// include this file.
#pragma once

#include <stdint.h>

#include <arch/x86_defs.h>

namespace arch::x86 {

inline void outb(uint16_t port, uint8_t value) { asm volatile("outb %0, %1" ::"a"(value), "Nd"(port)); }
inline void outw(uint16_t port, uint16_t value) { asm volatile("outw %0, %1" ::"a"(value), "Nd"(port)); }
inline void outl(uint16_t port, uint32_t value) { asm volatile("outl %0, %1" ::"a"(value), "Nd"(port)); }
inline uint8_t inb(uint16_t port) {
    uint8_t value;
    asm volatile("inb %1, %0" : "=a"(value) : "Nd"(port));
    return value;
}
inline uint16_t inw(uint16_t port) {
    uint16_t value;
    asm volatile("inw %1, %0" : "=a"(value) : "Nd"(port));
    return value;
}
inline uint32_t inl(uint16_t port) {
    uint32_t value;
    asm volatile("inl %1, %0" : "=a"(value) : "Nd"(port));
    return value;
}

struct CpuidResult {
    uint32_t eax, ebx, ecx, edx;
};
inline CpuidResult cpuid(uint32_t leaf, uint32_t subleaf = 0) {
    CpuidResult r;
    asm volatile("cpuid" : "=a"(r.eax), "=b"(r.ebx), "=c"(r.ecx), "=d"(r.edx) : "a"(leaf), "c"(subleaf));
    return r;
}

// [Intel SDM vol2B, RDTSC] LFENCE first so earlier instructions finish before the read.
inline uint64_t rdtsc_ordered() {
    uint32_t low, high;
    asm volatile("lfence; rdtsc" : "=a"(low), "=d"(high)::"memory");
    return (uint64_t{high} << 32) | low;
}

inline uint64_t rdmsr(uint32_t msr) {
    uint32_t low, high;
    asm volatile("rdmsr" : "=a"(low), "=d"(high) : "c"(msr));
    return (uint64_t{high} << 32) | low;
}
inline void wrmsr(uint32_t msr, uint64_t value) {
    asm volatile("wrmsr" ::"c"(msr), "a"(static_cast<uint32_t>(value)), "d"(static_cast<uint32_t>(value >> 32)));
}

#define SABLE_READ_CR(n)                                    \
    inline uint64_t read_cr##n() {                          \
        uint64_t value;                                     \
        asm volatile("mov %%cr" #n ", %0" : "=r"(value));   \
        return value;                                       \
    }
SABLE_READ_CR(0)
SABLE_READ_CR(2)
SABLE_READ_CR(3)
SABLE_READ_CR(4)
#undef SABLE_READ_CR
inline void write_cr0(uint64_t value) { asm volatile("mov %0, %%cr0" ::"r"(value) : "memory"); }
inline void write_cr4(uint64_t value) { asm volatile("mov %0, %%cr4" ::"r"(value) : "memory"); }
inline void clts() { asm volatile("clts" ::: "memory"); }

// The extended-state instructions, all in their 64-bit forms (FPU instruction and data pointers
// saved whole). The requested-feature bitmap in EDX:EAX is all ones: XCR0 limits it.
inline void xsetbv(uint32_t xcr, uint64_t value) {
    asm volatile("xsetbv" ::"c"(xcr), "a"(static_cast<uint32_t>(value)), "d"(static_cast<uint32_t>(value >> 32)));
}
inline void xsave(void* area) { asm volatile("xsave64 (%0)" ::"r"(area), "a"(~0u), "d"(~0u) : "memory"); }
inline void xsaveopt(void* area) { asm volatile("xsaveopt64 (%0)" ::"r"(area), "a"(~0u), "d"(~0u) : "memory"); }
inline void xrstor(const void* area) { asm volatile("xrstor64 (%0)" ::"r"(area), "a"(~0u), "d"(~0u) : "memory"); }
// Save one area and load another in one statement, so the XSAVE mask in EDX:EAX is loaded once.
inline void xsaveopt_then_xrstor(void* save_area, const void* restore_area) {
    asm volatile("xsaveopt64 (%0)\n\txrstor64 (%1)" ::"r"(save_area), "r"(restore_area), "a"(~0u), "d"(~0u) : "memory");
}
inline void xsave_then_xrstor(void* save_area, const void* restore_area) {
    asm volatile("xsave64 (%0)\n\txrstor64 (%1)" ::"r"(save_area), "r"(restore_area), "a"(~0u), "d"(~0u) : "memory");
}
inline void fxsave(void* area) { asm volatile("fxsave64 (%0)" ::"r"(area) : "memory"); }
inline void fxrstor(const void* area) { asm volatile("fxrstor64 (%0)" ::"r"(area) : "memory"); }
inline uint32_t read_mxcsr() {
    uint32_t value;
    asm volatile("stmxcsr %0" : "=m"(value));
    return value;
}
inline uint16_t read_x87_status() {
    uint16_t value;
    asm volatile("fnstsw %0" : "=a"(value));
    return value;
}
inline uint16_t read_x87_control() {
    uint16_t value;
    asm volatile("fnstcw %0" : "=m"(value));
    return value;
}

inline uint64_t read_rflags() {
    uint64_t value;
    asm volatile("pushfq; popq %0" : "=r"(value));
    return value;
}
inline uint64_t read_rsp() {
    uint64_t value;
    asm volatile("mov %%rsp, %0" : "=r"(value));
    return value;
}
inline uint64_t read_rbp() {
    uint64_t value;
    asm volatile("mov %%rbp, %0" : "=r"(value));
    return value;
}

inline void cpu_relax() { asm volatile("pause"); }
inline void disable_interrupts() { asm volatile("cli" ::: "memory"); }
inline void enable_interrupts() { asm volatile("sti" ::: "memory"); }
inline void halt() { asm volatile("hlt" ::: "memory"); }

inline constexpr uint32_t kMsrEfer = X86_MSR_EFER;
inline constexpr uint32_t kMsrStar = X86_MSR_STAR;
inline constexpr uint32_t kMsrLstar = X86_MSR_LSTAR;
inline constexpr uint32_t kMsrFmask = X86_MSR_FMASK;
inline constexpr uint32_t kMsrGsBase = X86_MSR_GS_BASE;
inline constexpr uint32_t kMsrKernelGsBase = X86_MSR_KERNEL_GS_BASE;
inline constexpr uint64_t kEferSyscallEnable = X86_EFER_SCE;
inline constexpr uint64_t kEferLongModeEnable = X86_EFER_LME;
inline constexpr uint64_t kEferLongModeActive = X86_EFER_LMA;
inline constexpr uint64_t kEferNoExecuteEnable = X86_EFER_NXE;
inline constexpr uint64_t kCr0Paging = X86_CR0_PG;
inline constexpr uint64_t kCr4Pae = X86_CR4_PAE;
inline constexpr uint64_t kCr0TaskSwitched = X86_CR0_TS;
inline constexpr uint64_t kRflagsInterruptsOn = X86_RFLAGS_IF;

inline bool cpu_has_hypervisor() { return (cpuid(1).ecx >> 31) & 1; }
inline bool cpu_has_nx() {
    return cpuid(0x80000000).eax >= 0x80000001 && ((cpuid(0x80000001).edx >> 20) & 1);
}

// protections.cpp: this CPU's UMIP, SMEP and SMAP, the ones the boot CPU found (it runs first).
void init_protections();

}  // namespace arch::x86

// Segment selectors, the per-CPU GDT and TSS, and the IDT [Intel SDM vol3 §3.4, §7.7, §6.14].
// Every CPU gets its own GDT and TSS: `ltr` marks the TSS descriptor busy, so two CPUs cannot
// share one (the seed's single TSS works only on one CPU).
#pragma once

#include <stdint.h>

#include <arch/x86_defs.h>

namespace arch::x86 {

// Order fixed by SYSRET: user SS = STAR[63:48] + 8, user CS = STAR[63:48] + 16.
inline constexpr uint16_t kKernelCodeSelector = X86_SELECTOR_KERNEL_CODE;
inline constexpr uint16_t kKernelDataSelector = X86_SELECTOR_KERNEL_DATA;
inline constexpr uint16_t kUserDataSelector = X86_SELECTOR_USER_DATA;
inline constexpr uint16_t kUserCodeSelector = X86_SELECTOR_USER_CODE;
inline constexpr uint16_t kTssSelector = 0x28;

// Interrupt-stack-table slots: these exceptions always switch to a known-good stack.
inline constexpr unsigned kIstDoubleFault = 1;
inline constexpr unsigned kIstNmi = 2;
inline constexpr unsigned kIstMachineCheck = 3;

struct __attribute__((packed)) Tss {
    uint32_t reserved0;
    uint64_t rsp[3];  // rsp[0]: stack for entries from ring 3
    uint64_t reserved1;
    uint64_t ist[7];  // ist[n-1] is IST slot n
    uint64_t reserved2;
    uint16_t reserved3;
    uint16_t io_map_base;
};
static_assert(sizeof(Tss) == 104);

struct alignas(16) CpuDescriptorTables {
    uint64_t gdt[7];  // null, kernel code, kernel data, user data, user code, TSS (two slots)
    Tss tss;
};

// Fills and loads this CPU's GDT and TSS (`ist_tops[n-1]` = top of IST stack n, 0 if none).
void load_cpu_descriptor_tables(CpuDescriptorTables& tables, const uint64_t (&ist_tops)[3]);
// CPU `cpu_index`'s TSS (trap.cpp owns the per-CPU tables).
Tss& cpu_tss(unsigned cpu_index);
// Builds the shared IDT once (all gates DPL 0, IST for #DF/NMI/#MC) and loads it on this CPU.
void load_idt();

}  // namespace arch::x86

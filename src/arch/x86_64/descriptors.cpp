// GDT, TSS and IDT setup (see include/arch/descriptors.hpp).
#include <arch/descriptors.hpp>

extern "C" char isr_stubs_begin[];  // isr_stubs.S: 256 stubs, 16 bytes apart

namespace arch::x86 {
namespace {

struct __attribute__((packed)) DescriptorPointer {
    uint16_t limit;
    uint64_t base;
};

struct IdtGate {
    uint16_t offset_low;
    uint16_t selector;
    uint8_t ist;
    uint8_t type_attributes;
    uint16_t offset_middle;
    uint32_t offset_high;
    uint32_t reserved;
};
static_assert(sizeof(IdtGate) == 16);

alignas(16) IdtGate g_idt[256];
bool g_idt_built = false;

// [SDM vol3 §3.4.5] code/data descriptors: base 0, limit max; in long mode only L, DPL, P and
// the type matter.
constexpr uint64_t kKernelCode64 = X86_DESCRIPTOR_KERNEL_CODE64;
constexpr uint64_t kKernelData = X86_DESCRIPTOR_KERNEL_DATA;
constexpr uint64_t kUserData = X86_DESCRIPTOR_USER_DATA;
constexpr uint64_t kUserCode64 = X86_DESCRIPTOR_USER_CODE64;

void build_idt() {
    for (unsigned vector = 0; vector < 256; ++vector) {
        const uint64_t handler = reinterpret_cast<uint64_t>(isr_stubs_begin) + 16 * vector;
        IdtGate& gate = g_idt[vector];
        gate.offset_low = static_cast<uint16_t>(handler);
        gate.selector = kKernelCodeSelector;
        gate.ist = vector == 8 ? kIstDoubleFault : vector == X86_VECTOR_NMI ? kIstNmi : vector == 18 ? kIstMachineCheck : 0;
        // 0x8E: present, DPL 0, 64-bit interrupt gate (IF cleared on entry). DPL 0 everywhere:
        // ring 3 cannot raise any vector with `int` — system calls use `syscall` instead.
        gate.type_attributes = 0x8E;
        gate.offset_middle = static_cast<uint16_t>(handler >> 16);
        gate.offset_high = static_cast<uint32_t>(handler >> 32);
        gate.reserved = 0;
    }
}

}  // namespace

void load_cpu_descriptor_tables(CpuDescriptorTables& tables, const uint64_t (&ist_tops)[3]) {
    tables.tss = {};
    for (unsigned i = 0; i < 3; ++i) tables.tss.ist[i] = ist_tops[i];
    tables.tss.io_map_base = sizeof(Tss);  // no I/O permission bitmap: ring 3 gets no ports

    const uint64_t tss = reinterpret_cast<uint64_t>(&tables.tss);
    tables.gdt[0] = 0;
    tables.gdt[1] = kKernelCode64;
    tables.gdt[2] = kKernelData;
    tables.gdt[3] = kUserData;
    tables.gdt[4] = kUserCode64;
    // [SDM vol3 §7.2.3] 16-byte TSS descriptor: limit, base, type 0x9 (available 64-bit TSS), P.
    tables.gdt[5] = (sizeof(Tss) - 1) | ((tss & 0xFFFFFF) << 16) | (0x89ull << 40) | ((tss >> 24 & 0xFF) << 56);
    tables.gdt[6] = tss >> 32;

    const DescriptorPointer gdtr{sizeof(tables.gdt) - 1, reinterpret_cast<uint64_t>(tables.gdt)};
    asm volatile(
        "lgdt %0\n"
        // Reload CS with a far return, then the data segments.
        "pushq %1\n"
        "leaq 1f(%%rip), %%rax\n"
        "pushq %%rax\n"
        "lretq\n"
        "1:\n"
        "mov %2, %%ds\n"
        "mov %2, %%es\n"
        "mov %2, %%ss\n"
        "ltr %3\n"
        :
        : "m"(gdtr), "i"(static_cast<uint64_t>(kKernelCodeSelector)), "r"(static_cast<uint32_t>(kKernelDataSelector)),
          "r"(kTssSelector)
        : "rax", "memory");
}

void load_idt() {
    if (!g_idt_built) {
        build_idt();
        g_idt_built = true;
    }
    const DescriptorPointer idtr{sizeof(g_idt) - 1, reinterpret_cast<uint64_t>(g_idt)};
    asm volatile("lidt %0" ::"m"(idtr));
}

}  // namespace arch::x86

// The CPU side of multiprocessing for x86-64: per-CPU base, IPIs and the AP start-up signals and
// trampoline (arch.hpp, "CPUs"). The sequence that uses them is portable: src/smp/bring_up.cpp.
#include <stddef.h>

#include <arch/ap_trampoline.h>
#include <arch/cpu.hpp>
#include <arch/interrupt_controllers.hpp>

#include "arch/arch.hpp"

extern "C" char ap_trampoline_begin[], ap_trampoline_end[], ap_trampoline_data[];

namespace arch {
namespace {

struct ApTrampolineData {
    uint32_t root_table;
    uint32_t efer_bits;
    uint64_t stacks;
    uint64_t entry;
};
static_assert(__builtin_offsetof(ApTrampolineData, root_table) == AP_DATA_ROOT_TABLE);
static_assert(__builtin_offsetof(ApTrampolineData, efer_bits) == AP_DATA_EFER_BITS);
static_assert(__builtin_offsetof(ApTrampolineData, stacks) == AP_DATA_STACKS);
static_assert(__builtin_offsetof(ApTrampolineData, entry) == AP_DATA_ENTRY);
static_assert(sizeof(ApTrampolineData) == AP_DATA_BYTES);
static_assert(AP_TRAMPOLINE_BASE % AP_TRAMPOLINE_PAGE_BYTES == 0 && AP_TRAMPOLINE_BASE < (1 << 20));

}  // namespace

uint32_t this_cpu_apic_id() {
    // From CPUID, not the local APIC: this is asked before the APIC's registers are mapped.
    // [SDM vol2 CPUID] leaf 0Bh EDX: the x2APIC id; leaf 1 EBX[31:24]: the initial 8-bit id.
    if (x86::cpuid(0).eax >= 0xB && (x86::cpuid(0xB).ebx & 0xFFFF) != 0) return x86::cpuid(0xB).edx;
    return x86::cpuid(1).ebx >> 24;
}

bool install_ap_trampoline(uint64_t root_table_phys, const uint64_t* stack_top_by_apic_id,
                           void (*entry)(uint64_t apic_id)) {
    if (root_table_phys >= (1ull << 32)) return false;
    const size_t code_bytes = static_cast<size_t>(ap_trampoline_end - ap_trampoline_begin);
    // The linker script cannot check this: the trampoline must fit its page, data block included.
    if (code_bytes > AP_TRAMPOLINE_PAGE_BYTES) return false;
    __builtin_memcpy(reinterpret_cast<void*>(AP_TRAMPOLINE_BASE), ap_trampoline_begin, code_bytes);
    auto* data = reinterpret_cast<ApTrampolineData*>(AP_TRAMPOLINE_BASE + (ap_trampoline_data - ap_trampoline_begin));
    *data = {static_cast<uint32_t>(root_table_phys),
             static_cast<uint32_t>(x86::rdmsr(x86::kMsrEfer) & (x86::kEferLongModeEnable | x86::kEferNoExecuteEnable)),
             reinterpret_cast<uint64_t>(stack_top_by_apic_id), reinterpret_cast<uint64_t>(entry)};
    return true;
}

uint64_t ap_trampoline_phys() { return AP_TRAMPOLINE_BASE; }
void send_init(uint32_t apic_id) { x86::lapic_send_init(apic_id); }
void send_startup(uint32_t apic_id) { x86::lapic_send_startup(apic_id, AP_TRAMPOLINE_BASE >> 12); }

}  // namespace arch

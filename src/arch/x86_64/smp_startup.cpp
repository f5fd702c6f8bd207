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

bool init_needs_settle_delay() {
    // The 10 ms between INIT and STARTUP is for processors whose local APIC was a separate chip
    // (the 82489DX) and for the P5 era: they need it to finish the INIT reset. A virtual CPU
    // takes INIT at once, and so do Intel's P6 family (6) and later and AMD's K8 (family 0xF) and
    // later, whose APIC is on the die. Anything older, or a vendor not known here, keeps it.
    if (x86::cpu_has_hypervisor()) return false;
    const x86::CpuidResult vendor = x86::cpuid(0);
    const uint32_t signature = x86::cpuid(1).eax;
    const uint32_t family = (signature >> 8) & 0xF;
    const uint32_t extended_family = family == 0xF ? (signature >> 20) & 0xFF : 0;
    const bool intel = vendor.ebx == 0x756E6547 && vendor.edx == 0x49656E69 && vendor.ecx == 0x6C65746E;  // GenuineIntel
    const bool amd = vendor.ebx == 0x68747541 && vendor.edx == 0x69746E65 && vendor.ecx == 0x444D4163;    // AuthenticAMD
    if (intel) return family < 6;
    if (amd) return family + extended_family < 0xF;
    return true;
}
void send_startup(uint32_t apic_id) { x86::lapic_send_startup(apic_id, AP_TRAMPOLINE_BASE >> 12); }

}  // namespace arch

// The CPU protections a trusted kernel turns on (docs/security.md): UMIP keeps descriptor-table
// addresses from ring 3, SMEP and SMAP keep the kernel off user pages except inside copy_user,
// and boot entropy seeds the stack protector's canary.
#include <arch/cpu.hpp>
#include <arch/pte.hpp>
#include <arch/trap_frame.hpp>

#include "arch/arch.hpp"
#include "lib/format.hpp"

// Read by arch_user_copy (user_entry.S): `stac`/`clac` are invalid opcodes without SMAP.
extern "C" {
uint8_t arch_smap_enabled = 0;
}

namespace arch {
namespace {

// [SDM vol2 CPUID, leaf 7 subleaf 0] EBX bit 7 SMEP, EBX bit 20 SMAP, ECX bit 2 UMIP.
constexpr uint32_t kLeaf7EbxSmep = 1u << 7;
constexpr uint32_t kLeaf7EbxSmap = 1u << 20;
constexpr uint32_t kLeaf7EcxUmip = 1u << 2;
constexpr uint32_t kLeaf1EcxRdrand = 1u << 30;

// The boot CPU decides, every CPU then sets the same bits: arch_user_copy's one flag must be
// true of every CPU it runs on.
bool g_decided = false;
uint64_t g_cr4_bits = 0;
// Where page tables are read: physical address + this (set_page_table_view_offset).
uint64_t g_table_view_offset = 0;

uint64_t supported_protections() {
    if (x86::cpuid(0).eax < 7) return 0;
    const x86::CpuidResult leaf7 = x86::cpuid(7);
    return (leaf7.ecx & kLeaf7EcxUmip ? X86_CR4_UMIP : 0) | (leaf7.ebx & kLeaf7EbxSmep ? X86_CR4_SMEP : 0) |
           (leaf7.ebx & kLeaf7EbxSmap ? X86_CR4_SMAP : 0);
}

// True if `virt_addr` is mapped with the user bit at every level of the active tables, i.e. a
// page ring 3 may touch.
bool is_user_page(uint64_t virt_addr) {
    uint64_t table = pte::next_table(x86::read_cr3());
    for (unsigned level = pte::kLevels; level-- > 0;) {
        const auto* entries = reinterpret_cast<const uint64_t*>(table + g_table_view_offset);
        const uint64_t entry = entries[pte::index(virt_addr, level)];
        if (!pte::is_present(entry) || !(entry & pte::kUser)) return false;
        if (pte::is_leaf(entry, level)) return true;
        table = pte::next_table(entry);
    }
    return false;
}

}  // namespace

namespace x86 {
void init_protections() {
    if (!g_decided) {
        g_cr4_bits = supported_protections();
        arch_smap_enabled = (g_cr4_bits & X86_CR4_SMAP) != 0;
        g_decided = true;
    }
    write_cr4(read_cr4() | g_cr4_bits);
}
}  // namespace x86

void describe_protections(char* buffer, uint64_t capacity) {
    kstd::format_to_buffer(buffer, capacity, "umip %s, smep %s, smap %s, rdtsc open to ring 3",
                           g_cr4_bits & X86_CR4_UMIP ? "on" : "off (CPU lacks it)",
                           g_cr4_bits & X86_CR4_SMEP ? "on" : "off (CPU lacks it)",
                           g_cr4_bits & X86_CR4_SMAP ? "on" : "off (CPU lacks it)");
}

bool user_access_prevention_on() { return g_cr4_bits & X86_CR4_SMAP; }
bool user_execution_prevention_on() { return g_cr4_bits & X86_CR4_SMEP; }

uint64_t boot_entropy(const char** source) {
    if (x86::cpuid(1).ecx & kLeaf1EcxRdrand) {
        // [SDM vol1 §7.3.17.1] CF clear means no value was ready yet: retry a few times.
        for (int attempt = 0; attempt < 10; ++attempt) {
            uint64_t value;
            bool ok;
            asm volatile("rdrand %0" : "=r"(value), "=@ccc"(ok));
            if (ok) {
                *source = "rdrand";
                return value;
            }
        }
    }
    *source = "tsc";
    // The TSC's low bits are what varies from boot to boot; spread them over the whole word.
    return x86::rdtsc_ordered() * 0x9E3779B97F4A7C15ull;
}

void set_page_table_view_offset(uint64_t offset) { g_table_view_offset = offset; }

const char* broken_protection(const TrapFrame* frame, unsigned vector, uint64_t error_code, uint64_t* address) {
    // [SDM vol3 §4.7] error code: bit 0 P (protection violation), bit 2 U/S (ring 3), bit 4 I/D.
    constexpr uint64_t kProtection = 1, kFromUser = 4, kFetch = 16;
    if (vector != 14 || frame_is_user(frame) || !(error_code & kProtection) || (error_code & kFromUser)) return nullptr;
    const uint64_t cr2 = x86::read_cr2();
    if (!is_user_page(cr2)) return nullptr;
    *address = cr2;
    if (error_code & kFetch) return g_cr4_bits & X86_CR4_SMEP ? "SMEP" : nullptr;
    return g_cr4_bits & X86_CR4_SMAP ? "SMAP" : nullptr;
}

}  // namespace arch

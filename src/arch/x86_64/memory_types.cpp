// Memory types: the page attribute table and the fence that drains write-combining buffers
// (the contract's side is in arch.hpp, the page-table encoding in <arch/pte.hpp>).
#include "arch/arch.hpp"
#include <arch/cpu.hpp>

namespace arch {
namespace {

constexpr uint32_t kMsrPat = 0x277;
constexpr uint32_t kCpuidPat = 1u << 16;  // CPUID.1:EDX

}  // namespace

bool init_memory_types() {
    if (!(x86::cpuid(1).edx & kCpuidPat)) return false;
    // [SDM vol3 §11.12.4] Changing an entry needs caches and TLBs flushed only for pages already
    // mapped through it; nothing is mapped through entry 1 (the only change) before this runs.
    x86::wrmsr(kMsrPat, pte::kPatMsrValue);
    return true;
}

void write_combining_fence() { asm volatile("sfence" ::: "memory"); }

}  // namespace arch

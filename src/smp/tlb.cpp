// TLB shootdown as a remote call (see tlb.hpp).
#include "smp/tlb.hpp"

#include "arch/arch.hpp"
#include "mm/kernel_address_space.hpp"
#include "smp/remote_call.hpp"

namespace kernel::tlb {
namespace {
uint64_t g_count = 0;

void invalidate_here(void* virt_addr) { arch::invalidate_tlb_page(reinterpret_cast<uint64_t>(virt_addr)); }
}  // namespace

void init() {
    remote_call::init();
    set_tlb_invalidator(shootdown);
}

void shootdown(uint64_t virt_addr) {
    arch::invalidate_tlb_page(virt_addr);
    remote_call::on_other_cpus(invalidate_here, reinterpret_cast<void*>(virt_addr));
    __atomic_fetch_add(&g_count, 1, __ATOMIC_RELAXED);
}

uint64_t shootdown_count() { return __atomic_load_n(&g_count, __ATOMIC_RELAXED); }

}  // namespace kernel::tlb

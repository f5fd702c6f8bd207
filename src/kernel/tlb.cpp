// TLB shootdown over IPIs (see tlb.hpp).
#include "tlb.hpp"

#include <arch/interrupt_controllers.hpp>

#include "arch/arch.hpp"
#include "kernel/cpu_local.hpp"
#include "kernel/panic.hpp"
#include "kernel/spinlock.hpp"

namespace kernel::tlb {
namespace {

constexpr unsigned kVectorShootdown = 0xF1;

SpinLock g_lock;  // one shootdown at a time; interrupts stay on while we wait
volatile uint64_t g_address = 0;
volatile unsigned g_pending = 0;
uint64_t g_count = 0;

uint64_t on_shootdown(arch::TrapFrame* frame, void*) {
    arch::invalidate_tlb_page(g_address);
    __atomic_fetch_sub(&g_pending, 1, __ATOMIC_RELEASE);
    arch::x86::lapic_eoi();
    return reinterpret_cast<uint64_t>(frame);
}

}  // namespace

void init() { arch::set_interrupt_handler(kVectorShootdown, on_shootdown, nullptr); }

void shootdown(uint64_t virt_addr) {
    arch::invalidate_tlb_page(virt_addr);
    unsigned others = 0;
    for (unsigned i = 0; i < g_cpu_count; ++i) others += g_cpu_locals[i].online && &g_cpu_locals[i] != &this_cpu();
    if (others == 0) return;
    // With interrupts off we could deadlock against a CPU that waits for us the same way.
    const bool were_enabled = arch::save_and_disable_interrupts();
    arch::restore_interrupts(were_enabled);
    if (!were_enabled) panic("tlb: shootdown of 0x%llx with interrupts disabled", static_cast<unsigned long long>(virt_addr));

    LockGuard guard(g_lock);
    g_address = virt_addr;
    __atomic_store_n(&g_pending, others, __ATOMIC_RELEASE);
    const CpuLocal& self = this_cpu();
    for (unsigned i = 0; i < g_cpu_count; ++i)
        if (g_cpu_locals[i].online && &g_cpu_locals[i] != &self)
            arch::x86::lapic_send_ipi(g_cpu_locals[i].apic_id, kVectorShootdown);
    while (__atomic_load_n(&g_pending, __ATOMIC_ACQUIRE) != 0) arch::cpu_relax();
    ++g_count;
}

uint64_t shootdown_count() { return __atomic_load_n(&g_count, __ATOMIC_RELAXED); }

}  // namespace kernel::tlb

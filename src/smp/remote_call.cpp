// Remote calls over IPIs (see remote_call.hpp).
#include "smp/remote_call.hpp"

#include "arch/arch.hpp"
#include "sched/cpu_local.hpp"
#include "lib/panic.hpp"
#include "lib/spinlock.hpp"

namespace kernel::remote_call {
namespace {


SpinLock g_lock;  // one call at a time; interrupts stay on while we wait
void (*volatile g_function)(void*) = nullptr;
void* volatile g_argument = nullptr;
volatile unsigned g_pending = 0;
unsigned long long g_count = 0;

uint64_t on_remote_call(arch::TrapFrame* frame, void*) {
    g_function(g_argument);
    __atomic_fetch_sub(&g_pending, 1, __ATOMIC_RELEASE);
    arch::end_of_interrupt();
    return reinterpret_cast<uint64_t>(frame);
}

}  // namespace

void init() { arch::set_interrupt_handler(arch::kVectorRemoteCallIpi, on_remote_call, nullptr); }

void on_cpus(const kstd::CpuMask& targets, void (*fn)(void* argument), void* argument) {
    const bool were_enabled = arch::save_and_disable_interrupts();
    const CpuLocal& self = this_cpu();
    unsigned others = 0;
    for (unsigned i = 0; i < g_cpu_count; ++i)
        others += g_cpu_locals[i].online && &g_cpu_locals[i] != &self && targets.contains(i);
    arch::restore_interrupts(were_enabled);
    if (others == 0) return;
    if (!were_enabled) panic("remote_call: called with interrupts disabled while other CPUs run");
    // From here the caller may move to another CPU: the set was fixed above, and a target that
    // is now the caller's CPU answers its own IPI once the wait lets interrupts in.
    LockGuard guard(g_lock);
    g_function = fn;
    g_argument = argument;
    __atomic_store_n(&g_pending, others, __ATOMIC_RELEASE);
    for (unsigned i = 0; i < g_cpu_count; ++i)
        if (g_cpu_locals[i].online && &g_cpu_locals[i] != &self && targets.contains(i))
            arch::send_ipi(g_cpu_locals[i].apic_id, arch::kVectorRemoteCallIpi);
    while (__atomic_load_n(&g_pending, __ATOMIC_ACQUIRE) != 0) arch::cpu_relax();
    ++g_count;
}

void on_other_cpus(void (*fn)(void* argument), void* argument) { on_cpus(kstd::CpuMask::all(), fn, argument); }

unsigned long long call_count() { return __atomic_load_n(&g_count, __ATOMIC_RELAXED); }

}  // namespace kernel::remote_call

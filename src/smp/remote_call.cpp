// Remote calls over IPIs (see remote_call.hpp).
#include "smp/remote_call.hpp"

#include "arch/arch.hpp"
#include "sched/cpu_local.hpp"
#include "lib/panic.hpp"
#include "lib/spinlock.hpp"

namespace kernel::remote_call {
namespace {


// One call at a time. A caller waits for the slot with interrupts on (the caller that holds it
// may be waiting for this CPU's answer) and holds it with interrupts off: no one needs its answer
// meanwhile (there is no other call), and a holder preempted by its timer would make every other
// caller spin through the rest of its time slice (255 exiting threads' shootdowns took 15 s so).
bool g_busy = false;
void (*volatile g_function)(void*) = nullptr;
void* volatile g_argument = nullptr;
volatile unsigned g_pending = 0;
unsigned long long g_count = 0;

void on_remote_call(arch::TrapFrame*, void*) {
    g_function(g_argument);
    __atomic_fetch_sub(&g_pending, 1, __ATOMIC_RELEASE);
    arch::end_of_interrupt();
}

// Answers before it halts: on_remote_call's own answer, after the function, never comes.
void answer_and_halt(void*) {
    __atomic_fetch_sub(&g_pending, 1, __ATOMIC_RELEASE);
    arch::halt_forever();
}

}  // namespace

void init() { arch::set_interrupt_handler(arch::kVectorRemoteCallIpi, on_remote_call, nullptr); }

void on_cpus(const kstd::CpuMask& targets, void (*fn)(void* argument), void* argument) {
    if (!arch::save_and_disable_interrupts()) {
        for (unsigned i = 0; i < g_cpu_count; ++i)
            if (g_cpu_locals[i].online && &g_cpu_locals[i] != &this_cpu())
                panic("remote_call: called with interrupts disabled while other CPUs run");
        return;  // alone: nothing to call
    }
    while (__atomic_exchange_n(&g_busy, true, __ATOMIC_ACQUIRE)) {
        arch::restore_interrupts(true);
        while (__atomic_load_n(&g_busy, __ATOMIC_RELAXED)) arch::cpu_relax();
        arch::save_and_disable_interrupts();
    }
    // Interrupts off from here: this CPU is fixed, so is the set of others.
    const CpuLocal& self = this_cpu();
    unsigned others = 0;
    for (unsigned i = 0; i < g_cpu_count; ++i)
        others += g_cpu_locals[i].online && &g_cpu_locals[i] != &self && targets.contains(i);
    if (others != 0) {
        g_function = fn;
        g_argument = argument;
        __atomic_store_n(&g_pending, others, __ATOMIC_RELEASE);
        for (unsigned i = 0; i < g_cpu_count; ++i)
            if (g_cpu_locals[i].online && &g_cpu_locals[i] != &self && targets.contains(i))
                arch::send_ipi(g_cpu_locals[i].apic_id, arch::kVectorRemoteCallIpi);
        while (__atomic_load_n(&g_pending, __ATOMIC_ACQUIRE) != 0) arch::cpu_relax();
        ++g_count;
    }
    __atomic_store_n(&g_busy, false, __ATOMIC_RELEASE);
    arch::restore_interrupts(true);
}

void on_other_cpus(void (*fn)(void* argument), void* argument) { on_cpus(kstd::CpuMask::all(), fn, argument); }

unsigned halt_other_cpus() {
    // Every CPU is online by the time a process can ask for this, and none goes offline.
    unsigned others = 0;
    for (unsigned i = 0; i < g_cpu_count; ++i) others += g_cpu_locals[i].online;
    on_other_cpus(answer_and_halt, nullptr);
    return others - 1;
}

unsigned long long call_count() { return __atomic_load_n(&g_count, __ATOMIC_RELAXED); }

}  // namespace kernel::remote_call

// The lock checker (see lock_debug.hpp).
#include "lib/lock_debug.hpp"

#include "arch/arch.hpp"
#include "lib/panic.hpp"

namespace kernel {

const char* lock_level_name(LockLevel level) {
    switch (level) {
    case LockLevel::None: return "unordered";
    case LockLevel::ProcessTable: return "process table";
    case LockLevel::Process: return "process";
    case LockLevel::KernelStackSlots: return "kernel stack slots";
    case LockLevel::KernelStackMap: return "kernel page tables";
    case LockLevel::KernelHeap: return "kernel heap";
    case LockLevel::PhysicalMemory: return "physical memory";
    }
    return "?";
}

namespace lock_debug {

const char* violation_name(Violation violation) {
    switch (violation) {
    case Violation::None: return "none";
    case Violation::Recursion: return "takes a lock it already holds";
    case Violation::ForeignUnlock: return "releases a lock it does not hold";
    case Violation::InterruptsOn: return "has interrupts on while holding an IrqSpinLock";
    case Violation::SpinUnderIrqLock: return "takes a SpinLock while holding an IrqSpinLock";
    case Violation::Order: return "takes locks out of order";
    case Violation::TooDeep: return "holds too many locks at once";
    }
    return "?";
}

Tracker::CpuState* Tracker::state_of(const void* cpu) {
    // Per-CPU bases are distinct addresses: hash, then probe. A CPU claims its slot once; only
    // that CPU ever changes the slot's locks, so no lock guards them.
    size_t slot = (reinterpret_cast<uintptr_t>(cpu) >> 6) % kMaxTrackedCpus;
    for (unsigned probe = 0; probe < kMaxTrackedCpus; ++probe, slot = (slot + 1) % kMaxTrackedCpus) {
        CpuState& state = m_cpus[slot];
        const void* owner = __atomic_load_n(&state.cpu, __ATOMIC_ACQUIRE);
        if (owner == cpu) return &state;
        if (owner == nullptr) {
            const void* expected = nullptr;
            if (__atomic_compare_exchange_n(&state.cpu, &expected, cpu, false, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
                return &state;
            if (expected == cpu) return &state;
        }
    }
    return nullptr;
}

Report Tracker::check_order(CpuState& state, const void* lock, LockLevel level) {
    if (level == LockLevel::None) return {};
    for (unsigned i = 0; i < state.depth; ++i) {
        const HeldLock& held = state.held[i];
        if (held.level > level)
            return {Violation::Order, lock, level, held.lock, held.level};
    }
    return {};
}

Report Tracker::acquiring_irq_lock(const void* cpu, const void* lock, LockLevel level) {
    CpuState* state = state_of(cpu);
    if (!state) return {};
    for (unsigned i = 0; i < state->depth; ++i)
        if (state->held[i].lock == lock) return {Violation::Recursion, lock, level};
    if (state->depth == kMaxHeldPerCpu) return {Violation::TooDeep, lock, level};
    return check_order(*state, lock, level);
}

void Tracker::acquired_irq_lock(const void* cpu, const void* lock, LockLevel level) {
    CpuState* state = state_of(cpu);
    if (state && state->depth < kMaxHeldPerCpu) state->held[state->depth++] = {lock, level};
}

Report Tracker::releasing_irq_lock(const void* cpu, const void* lock, bool interrupts_enabled) {
    CpuState* state = state_of(cpu);
    if (!state) return {};
    for (unsigned i = state->depth; i-- > 0;) {
        if (state->held[i].lock != lock) continue;
        const LockLevel level = state->held[i].level;
        // Released in any order (a lock handed over across a task switch need not be the last).
        for (unsigned j = i + 1; j < state->depth; ++j) state->held[j - 1] = state->held[j];
        --state->depth;
        if (interrupts_enabled) return {Violation::InterruptsOn, lock, level};
        return {};
    }
    return {Violation::ForeignUnlock, lock};
}

Report Tracker::acquiring_spin_lock(const void* cpu, const void* lock, LockLevel level) {
    CpuState* state = state_of(cpu);
    if (!state) return {};
    if (state->depth > 0) return {Violation::SpinUnderIrqLock, lock, level, state->held[state->depth - 1].lock,
                                  state->held[state->depth - 1].level};
    return {};
}

unsigned Tracker::held_count(const void* cpu) {
    CpuState* state = state_of(cpu);
    return state ? state->depth : 0;
}

#if SABLE_LOCK_DEBUG
namespace {

Tracker g_tracker;
bool g_started = false;

[[noreturn]] void stop(const Report& report) {
    // panic() prints under the console's lock: no checking from here on.
    __atomic_store_n(&g_started, false, __ATOMIC_RELEASE);
    if (report.violation == Violation::Order)
        panic("lock check: this CPU %s: %s lock %p (level %u) while holding %s lock %p (level %u)",
              violation_name(report.violation), lock_level_name(report.level), report.lock,
              static_cast<unsigned>(report.level), lock_level_name(report.other_level), report.other,
              static_cast<unsigned>(report.other_level));
    if (report.violation == Violation::SpinUnderIrqLock)
        panic("lock check: this CPU %s: SpinLock %p while holding %s lock %p", violation_name(report.violation),
              report.lock, lock_level_name(report.other_level), report.other);
    panic("lock check: this CPU %s: %s lock %p", violation_name(report.violation), lock_level_name(report.level),
          report.lock);
}

bool interrupts_enabled_now() {
    const bool enabled = arch::save_and_disable_interrupts();
    arch::restore_interrupts(enabled);
    return enabled;
}

}  // namespace

void start() { __atomic_store_n(&g_started, true, __ATOMIC_RELEASE); }

// The IrqSpinLock hooks run with interrupts off (lock() turned them off first), so the task
// cannot move to another CPU between reading the per-CPU base and using it.
void on_irq_lock_acquire(const void* lock, LockLevel level) {
    if (!__atomic_load_n(&g_started, __ATOMIC_ACQUIRE)) return;
    const Report report = g_tracker.acquiring_irq_lock(arch::cpu_local_base(), lock, level);
    if (report.violation != Violation::None) stop(report);
}

void on_irq_lock_acquired(const void* lock, LockLevel level) {
    if (!__atomic_load_n(&g_started, __ATOMIC_ACQUIRE)) return;
    g_tracker.acquired_irq_lock(arch::cpu_local_base(), lock, level);
}

void on_irq_lock_release(const void* lock) {
    if (!__atomic_load_n(&g_started, __ATOMIC_ACQUIRE)) return;
    const Report report = g_tracker.releasing_irq_lock(arch::cpu_local_base(), lock, interrupts_enabled_now());
    if (report.violation != Violation::None) stop(report);
}

void on_spin_lock_acquire(const void* lock, LockLevel level) {
    if (!__atomic_load_n(&g_started, __ATOMIC_ACQUIRE)) return;
    // Interrupts off for the check only: otherwise the task could move to another CPU after
    // reading the base and see that CPU's locks as its own.
    const bool enabled = arch::save_and_disable_interrupts();
    const Report report = g_tracker.acquiring_spin_lock(arch::cpu_local_base(), lock, level);
    arch::restore_interrupts(enabled);
    if (report.violation != Violation::None) stop(report);
}

#endif  // SABLE_LOCK_DEBUG

}  // namespace lock_debug
}  // namespace kernel

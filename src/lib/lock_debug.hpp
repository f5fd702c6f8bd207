// The lock checker of the debug build (SABLE_LOCK_DEBUG=1, preset kernel-lockdebug): every
// IrqSpinLock and SpinLock reports to it, and it stops the kernel with a clear message the
// moment a rule is broken, instead of a deadlock or a lost update later on another CPU:
//
//   recursion       a CPU takes an IrqSpinLock it already holds (it would spin forever)
//   foreign unlock  a CPU releases an IrqSpinLock it does not hold
//   interrupts      interrupts came back on while this CPU holds an IrqSpinLock (an interrupt
//                   handler taking the same lock would spin forever)
//   spin under irq  a SpinLock is taken while this CPU holds an IrqSpinLock (a SpinLock holder
//                   may wait for other CPUs' acknowledgements, which needs interrupts on)
//   order           a lock with an order level is taken while this CPU holds one with a higher
//                   level (two CPUs taking two such locks in opposite orders deadlock)
//
// Levels (LockLevel) give the order of the locks that nest; a lock without one is still checked
// for everything else. The bookkeeping is per CPU, keyed by the per-CPU base, and starts once the
// boot CPU has one (start()); in the normal build none of it is compiled into the locks.
#pragma once

#include <stddef.h>
#include <stdint.h>

namespace kernel {

// Outer locks first: a CPU holding a lock may take only locks of a higher level.
enum class LockLevel : uint8_t {
    None = 0,
    ProcessTable = 10,    // the pid table (proc/process_table.hpp)
    Process = 20,         // one process's threads and mappings (proc/process.hpp)
    KernelStackSlots = 80,// the stack-slot bitmap (mm/kernel_stacks.cpp)
    KernelStackMap = 82,  // kernel page-table changes (mm/kernel_stacks.cpp)
    KernelHeap = 85,      // the kernel heap's slabs (mm/kernel_heap.cpp)
    PhysicalMemory = 90,  // the page-frame allocator (mm/physical_memory.cpp)
};

const char* lock_level_name(LockLevel level);

namespace lock_debug {

enum class Violation { None, Recursion, ForeignUnlock, InterruptsOn, SpinUnderIrqLock, Order, TooDeep };

inline constexpr unsigned kMaxHeldPerCpu = 16;
inline constexpr unsigned kMaxTrackedCpus = 512;  // slots for per-CPU bases (a power of two)

struct HeldLock {
    const void* lock;
    LockLevel level;
};

// What a check found, for the message (and for host tests, which call the checks directly).
struct Report {
    Violation violation = Violation::None;
    const void* lock = nullptr;
    LockLevel level = LockLevel::None;
    const void* other = nullptr;  // Order: the held lock of a higher level
    LockLevel other_level = LockLevel::None;
};

// The per-CPU state for the CPU whose per-CPU base is `cpu`. Portable and stateless apart from
// the table, so host tests drive it with made-up CPU keys.
class Tracker {
public:
    Report acquiring_irq_lock(const void* cpu, const void* lock, LockLevel level);
    void acquired_irq_lock(const void* cpu, const void* lock, LockLevel level);
    Report releasing_irq_lock(const void* cpu, const void* lock, bool interrupts_enabled);
    Report acquiring_spin_lock(const void* cpu, const void* lock, LockLevel level);
    unsigned held_count(const void* cpu);

private:
    struct CpuState {
        const void* cpu;  // key; nullptr = free slot
        unsigned depth;
        HeldLock held[kMaxHeldPerCpu];
    };
    CpuState* state_of(const void* cpu);
    Report check_order(CpuState& state, const void* lock, LockLevel level);

    CpuState m_cpus[kMaxTrackedCpus] = {};
};

// The kernel's one tracker, used by the lock hooks once start() ran.
void start();
void on_irq_lock_acquire(const void* lock, LockLevel level);
void on_irq_lock_acquired(const void* lock, LockLevel level);
void on_irq_lock_release(const void* lock);
void on_spin_lock_acquire(const void* lock, LockLevel level);
const char* violation_name(Violation violation);

}  // namespace lock_debug
}  // namespace kernel

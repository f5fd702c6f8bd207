// Spinlock that also disables interrupts on this CPU while held, so an interrupt handler taking
// the same lock cannot deadlock against the code it interrupted. Safe on SMP: the lock word is
// an atomic exchange, and waiters spin on a plain load to keep the cache line shared.
#pragma once

#include "arch/arch.hpp"
#include "lib/lock_debug.hpp"

// The debug build's lock checker (lib/lock_debug.hpp) hooks in here; elsewhere it costs nothing.
#ifndef SABLE_LOCK_DEBUG
#define SABLE_LOCK_DEBUG 0
#endif

namespace kernel {

// The checker's hooks: empty (and gone after inlining) unless the build asks for them.
namespace lock_hooks {
#if SABLE_LOCK_DEBUG
inline void irq_acquire(const void* lock, LockLevel level) { lock_debug::on_irq_lock_acquire(lock, level); }
inline void irq_acquired(const void* lock, LockLevel level) { lock_debug::on_irq_lock_acquired(lock, level); }
inline void irq_release(const void* lock) { lock_debug::on_irq_lock_release(lock); }
inline void spin_acquire(const void* lock) { lock_debug::on_spin_lock_acquire(lock, LockLevel::None); }
#else
inline void irq_acquire(const void*, LockLevel) {}
inline void irq_acquired(const void*, LockLevel) {}
inline void irq_release(const void*) {}
inline void spin_acquire(const void*) {}
#endif
}  // namespace lock_hooks

class IrqSpinLock {
public:
    constexpr IrqSpinLock() = default;
    // A lock that nests with others gets its place in the lock order (lib/lock_debug.hpp).
    constexpr explicit IrqSpinLock(LockLevel level) : m_level(level) {}

    // Returns the interrupt state to hand back to unlock().
    bool lock() {
        const bool were_enabled = arch::save_and_disable_interrupts();
        lock_interrupts_off();
        return were_enabled;
    }
    void unlock(bool were_enabled) {
        unlock_interrupts_off();
        arch::restore_interrupts(were_enabled);
    }

    // For a holder that turned interrupts off itself and keeps them off past the release (the
    // scheduler's switch path): the same lock, without saving and restoring the interrupt flag.
    void lock_interrupts_off() {
        lock_hooks::irq_acquire(this, level());
        // The contended wait behind an unlikely branch, so it is laid out off the straight path:
        // a loop there put its alignment padding (executed no-ops) on every acquisition.
        if (__builtin_expect(__atomic_exchange_n(&m_locked, true, __ATOMIC_ACQUIRE), false)) {
            do {
                while (__atomic_load_n(&m_locked, __ATOMIC_RELAXED)) arch::cpu_relax();
            } while (__atomic_exchange_n(&m_locked, true, __ATOMIC_ACQUIRE));
        }
        lock_hooks::irq_acquired(this, level());
    }
    void unlock_interrupts_off() {
        lock_hooks::irq_release(this);
        __atomic_store_n(&m_locked, false, __ATOMIC_RELEASE);
    }

private:
    LockLevel level() const { return m_level; }

    bool m_locked = false;
    LockLevel m_level = LockLevel::None;  // one byte beside the lock word; read only when checking
};

// Holds an IrqSpinLock in a scope where interrupts are already off and stay off.
class InterruptsOffLockGuard {
public:
    explicit InterruptsOffLockGuard(IrqSpinLock& lock) : m_lock(lock) { m_lock.lock_interrupts_off(); }
    ~InterruptsOffLockGuard() { m_lock.unlock_interrupts_off(); }
    InterruptsOffLockGuard(const InterruptsOffLockGuard&) = delete;
    InterruptsOffLockGuard& operator=(const InterruptsOffLockGuard&) = delete;

private:
    IrqSpinLock& m_lock;
};

class IrqLockGuard {
public:
    explicit IrqLockGuard(IrqSpinLock& lock) : m_lock(lock), m_were_enabled(lock.lock()) {}
    ~IrqLockGuard() { m_lock.unlock(m_were_enabled); }
    IrqLockGuard(const IrqLockGuard&) = delete;
    IrqLockGuard& operator=(const IrqLockGuard&) = delete;

private:
    IrqSpinLock& m_lock;
    bool m_were_enabled;
};

}  // namespace kernel

namespace kernel {

// A spinlock that leaves the interrupt flag alone: for code that may wait a long time for other
// CPUs (a TLB shootdown waits for their acknowledgements) and so must keep taking interrupts.
// Never take it in an interrupt handler.
class SpinLock {
public:
    void lock() {
        lock_hooks::spin_acquire(this);
        while (__atomic_exchange_n(&m_locked, true, __ATOMIC_ACQUIRE))
            while (__atomic_load_n(&m_locked, __ATOMIC_RELAXED)) arch::cpu_relax();
    }
    void unlock() { __atomic_store_n(&m_locked, false, __ATOMIC_RELEASE); }

private:
    bool m_locked = false;
};

class LockGuard {
public:
    explicit LockGuard(SpinLock& lock) : m_lock(lock) { m_lock.lock(); }
    ~LockGuard() { m_lock.unlock(); }
    LockGuard(const LockGuard&) = delete;
    LockGuard& operator=(const LockGuard&) = delete;

private:
    SpinLock& m_lock;
};

}  // namespace kernel

// The kernel's spinlocks (src/lib/spinlock.hpp) against the fake arch: the IRQ-safe lock turns the
// interrupt flag off while held and gives back the state it found, the plain lock leaves the flag
// alone, and a second locker waits until the holder lets go. A waiter is seen waiting by the
// pauses it makes (the fake counts arch::cpu_relax), never by timing.
#include "lib/spinlock.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <functional>
#include <thread>

#include "fake_arch/fake_arch.hpp"

namespace {

using kernel::InterruptsOffLockGuard;
using kernel::IrqLockGuard;
using kernel::IrqSpinLock;
using kernel::LockGuard;
using kernel::SpinLock;

class SpinLocks : public ::testing::Test {
protected:
    void SetUp() override { fake_arch::reset(); }
    void TearDown() override {
        EXPECT_TRUE(fake_arch::interrupts_enabled());
        EXPECT_EQ(fake_arch::disable_depth(), 0u);
    }
};

TEST_F(SpinLocks, AnIrqLockHoldsInterruptsOffAndRestoresThem) {
    IrqSpinLock lock;
    {
        IrqLockGuard guard(lock);
        EXPECT_FALSE(fake_arch::interrupts_enabled());
        EXPECT_EQ(fake_arch::disable_depth(), 1u);
    }
    EXPECT_TRUE(fake_arch::interrupts_enabled());
}

TEST_F(SpinLocks, NestedIrqLocksLeaveInterruptsOffUntilTheOuterOneIsReleased) {
    IrqSpinLock outer, inner;
    const bool outer_state = outer.lock();
    const bool inner_state = inner.lock();
    EXPECT_TRUE(outer_state);
    EXPECT_FALSE(inner_state) << "the inner lock found interrupts already off";
    inner.unlock(inner_state);
    EXPECT_FALSE(fake_arch::interrupts_enabled());
    outer.unlock(outer_state);
    EXPECT_TRUE(fake_arch::interrupts_enabled());
}

TEST_F(SpinLocks, APlainSpinLockLeavesTheInterruptFlagAlone) {
    SpinLock lock;
    {
        LockGuard guard(lock);
        EXPECT_TRUE(fake_arch::interrupts_enabled());
        EXPECT_EQ(fake_arch::disable_depth(), 0u);
    }
    EXPECT_TRUE(fake_arch::interrupts_enabled());
}

// A second thread locks while this one holds the lock: it must spin (pause at least once) and
// get in only after the unlock.
template <typename Lock, typename Guard>
void expect_waiter_waits_for_unlock(Lock& lock, const std::function<void()>& acquire,
                                    const std::function<void()>& release) {
    std::atomic<bool> inside{false};
    acquire();
    const uint64_t pauses = fake_arch::relax_count();
    std::thread waiter([&] {
        Guard guard(lock);
        inside = true;
    });
    // Either it spins, or (a broken lock) it gets in: the test fails then instead of hanging.
    while (fake_arch::relax_count() == pauses && !inside) std::this_thread::yield();
    EXPECT_FALSE(inside) << "got in while the lock was held";
    release();
    waiter.join();
    EXPECT_TRUE(inside);
}

TEST_F(SpinLocks, ASecondIrqLockerWaitsUntilTheHolderUnlocks) {
    IrqSpinLock lock;
    bool state = false;
    expect_waiter_waits_for_unlock<IrqSpinLock, IrqLockGuard>(
        lock, [&] { state = lock.lock(); }, [&] { lock.unlock(state); });
}

TEST_F(SpinLocks, ASecondPlainLockerWaitsUntilTheHolderUnlocks) {
    SpinLock lock;
    expect_waiter_waits_for_unlock<SpinLock, LockGuard>(lock, [&] { lock.lock(); }, [&] { lock.unlock(); });
}

TEST_F(SpinLocks, AnInterruptsOffHolderFindsInterruptsOffAfterTheRelease) {
    IrqSpinLock lock;
    const bool were_enabled = arch::save_and_disable_interrupts();
    {
        InterruptsOffLockGuard guard(lock);
        EXPECT_FALSE(fake_arch::interrupts_enabled());
        EXPECT_EQ(fake_arch::disable_depth(), 1u);  // its own disable only: the lock adds none
    }
    EXPECT_FALSE(fake_arch::interrupts_enabled());
    arch::restore_interrupts(were_enabled);
}

TEST_F(SpinLocks, AnInterruptsOffHolderExcludesAnIrqLocker) {
    IrqSpinLock lock;
    const bool were_enabled = arch::save_and_disable_interrupts();
    expect_waiter_waits_for_unlock<IrqSpinLock, IrqLockGuard>(
        lock, [&] { lock.lock_interrupts_off(); }, [&] { lock.unlock_interrupts_off(); });
    arch::restore_interrupts(were_enabled);
}

}  // namespace

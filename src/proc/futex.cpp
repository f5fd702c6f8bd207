// Futexes: a thread sleeps on a 32-bit word of its process's memory until another thread of
// the process wakes that word (the base of user-space mutexes and condition variables).
//
// Waiters hang in one of kBuckets lists, chosen by (process, address) and guarded by the
// bucket's lock. futex_wait compares the word with `expected` under that lock, so a waker that
// changes the word and then calls futex_wake (which takes the same lock) cannot slip between
// the check and the sleep: either the waiter sees the new value, or it is already listed.
//
// A waiter sleeps through the scheduler's timed sleep (forever without a timeout); the waker
// unlinks it, marks it woken and ends the sleep with tasks::interrupt_wait — all under the
// bucket lock, which the waiter takes again before it returns: the record on its stack and its
// task outlive every use by the waker.
#include "arch/arch.hpp"
#include "lib/clock.hpp"
#include "lib/spinlock.hpp"
#include "mm/user_memory.hpp"
#include "proc/process.hpp"
#include "sched/tasks.hpp"

namespace kernel::process {
namespace {

struct Waiter {
    const Process* process;
    uint64_t address;
    tasks::KernelTask* task;
    bool woken;
    Waiter* next;
};

struct Bucket {
    IrqSpinLock lock;
    Waiter* head = nullptr;
};

constexpr unsigned kBuckets = 64;
Bucket g_buckets[kBuckets];

Bucket& bucket_of(const Process* process, uint64_t address) {
    const uint64_t key = (reinterpret_cast<uint64_t>(process) >> 6) ^ (address >> 2);
    return g_buckets[(key * 0x9E3779B97F4A7C15ull) >> 58];  // the top 6 bits: 64 buckets
}
static_assert(kBuckets == 64, "bucket_of keeps 6 bits");

void unlink_locked(Bucket& bucket, Waiter* waiter) {
    for (Waiter** link = &bucket.head; *link; link = &(*link)->next) {
        if (*link == waiter) {
            *link = waiter->next;
            return;
        }
    }
}

bool waiter_done(void* context) {
    const auto* w = static_cast<const Waiter*>(context);
    return __atomic_load_n(&w->woken, __ATOMIC_ACQUIRE) || __atomic_load_n(&w->process->ending, __ATOMIC_ACQUIRE) != 0 ||
           __atomic_load_n(&w->process->kill_reason, __ATOMIC_ACQUIRE) != 0;
}

// A timed wait, against the clock rather than ticks: a host that stalls the guest delivers late
// ticks in a burst, and counting ticks alone could end the wait early. Out of line: the untimed
// wait (every mutex and condition variable) does not carry it.
[[gnu::noinline]] void sleep_until_timeout(Waiter& waiter, uint64_t timeout_ms) {
    if (timeout_ms > ~0ull / 1000000 - 1) timeout_ms = ~0ull / 1000000 - 1;
    const uint64_t deadline = clock::ns_since_boot() + timeout_ms * 1000000;
    for (uint64_t now = clock::ns_since_boot(); now < deadline && !waiter_done(&waiter); now = clock::ns_since_boot())
        tasks::sleep_ms_unless((deadline - now + 999999) / 1000000, waiter_done, &waiter);
}

bool valid_word(uint64_t user_address) {
    return (user_address & 3) == 0 && user_memory::range_ok(user_address, sizeof(uint32_t));
}

}  // namespace

int64_t futex_wait(uint64_t user_address, uint32_t expected, uint64_t timeout_ms) {
    Process* self = current();
    if (user_address & 3) return -SABLE_EINVAL;
    if (!valid_word(user_address)) return -SABLE_EFAULT;
    Bucket& bucket = bucket_of(self, user_address);
    Waiter waiter{self, user_address, tasks::current(), false, nullptr};
    {
        IrqLockGuard guard(bucket.lock);
        // Read under the lock (a page fault here commits a stack page as anywhere else).
        uint32_t value;
        if (!user_memory::copy_from(&value, user_address, sizeof(value))) return -SABLE_EFAULT;
        if (value != expected) return -SABLE_EAGAIN;
        if (timeout_ms == 0) return -SABLE_ETIMEDOUT;
        waiter.next = bucket.head;
        bucket.head = &waiter;
    }
    if (timeout_ms == SABLE_FUTEX_FOREVER) tasks::sleep_ms_unless(tasks::kForever, waiter_done, &waiter);
    else sleep_until_timeout(waiter, timeout_ms);
    IrqLockGuard guard(bucket.lock);
    if (waiter.woken) return 0;
    unlink_locked(bucket, &waiter);
    return current_killed() ? -SABLE_EINTR : -SABLE_ETIMEDOUT;
}

int64_t futex_wake(uint64_t user_address, uint32_t count) {
    Process* self = current();
    if (user_address & 3) return -SABLE_EINVAL;
    if (!valid_word(user_address)) return -SABLE_EFAULT;
    Bucket& bucket = bucket_of(self, user_address);
    IrqLockGuard guard(bucket.lock);
    // Oldest first: the list is newest first, so collect the matches, then wake from the end.
    uint32_t matches = 0;
    for (Waiter* w = bucket.head; w; w = w->next) matches += w->process == self && w->address == user_address;
    uint32_t skip = matches > count ? matches - count : 0, woken = 0;
    for (Waiter* w = bucket.head; w;) {
        Waiter* next = w->next;
        if (w->process == self && w->address == user_address) {
            if (skip) {
                --skip;
            } else {
                unlink_locked(bucket, w);
                __atomic_store_n(&w->woken, true, __ATOMIC_RELEASE);
                tasks::interrupt_wait(w->task);
                ++woken;
            }
        }
        w = next;
    }
    return woken;
}

}  // namespace kernel::process

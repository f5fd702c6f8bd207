// pthread.h on Sable's thread and futex calls. The mutex is the three-state futex mutex
// (unlocked / locked / locked with waiters): an uncontended lock or unlock is one atomic
// instruction and no system call; only a contended one sleeps in futex_wait or calls futex_wake.
#include <errno.h>
#include <pthread.h>
#include <sable/sys.h>
#include <stdlib.h>
#include <unistd.h>

namespace {

constexpr uint32_t kUnlocked = 0, kLocked = 1, kContended = 2;

// Raw calls: a lock or a wait that sleeps must not change the caller's errno.
void wait_on(uint32_t* word, uint32_t expected) {
    sable_syscall3(SYS_FUTEX_WAIT, reinterpret_cast<long>(word), expected, static_cast<long>(SABLE_FUTEX_FOREVER));
}
void wake(uint32_t* word, uint32_t count) { sable_syscall2(SYS_FUTEX_WAKE, reinterpret_cast<long>(word), count); }

uint32_t compare_exchange(uint32_t* word, uint32_t expected, uint32_t desired) {
    __atomic_compare_exchange_n(word, &expected, desired, false, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED);
    return expected;  // the value seen
}

struct StartBlock {
    void* (*start)(void*);
    void* argument;
};

// Every pthread begins here (the kernel enters with rdi = the start block).
void thread_start(uint64_t block_address) {
    auto* block = reinterpret_cast<StartBlock*>(block_address);
    const StartBlock copy = *block;
    free(block);
    pthread_exit(copy.start(copy.argument));
}

}  // namespace

extern "C" {

int pthread_create(pthread_t* thread, const void* attributes, void* (*start)(void*), void* argument) {
    if (attributes) return EINVAL;
    auto* block = static_cast<StartBlock*>(malloc(sizeof(StartBlock)));
    if (!block) return EAGAIN;
    *block = {start, argument};
    const int tid = thread_create(thread_start, reinterpret_cast<uint64_t>(block));
    if (tid < 0) {
        free(block);
        return errno;
    }
    *thread = tid;
    return 0;
}

int pthread_join(pthread_t thread, void** result) {
    uint64_t value = 0;
    if (thread_join(thread, &value) < 0) return errno;
    if (result) *result = reinterpret_cast<void*>(value);
    return 0;
}

void pthread_exit(void* result) { thread_exit(reinterpret_cast<uint64_t>(result)); }

pthread_t pthread_self(void) { return gettid(); }

int pthread_mutex_init(pthread_mutex_t* mutex, const void* attributes) {
    if (attributes) return EINVAL;
    mutex->state = kUnlocked;
    return 0;
}

int pthread_mutex_destroy(pthread_mutex_t*) { return 0; }

int pthread_mutex_lock(pthread_mutex_t* mutex) {
    uint32_t seen = compare_exchange(&mutex->state, kUnlocked, kLocked);
    if (seen == kUnlocked) return 0;
    // Contended: mark it so the holder's unlock wakes someone, and sleep until it is ours.
    if (seen != kContended) seen = __atomic_exchange_n(&mutex->state, kContended, __ATOMIC_ACQUIRE);
    while (seen != kUnlocked) {
        wait_on(&mutex->state, kContended);
        seen = __atomic_exchange_n(&mutex->state, kContended, __ATOMIC_ACQUIRE);
    }
    return 0;
}

int pthread_mutex_trylock(pthread_mutex_t* mutex) {
    return compare_exchange(&mutex->state, kUnlocked, kLocked) == kUnlocked ? 0 : EBUSY;
}

int pthread_mutex_unlock(pthread_mutex_t* mutex) {
    if (__atomic_fetch_sub(&mutex->state, 1, __ATOMIC_RELEASE) != kLocked) {
        __atomic_store_n(&mutex->state, kUnlocked, __ATOMIC_RELEASE);
        wake(&mutex->state, 1);
    }
    return 0;
}

int pthread_cond_init(pthread_cond_t* cond, const void* attributes) {
    if (attributes) return EINVAL;
    cond->sequence = 0;
    return 0;
}

int pthread_cond_destroy(pthread_cond_t*) { return 0; }

int pthread_cond_wait(pthread_cond_t* cond, pthread_mutex_t* mutex) {
    // A signal after the sequence is read changes it, so the futex_wait returns at once.
    const uint32_t sequence = __atomic_load_n(&cond->sequence, __ATOMIC_ACQUIRE);
    pthread_mutex_unlock(mutex);
    wait_on(&cond->sequence, sequence);
    // Relock as contended: other waiters woken with us must be woken in turn by our unlock.
    while (__atomic_exchange_n(&mutex->state, kContended, __ATOMIC_ACQUIRE) != kUnlocked)
        wait_on(&mutex->state, kContended);
    return 0;
}

int pthread_cond_signal(pthread_cond_t* cond) {
    __atomic_fetch_add(&cond->sequence, 1, __ATOMIC_RELEASE);
    wake(&cond->sequence, 1);
    return 0;
}

int pthread_cond_broadcast(pthread_cond_t* cond) {
    __atomic_fetch_add(&cond->sequence, 1, __ATOMIC_RELEASE);
    wake(&cond->sequence, ~0u);
    return 0;
}

}  // extern "C"

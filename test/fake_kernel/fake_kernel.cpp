// Host stand-ins for kernel services (see fake_kernel.hpp).
#include "fake_kernel.hpp"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <atomic>
#include <condition_variable>
#include <map>
#include <mutex>
#include <new>

#include "fake_arch/fake_arch.hpp"
#include "lib/console.hpp"
#include "lib/panic.hpp"
#include "mm/kernel_heap.hpp"
#include "sched/tasks.hpp"

namespace {

// One lock and condition for all wait queues: a waker bumps its queue's generation under it,
// a waiter sleeps until its queue's generation moves or its condition holds.
std::mutex g_wait_mutex;
std::condition_variable g_wait_condition;
std::map<const void*, uint64_t> g_generation;
std::map<const void*, uint64_t> g_waiting;
uint64_t g_blocks = 0;

std::recursive_mutex g_console_mutex;  // a Hold may print
std::string g_console;

constexpr int64_t kUnlimited = -1;
std::atomic<int64_t> g_allocations_left{kUnlimited};

// False when the test made memory run out (fail_allocations_after).
bool may_allocate() {
    int64_t left = g_allocations_left.load();
    while (left != kUnlimited) {
        if (left == 0) return false;
        if (g_allocations_left.compare_exchange_weak(left, left - 1)) return true;
    }
    return true;
}

}  // namespace

namespace fake_kernel {

std::string console_output() {
    std::lock_guard lock(g_console_mutex);
    return g_console;
}

void clear_console_output() {
    std::lock_guard lock(g_console_mutex);
    g_console.clear();
}

uint64_t blocks() {
    std::lock_guard lock(g_wait_mutex);
    return g_blocks;
}

void fail_allocations_after(uint64_t successes) { g_allocations_left = static_cast<int64_t>(successes); }
void allow_allocations() { g_allocations_left = kUnlimited; }

}  // namespace fake_kernel

namespace kernel::tasks {

// As the kernel composes it: the condition is checked between the two halves, under the lock.
void block_unless(WaitQueue& queue, bool (*satisfied)(void* context), void* context) {
    const bool were_enabled = begin_block(queue);
    finish_block(queue, satisfied && satisfied(context), were_enabled);
}

void block_on(WaitQueue& queue) { block_unless(queue, nullptr, nullptr); }

// block_until's halves: the global wait lock is held from begin_block to finish_block, as the
// kernel holds the queue's lock while the caller checks its condition in between. As the kernel
// does (tasks::nobody_blocking), the block is announced with a full barrier before the check, so
// wakers that skip an empty queue are tested against real threads.
bool begin_block(WaitQueue& queue) {
    if (!fake_arch::interrupts_enabled()) {
        fprintf(stderr, "fake kernel: a task blocked with interrupts off (holding a spinlock?)\n");
        abort();
    }
    g_wait_mutex.lock();
    __atomic_fetch_add(&queue.blocking, 1, __ATOMIC_SEQ_CST);
    return true;
}

void finish_block(WaitQueue& queue, bool satisfied, bool) {
    std::unique_lock lock(g_wait_mutex, std::adopt_lock);
    if (satisfied) {
        __atomic_fetch_sub(&queue.blocking, 1, __ATOMIC_RELAXED);
        return;
    }
    const uint64_t generation = g_generation[&queue];
    ++g_waiting[&queue];
    ++g_blocks;
    g_wait_condition.wait(lock, [&] { return g_generation[&queue] != generation; });
    --g_waiting[&queue];
    __atomic_fetch_sub(&queue.blocking, 1, __ATOMIC_RELAXED);
}

uint64_t wake_all_blocking(WaitQueue& queue) {
    std::lock_guard lock(g_wait_mutex);
    const uint64_t woken = g_waiting[&queue];
    ++g_generation[&queue];
    g_wait_condition.notify_all();
    return woken;
}

bool wake_one_blocking(WaitQueue& queue) { return wake_all_blocking(queue) > 0; }

uint64_t waiting_count(WaitQueue& queue) {
    std::lock_guard lock(g_wait_mutex);
    return g_waiting[&queue];
}

}  // namespace kernel::tasks

namespace console {

Hold::Hold() : m_interrupts_were_enabled(true) { g_console_mutex.lock(); }
Hold::~Hold() { g_console_mutex.unlock(); }

void Sink::flush() {
    g_console.append(m_buffer, m_used);  // the Sink holds the console
    m_used = 0;
}

bool seize_for_panic() { return false; }

void write(const char* text, size_t length) {
    std::lock_guard lock(g_console_mutex);
    g_console.append(text, length);
}

void vprint(const char* format, va_list args) {
    char line[1024];
    vsnprintf(line, sizeof(line), format, args);
    write(line, strlen(line));
}

void print(const char* format, ...) {
    va_list args;
    va_start(args, format);
    vprint(format, args);
    va_end(args);
}

}  // namespace console

void panic(const char* format, ...) {
    va_list args;
    va_start(args, format);
    fprintf(stderr, "PANIC: ");
    vfprintf(stderr, format, args);
    fprintf(stderr, "\n");
    va_end(args);
    abort();
}

// The kernel's allocation forms, on the host's heap (ASan watches them).
void* operator new(size_t size_bytes, const kstd::NoThrow&) noexcept {
    return may_allocate() ? ::operator new(size_bytes, std::nothrow) : nullptr;
}
void* operator new[](size_t size_bytes, const kstd::NoThrow&) noexcept {
    return may_allocate() ? ::operator new[](size_bytes, std::nothrow) : nullptr;
}

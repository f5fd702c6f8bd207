// Threads of a process (see process.hpp and docs/userspace.md): tasks that share the process's
// page tables, each with its own kernel stack and its own demand-grown user stack slot.
#include "arch/arch.hpp"
#include "lib/spinlock.hpp"
#include "mm/kernel_heap.hpp"
#include "mm/user_memory.hpp"
#include "proc/process.hpp"

namespace kernel::process {
namespace {

constexpr uint64_t kPageSize = mm::kPageSize;

struct ThreadStart {
    uint64_t entry, user_rsp, argument;
};

uint64_t build_thread_frame(uint64_t stack_top, void* context) {
    const auto* start = static_cast<const ThreadStart*>(context);
    return arch::build_user_task_frame(stack_top, start->entry, start->user_rsp, start->argument, 0);
}

bool slot_used(const Process& process, unsigned slot) { return (process.stack_slots[slot / 64] >> (slot % 64)) & 1; }
void set_slot(Process& process, unsigned slot, bool used) {
    if (used) process.stack_slots[slot / 64] |= 1ull << (slot % 64);
    else process.stack_slots[slot / 64] &= ~(1ull << (slot % 64));
}

// Under the process lock: unlinks `thread` from its process's list.
void unlink_locked(Process& process, Thread* thread) {
    for (Thread** link = &process.threads; *link; link = &(*link)->next) {
        if (*link == thread) {
            *link = thread->next;
            return;
        }
    }
}

// Undoes a thread that never ran: its stack pages, slot and list entry.
void discard_thread(Process& process, Thread* thread) {
    const user_memory::StackRegion stack = user_memory::thread_stack_region(static_cast<unsigned>(thread->stack_slot));
    unmap_range(process, stack.bottom, stack.top);
    {
        IrqLockGuard guard(process.lock);
        unlink_locked(process, thread);
        set_slot(process, static_cast<unsigned>(thread->stack_slot), false);
    }
    delete thread;
}

}  // namespace

int64_t thread_create(uint64_t user_entry, uint64_t argument) {
    Process* self = current();
    if (!user_memory::range_ok(user_entry, 1)) return -SABLE_EFAULT;
    auto* thread = new (kstd::nothrow) Thread{};
    if (!thread) return -SABLE_ENOMEM;
    thread->process = self;
    thread->stack_slot = -1;
    {
        IrqLockGuard guard(self->lock);
        if (self->live_threads >= SABLE_MAX_THREADS) {
            delete thread;
            return -SABLE_EAGAIN;
        }
        for (unsigned slot = 0; slot < SABLE_MAX_THREADS - 1; ++slot) {
            if (slot_used(*self, slot)) continue;
            set_slot(*self, slot, true);
            thread->stack_slot = static_cast<int32_t>(slot);
            break;
        }
        if (thread->stack_slot < 0) {  // every slot held by exited threads not yet joined
            delete thread;
            return -SABLE_EAGAIN;
        }
        thread->tid = self->next_tid++;
        thread->next = self->threads;
        self->threads = thread;
    }
    // The top pages of its stack region are committed now, like the main thread's; the rest on
    // first touch. The zeroed word below the thread block is entry's return address: returning
    // faults.
    const user_memory::StackRegion stack = user_memory::thread_stack_region(static_cast<unsigned>(thread->stack_slot));
    for (unsigned page = 1; page <= user_memory::kInitialStackPages; ++page) {
        bool mapped;
        {
            IrqLockGuard guard(self->lock);
            mapped = user_memory::map_new_page(self->space, stack.top - page * kPageSize, mm::kPageWritable) != 0;
            if (mapped) ++self->user_pages;
        }
        if (!mapped) {
            discard_thread(*self, thread);
            return -SABLE_ENOMEM;
        }
    }
    const int32_t tid = thread->tid;
    // rsp % 16 == 8, as just after a call, below libc's thread block.
    ThreadStart start{user_entry, stack.top - SABLE_THREAD_BLOCK_SIZE - 8, argument};
    const int64_t started =
        start_thread_task(*self, *thread, build_thread_frame, &start, tasks::current()->sched.affinity);
    if (started < 0) {
        discard_thread(*self, thread);
        return started;
    }
    return tid;
}

void thread_exit(uint64_t value) {
    Thread* self = current_thread();
    Process& process = *self->process;
    self->exit_value = value;
    // Its stack goes now unless the whole process goes with it (the last thread, or ending).
    const bool alone = __atomic_load_n(&process.live_threads, __ATOMIC_ACQUIRE) == 1;
    if (self->stack_slot >= 0 && !alone && !__atomic_load_n(&process.ending, __ATOMIC_ACQUIRE)) {
        const user_memory::StackRegion stack = user_memory::thread_stack_region(static_cast<unsigned>(self->stack_slot));
        unmap_range(process, stack.bottom, stack.top);
        IrqLockGuard guard(process.lock);
        set_slot(process, static_cast<unsigned>(self->stack_slot), false);
        self->stack_slot = -1;
    }
    leave_thread();
}

int64_t thread_join(int32_t tid, uint64_t user_value) {
    Thread* me = current_thread();
    Process& process = *me->process;
    if (tid == me->tid) return -SABLE_EDEADLK;
    if (user_value && !user_memory::range_ok(user_value, sizeof(uint64_t))) return -SABLE_EFAULT;
    Thread* target = nullptr;
    {
        IrqLockGuard guard(process.lock);
        for (Thread* thread = process.threads; thread; thread = thread->next)
            if (thread->tid == tid) target = thread;
        if (!target) return -SABLE_ESRCH;
        if (target->join_claimed) return -SABLE_EINVAL;
        target->join_claimed = true;
    }
    struct Condition {
        Thread* target;
        Process* process;
    } condition{target, &process};
    // Every thread's exit wakes every joiner of the process: wait until it is this one's.
    auto done = [](void* context) {
        const auto* c = static_cast<const Condition*>(context);
        return __atomic_load_n(&c->target->exited, __ATOMIC_ACQUIRE) || current_killed();
    };
    while (!done(&condition)) tasks::block_unless(process.thread_events, done, &condition);
    uint64_t value;
    {
        IrqLockGuard guard(process.lock);
        if (!target->exited) {
            target->join_claimed = false;  // killed meanwhile: the caller leaves
            return -SABLE_EINTR;
        }
        value = target->exit_value;
        unlink_locked(process, target);
        if (target->stack_slot >= 0) set_slot(process, static_cast<unsigned>(target->stack_slot), false);
    }
    if (target != &process.main_thread) delete target;
    if (user_value && !user_memory::copy_to(user_value, &value, sizeof(value))) return -SABLE_EFAULT;
    return 0;
}

int64_t thread_list(uint64_t user_out, uint64_t max) {
    constexpr uint64_t kMaxReported = 1024;
    if (max > kMaxReported) max = kMaxReported;
    if (max && !user_memory::range_ok(user_out, max * sizeof(sable_thread_info))) return -SABLE_EFAULT;
    struct Listing {
        sable_thread_info* infos;
        uint64_t max, count;
    } listing{nullptr, max, 0};
    if (max) {
        listing.infos = static_cast<sable_thread_info*>(kmalloc(sizeof(sable_thread_info) * max));
        if (!listing.infos) return -SABLE_ENOMEM;
    }
    for_each_process_locked(
        [](Process& p, void* context) {
            auto* out = static_cast<Listing*>(context);
            if (p.state != State::Alive) return true;
            IrqLockGuard guard(p.lock);
            for (const Thread* thread = p.threads; thread; thread = thread->next) {
                if (!thread->task) continue;
                if (out->count < out->max)
                    out->infos[out->count] = {p.pid, thread->tid, state_of(*thread->task), thread->task->sched.cpu,
                                              thread->task->sched.runtime_ticks};
                ++out->count;
            }
            return true;
        },
        &listing);
    const uint64_t reported = listing.count < max ? listing.count : max;
    const bool copied =
        reported == 0 || user_memory::copy_to(user_out, listing.infos, reported * sizeof(sable_thread_info));
    kfree(listing.infos);
    return copied ? static_cast<int64_t>(listing.count) : -SABLE_EFAULT;
}

}  // namespace kernel::process

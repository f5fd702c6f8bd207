// The system-call table (numbers and semantics: src/user/include/sable/abi.h, docs/syscalls.md).
// syscall_dispatch runs on the calling task's kernel stack with interrupts on; the arch layer
// built the frame and returns with SYSRET (or IRETQ) when this returns.
#include <sable/abi.h>

#include "arch/arch.hpp"
#include "lib/clock.hpp"
#include "sched/cpu_local.hpp"
#include "proc/files.hpp"
#include "mm/kernel_stacks.hpp"
#include "mm/physical_memory.hpp"
#include "proc/process.hpp"
#include "proc/programs.hpp"
#include "sched/tasks.hpp"
#include "mm/user_memory.hpp"
#include "smp/power.hpp"

namespace kernel::syscalls {
namespace {

using process::Process;

// The descriptor table is shared by the process's threads: lookups hold a reference for the
// length of the call (process::get_file), changes are made under the process lock.

int64_t sys_read(Process& self, uint64_t fd, uint64_t buffer, uint64_t size) {
    const process::FileRef ref = process::get_file(self, fd);
    if (!ref.file) return -SABLE_EBADF;
    const int64_t result = files::read(ref.file, buffer, size, process::interruption());
    process::put_file(ref);
    return result;
}

int64_t sys_write(Process& self, uint64_t fd, uint64_t buffer, uint64_t size) {
    const process::FileRef ref = process::get_file(self, fd);
    if (!ref.file) return -SABLE_EBADF;
    const int64_t result = files::write(ref.file, buffer, size, process::interruption());
    process::put_file(ref);
    return result;
}

int64_t sys_pipe(Process& self, uint64_t user_fds) {
    if (!user_memory::range_ok(user_fds, 2 * sizeof(int32_t))) return -SABLE_EFAULT;
    files::File* read_end;
    files::File* write_end;
    if (!files::create_pipe(read_end, write_end)) return -SABLE_ENOMEM;
    int32_t fds[2] = {-1, -1};
    {
        IrqLockGuard guard(self.lock);
        for (int32_t fd = 0, found = 0; fd < SABLE_MAX_FDS && found < 2; ++fd)
            if (!self.fds[fd]) fds[found++] = fd;
        if (fds[1] >= 0) {
            self.fds[fds[0]] = read_end;
            self.fds[fds[1]] = write_end;
        }
    }
    if (fds[1] < 0) {
        files::release(read_end);
        files::release(write_end);
        return -SABLE_EMFILE;
    }
    if (!user_memory::copy_to(user_fds, fds, sizeof(fds))) {
        // Undo, unless another thread closed them meanwhile (then they are its business).
        files::File* taken[2] = {};
        {
            IrqLockGuard guard(self.lock);
            for (unsigned i = 0; i < 2; ++i) {
                if (self.fds[fds[i]] == (i == 0 ? read_end : write_end)) {
                    taken[i] = self.fds[fds[i]];
                    self.fds[fds[i]] = nullptr;
                }
            }
        }
        for (files::File* file : taken)
            if (file) files::release(file);
        return -SABLE_EFAULT;
    }
    return 0;
}

int64_t sys_close(Process& self, uint64_t fd) {
    if (fd >= SABLE_MAX_FDS) return -SABLE_EBADF;
    files::File* file;
    {
        IrqLockGuard guard(self.lock);
        file = self.fds[fd];
        self.fds[fd] = nullptr;
    }
    if (!file) return -SABLE_EBADF;
    files::release(file);
    return 0;
}

int64_t sys_dup2(Process& self, uint64_t old_fd, uint64_t new_fd) {
    if (old_fd >= SABLE_MAX_FDS || new_fd >= SABLE_MAX_FDS) return -SABLE_EBADF;
    files::File* previous = nullptr;
    {
        IrqLockGuard guard(self.lock);
        files::File* file = self.fds[old_fd];
        if (!file) return -SABLE_EBADF;
        if (old_fd == new_fd) return static_cast<int64_t>(new_fd);
        previous = self.fds[new_fd];
        self.fds[new_fd] = files::retain(file);
    }
    if (previous) files::release(previous);
    return static_cast<int64_t>(new_fd);
}

int64_t sys_sleep_ms(uint64_t milliseconds) {
    // One sleep, ended early by a kill (process::kill wakes the sleeper); measured against one
    // deadline so a wake-up that is not a kill sleeps only the rest.
    if (milliseconds > ~0ull / 1000000 - 1) milliseconds = ~0ull / 1000000 - 1;
    const uint64_t deadline = clock::ns_since_boot() + milliseconds * 1000000;
    for (uint64_t now = clock::ns_since_boot(); now < deadline; now = clock::ns_since_boot()) {
        const uint64_t rest_ms = (deadline - now + 999999) / 1000000;
        if (tasks::sleep_ms_unless(rest_ms, [](void*) { return process::current_killed(); }, nullptr))
            return -SABLE_EINTR;
    }
    return process::current_killed() ? -SABLE_EINTR : 0;
}

int64_t sys_getcpu() {
    const bool were_enabled = arch::save_and_disable_interrupts();
    const unsigned index = this_cpu().index;
    arch::restore_interrupts(were_enabled);
    return index;
}

int64_t sys_set_affinity(uint64_t mask) {
    // The ABI's mask covers CPUs 0..63; 0 and all ones mean every CPU.
    const uint64_t words[kstd::CpuMask::kWords] = {mask};
    const kstd::CpuMask cpus = mask == 0 || mask == ~0ull ? kstd::CpuMask::all() : kstd::CpuMask::from_words(words);
    return tasks::set_current_affinity(cpus) ? 0 : -SABLE_EINVAL;
}

int64_t sys_meminfo(uint64_t user_out) {
    sable_meminfo info{};
    info.free = physical_memory::count(mm::PageState::Free);
    info.kernel = physical_memory::count(mm::PageState::Kernel);
    info.stack = physical_memory::count(mm::PageState::Stack);
    info.heap = physical_memory::count(mm::PageState::Heap);
    info.page_table = physical_memory::count(mm::PageState::PageTable);
    info.user = physical_memory::count(mm::PageState::User);
    info.firmware = physical_memory::count(mm::PageState::Firmware);
    info.absent = physical_memory::count(mm::PageState::Absent);
    info.page_size = mm::kPageSize;
    info.shared = physical_memory::shared_count();
    info.kept_page_tables = kernel_stack_page_tables();
    return user_memory::copy_to(user_out, &info, sizeof(info)) ? 0 : -SABLE_EFAULT;
}

int64_t sys_cpu_info(uint64_t user_out, uint64_t max) {
    constexpr uint64_t kBatch = 16;
    if (max > kMaxCpus) max = kMaxCpus;  // also keeps max * size from wrapping
    if (max && !user_memory::range_ok(user_out, max * sizeof(sable_cpu_info))) return -SABLE_EFAULT;
    uint64_t online = 0, reported = 0;
    sable_cpu_info batch[kBatch];
    unsigned in_batch = 0;
    for (unsigned i = 0; i < g_cpu_count; ++i) {
        const CpuLocal& cpu = g_cpu_locals[i];
        if (!cpu.online) continue;
        ++online;
        if (reported + in_batch >= max) continue;
        batch[in_batch++] = {i, cpu.apic_id, __atomic_load_n(&cpu.ticks, __ATOMIC_RELAXED), tasks::ready_count(i),
                             tasks::idle_now(i) ? 1ull : 0ull};
        if (in_batch == kBatch) {
            if (!user_memory::copy_to(user_out + reported * sizeof(sable_cpu_info), batch, sizeof(batch)))
                return -SABLE_EFAULT;
            reported += in_batch;
            in_batch = 0;
        }
    }
    if (in_batch && !user_memory::copy_to(user_out + reported * sizeof(sable_cpu_info), batch,
                                          in_batch * sizeof(sable_cpu_info)))
        return -SABLE_EFAULT;
    return static_cast<int64_t>(online);
}

int64_t sys_program_list(uint64_t user_buffer, uint64_t size) {
    // The whole buffer first, as for every call: the names are copied one by one, and without
    // this a buffer running past the end of a window was written up to that end (at the top of
    // the low window, the caller's own stack) before the copy that crossed it failed.
    if (!user_memory::range_ok(user_buffer, size)) return -SABLE_EFAULT;
    uint64_t written = 0;
    for (size_t i = 0; i < programs::count(); ++i) {
        const char* name = programs::at(i).name;
        uint64_t length = 0;
        while (name[length]) ++length;
        if (written + length + 1 > size) return -SABLE_EINVAL;
        if (!user_memory::copy_to(user_buffer + written, name, length)) return -SABLE_EFAULT;
        const char newline = '\n';
        if (!user_memory::copy_to(user_buffer + written + length, &newline, 1)) return -SABLE_EFAULT;
        written += length + 1;
    }
    return static_cast<int64_t>(written);
}

// Any process may: see docs/syscalls.md (no users or privileges yet; the console's user owns the
// machine). Both never return.
int64_t sys_reboot(uint64_t how) {
    if (how == SABLE_REBOOT_RESTART) power::restart();
    if (how == SABLE_REBOOT_POWER_OFF) power::power_off();
    return -SABLE_EINVAL;
}

}  // namespace
}  // namespace kernel::syscalls

extern "C" void syscall_dispatch(arch::TrapFrame* frame) {
    using namespace kernel;
    using namespace kernel::syscalls;
    process::Process* self = process::current();
    const uint64_t a0 = arch::syscall_argument(frame, 0), a1 = arch::syscall_argument(frame, 1),
                   a2 = arch::syscall_argument(frame, 2);
    int64_t result;
    switch (arch::syscall_number(frame)) {
    case SYS_EXIT: process::exit_current(static_cast<int32_t>(a0 & 0xff));
    case SYS_GETPID: result = self->pid; break;
    case SYS_GETPPID: result = self->parent ? self->parent->pid : 0; break;
    case SYS_YIELD: tasks::yield(); result = 0; break;
    case SYS_FORK: result = process::fork(frame); break;
    case SYS_WAITPID: result = process::waitpid(static_cast<int32_t>(a0), a1, static_cast<uint32_t>(a2)); break;
    case SYS_SPAWN: result = process::spawn(a0, a1, a2); break;
    case SYS_SLEEP_MS: result = sys_sleep_ms(a0); break;
    case SYS_READ: result = sys_read(*self, a0, a1, a2); break;
    case SYS_WRITE: result = sys_write(*self, a0, a1, a2); break;
    case SYS_PIPE: result = sys_pipe(*self, a0); break;
    case SYS_CLOSE: result = sys_close(*self, a0); break;
    case SYS_DUP2: result = sys_dup2(*self, a0, a1); break;
    case SYS_BRK: result = process::brk(a0); break;
    case SYS_CLOCK_NS: result = static_cast<int64_t>(clock::ns_since_boot()); break;
    case SYS_GETCPU: result = sys_getcpu(); break;
    case SYS_SET_AFFINITY: result = sys_set_affinity(a0); break;
    case SYS_KILL: result = process::kill(static_cast<int32_t>(a0)); break;
    case SYS_PROCESS_LIST: result = process::process_list(a0, a1); break;
    case SYS_MEMINFO: result = sys_meminfo(a0); break;
    case SYS_CPU_INFO: result = sys_cpu_info(a0, a1); break;
    case SYS_PROGRAM_LIST: result = sys_program_list(a0, a1); break;
    case SYS_THREAD_CREATE: result = process::thread_create(a0, a1); break;
    case SYS_THREAD_EXIT: process::thread_exit(a0);
    case SYS_THREAD_JOIN: result = process::thread_join(static_cast<int32_t>(a0), a1); break;
    case SYS_GETTID: result = process::current_thread()->tid; break;
    case SYS_FUTEX_WAIT: result = process::futex_wait(a0, static_cast<uint32_t>(a1), a2); break;
    case SYS_FUTEX_WAKE: result = process::futex_wake(a0, static_cast<uint32_t>(a1)); break;
    case SYS_THREAD_LIST: result = process::thread_list(a0, a1); break;
    case SYS_MMAP:
        result = process::mmap(a0, a1, static_cast<uint32_t>(a2), static_cast<uint32_t>(arch::syscall_argument(frame, 3)));
        break;
    case SYS_MUNMAP: result = process::munmap(a0, a1); break;
    case SYS_MPROTECT: result = process::mprotect(a0, a1, static_cast<uint32_t>(a2)); break;
    case SYS_REBOOT:
        result = sys_reboot(a0);
        break;
    default: result = -SABLE_ENOSYS; break;
    }
    arch::set_syscall_result(frame, static_cast<uint64_t>(result));
    // SYSRET skips isr_return_to_frame: the same check for a kill that arrived during the call.
    return_to_user_hook(frame);
}

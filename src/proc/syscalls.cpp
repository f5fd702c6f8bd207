// The system-call table (numbers and semantics: src/user/include/sable/abi.h, docs/syscalls.md).
// The entry assembly calls syscall_table[number] straight, on the calling task's kernel stack
// with interrupts on, and returns with SYSRET (or IRETQ) when the handler returns; it also tests
// for a kill before it returns to ring 3. Each call is a handler of its own: no C dispatch runs
// between the entry and the handler.
#include <sable/abi.h>

#include "arch/arch.hpp"
#include "lib/clock.hpp"
#include "lib/panic.hpp"
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

struct Table {
    SyscallHandler handlers[SYS_COUNT + 1];  // the last: any number out of range
};

namespace {

using process::Process;

// The descriptor table is shared by the process's threads: lookups hold a reference for the
// length of the call (process::get_file), changes are made under the process lock.

// A descriptor that other threads may close meanwhile, held by a reference for the call. Out of
// line: a lone thread's read or write below keeps nothing across a call and ends in a tail call.
[[gnu::noinline]] int64_t read_counted(Process& self, uint64_t fd, uint64_t buffer, uint64_t size) {
    const process::FileRef ref = process::get_file(self, fd);
    if (!ref.file) return -SABLE_EBADF;
    const int64_t result = files::read(ref.file, buffer, size, process::interruption(self));
    process::put_file(ref);
    return result;
}

[[gnu::noinline]] int64_t write_counted(Process& self, uint64_t fd, uint64_t buffer, uint64_t size) {
    const process::FileRef ref = process::get_file(self, fd);
    if (!ref.file) return -SABLE_EBADF;
    const int64_t result = files::write(ref.file, buffer, size, process::interruption(self));
    process::put_file(ref);
    return result;
}

int64_t sys_read(Process& self, uint64_t fd, uint64_t buffer, uint64_t size) {
    files::File* file;
    if (!process::lone_thread_file(self, fd, file)) return read_counted(self, fd, buffer, size);
    return file ? files::read(file, buffer, size, process::interruption(self)) : -SABLE_EBADF;
}

int64_t sys_write(Process& self, uint64_t fd, uint64_t buffer, uint64_t size) {
    files::File* file;
    if (!process::lone_thread_file(self, fd, file)) return write_counted(self, fd, buffer, size);
    return file ? files::write(file, buffer, size, process::interruption(self)) : -SABLE_EBADF;
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

// Every handler takes the first four arguments; those it does not use it ignores.
using Handler = SyscallHandler;

int64_t sys_exit(uint64_t status, uint64_t, uint64_t, uint64_t) { process::exit_current(static_cast<int32_t>(status & 0xff)); }
int64_t sys_getpid(uint64_t, uint64_t, uint64_t, uint64_t) { return process::current()->pid; }
int64_t sys_getppid(uint64_t, uint64_t, uint64_t, uint64_t) {
    const Process* self = process::current();
    return self->parent ? self->parent->pid : 0;
}
int64_t sys_yield(uint64_t, uint64_t, uint64_t, uint64_t) {
    tasks::yield();
    return 0;
}
int64_t sys_waitpid(uint64_t pid, uint64_t status, uint64_t options, uint64_t) {
    return process::waitpid(static_cast<int32_t>(pid), status, static_cast<uint32_t>(options));
}
int64_t sys_spawn(uint64_t program, uint64_t argv, uint64_t envp, uint64_t) { return process::spawn(program, argv, envp); }
int64_t sys_sleep(uint64_t milliseconds, uint64_t, uint64_t, uint64_t) { return sys_sleep_ms(milliseconds); }
int64_t sys_read_call(uint64_t fd, uint64_t buffer, uint64_t size, uint64_t) {
    return sys_read(*process::current(), fd, buffer, size);
}
int64_t sys_write_call(uint64_t fd, uint64_t buffer, uint64_t size, uint64_t) {
    return sys_write(*process::current(), fd, buffer, size);
}
int64_t sys_pipe_call(uint64_t fds, uint64_t, uint64_t, uint64_t) { return sys_pipe(*process::current(), fds); }
int64_t sys_close_call(uint64_t fd, uint64_t, uint64_t, uint64_t) { return sys_close(*process::current(), fd); }
int64_t sys_dup2_call(uint64_t old_fd, uint64_t new_fd, uint64_t, uint64_t) {
    return sys_dup2(*process::current(), old_fd, new_fd);
}
int64_t sys_brk(uint64_t address, uint64_t, uint64_t, uint64_t) { return process::brk(address); }
int64_t sys_clock_ns(uint64_t, uint64_t, uint64_t, uint64_t) { return static_cast<int64_t>(clock::ns_since_boot()); }
int64_t sys_getcpu_call(uint64_t, uint64_t, uint64_t, uint64_t) { return sys_getcpu(); }
int64_t sys_set_affinity_call(uint64_t mask, uint64_t, uint64_t, uint64_t) { return sys_set_affinity(mask); }
int64_t sys_kill(uint64_t pid, uint64_t, uint64_t, uint64_t) { return process::kill(static_cast<int32_t>(pid)); }
int64_t sys_process_list(uint64_t out, uint64_t max, uint64_t, uint64_t) { return process::process_list(out, max); }
int64_t sys_meminfo_call(uint64_t out, uint64_t, uint64_t, uint64_t) { return sys_meminfo(out); }
int64_t sys_cpu_info_call(uint64_t out, uint64_t max, uint64_t, uint64_t) { return sys_cpu_info(out, max); }
int64_t sys_program_list_call(uint64_t buffer, uint64_t size, uint64_t, uint64_t) { return sys_program_list(buffer, size); }
int64_t sys_thread_create(uint64_t entry, uint64_t argument, uint64_t, uint64_t) {
    return process::thread_create(entry, argument);
}
int64_t sys_thread_exit(uint64_t value, uint64_t, uint64_t, uint64_t) { process::thread_exit(value); }
int64_t sys_thread_join(uint64_t tid, uint64_t value, uint64_t, uint64_t) {
    return process::thread_join(static_cast<int32_t>(tid), value);
}
int64_t sys_gettid(uint64_t, uint64_t, uint64_t, uint64_t) { return process::current_thread()->tid; }
int64_t sys_futex_wait(uint64_t address, uint64_t expected, uint64_t timeout_ms, uint64_t) {
    return process::futex_wait(address, static_cast<uint32_t>(expected), timeout_ms);
}
int64_t sys_futex_wake(uint64_t address, uint64_t count, uint64_t, uint64_t) {
    return process::futex_wake(address, static_cast<uint32_t>(count));
}
int64_t sys_thread_list(uint64_t out, uint64_t max, uint64_t, uint64_t) { return process::thread_list(out, max); }
int64_t sys_mmap(uint64_t address, uint64_t length, uint64_t protection, uint64_t flags) {
    return process::mmap(address, length, static_cast<uint32_t>(protection), static_cast<uint32_t>(flags));
}
int64_t sys_munmap(uint64_t address, uint64_t length, uint64_t, uint64_t) { return process::munmap(address, length); }
int64_t sys_mprotect(uint64_t address, uint64_t length, uint64_t protection, uint64_t) {
    return process::mprotect(address, length, static_cast<uint32_t>(protection));
}
int64_t sys_reboot_call(uint64_t how, uint64_t, uint64_t, uint64_t) { return sys_reboot(how); }
int64_t sys_unknown(uint64_t, uint64_t, uint64_t, uint64_t) { return -SABLE_ENOSYS; }


// Indexed by call number; a number nobody handles (none, as long as every SYS_* has its line)
// would be a null entry, which the static_assert below rules out.
constexpr Table kTable = [] {
    Table table{};
    table.handlers[SYS_EXIT] = sys_exit;
    table.handlers[SYS_GETPID] = sys_getpid;
    table.handlers[SYS_GETPPID] = sys_getppid;
    table.handlers[SYS_YIELD] = sys_yield;
    // Through the arch's thunk: the child copies the frame, which must be whole (arch.hpp).
    table.handlers[SYS_FORK] = syscall_fork_whole_frame;
    table.handlers[SYS_WAITPID] = sys_waitpid;
    table.handlers[SYS_SPAWN] = sys_spawn;
    table.handlers[SYS_SLEEP_MS] = sys_sleep;
    table.handlers[SYS_READ] = sys_read_call;
    table.handlers[SYS_WRITE] = sys_write_call;
    table.handlers[SYS_PIPE] = sys_pipe_call;
    table.handlers[SYS_CLOSE] = sys_close_call;
    table.handlers[SYS_DUP2] = sys_dup2_call;
    table.handlers[SYS_BRK] = sys_brk;
    table.handlers[SYS_CLOCK_NS] = sys_clock_ns;
    table.handlers[SYS_GETCPU] = sys_getcpu_call;
    table.handlers[SYS_SET_AFFINITY] = sys_set_affinity_call;
    table.handlers[SYS_KILL] = sys_kill;
    table.handlers[SYS_PROCESS_LIST] = sys_process_list;
    table.handlers[SYS_MEMINFO] = sys_meminfo_call;
    table.handlers[SYS_CPU_INFO] = sys_cpu_info_call;
    table.handlers[SYS_PROGRAM_LIST] = sys_program_list_call;
    table.handlers[SYS_THREAD_CREATE] = sys_thread_create;
    table.handlers[SYS_THREAD_EXIT] = sys_thread_exit;
    table.handlers[SYS_THREAD_JOIN] = sys_thread_join;
    table.handlers[SYS_GETTID] = sys_gettid;
    table.handlers[SYS_FUTEX_WAIT] = sys_futex_wait;
    table.handlers[SYS_FUTEX_WAKE] = sys_futex_wake;
    table.handlers[SYS_THREAD_LIST] = sys_thread_list;
    table.handlers[SYS_MMAP] = sys_mmap;
    table.handlers[SYS_MUNMAP] = sys_munmap;
    table.handlers[SYS_MPROTECT] = sys_mprotect;
    table.handlers[SYS_REBOOT] = sys_reboot_call;
    table.handlers[SYS_COUNT] = sys_unknown;
    return table;
}();

constexpr bool every_call_handled() {
    for (Handler handler : kTable.handlers)
        if (!handler) return false;
    return true;
}
static_assert(every_call_handled(), "a SYS_* number has no handler in kTable");

// The exit's kill test reads these through the current task (user_entry.S): both words in one
// 8-byte test, so they must stay side by side.
using kernel::process::Process;
using kernel::tasks::KernelTask;
static_assert(offsetof(KernelTask, process) == TASK_PROCESS);
static_assert(offsetof(Process, kill_reason) == PROCESS_KILL_WORDS && sizeof(Process::kill_reason) == 4);
static_assert(offsetof(Process, ending) == PROCESS_KILL_WORDS + 4 && sizeof(Process::ending) == 4);

}  // namespace
}  // namespace kernel::syscalls

// What the entry assembly reads (arch.hpp): the table by the symbol's address, its length.
extern "C" constinit const kernel::syscalls::Table syscall_table = kernel::syscalls::kTable;
extern "C" constinit const uint64_t syscall_count = SYS_COUNT;
static_assert(sizeof(syscall_table) == (SYS_COUNT + 1) * sizeof(SyscallHandler));

extern "C" int64_t syscall_fork(uint64_t, uint64_t, uint64_t, uint64_t) {
    return kernel::process::fork(arch::syscall_frame());
}

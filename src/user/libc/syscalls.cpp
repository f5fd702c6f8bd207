// The system-call wrappers of unistd.h: one raw call each, the kernel's -SABLE_E* turned into -1
// plus errno. No wrapper retries or changes the kernel's answer.
#include <errno.h>
#include <sable/sys.h>
#include <stdint.h>
#include <unistd.h>

namespace {

// Every Sable call returns >= 0 on success (addresses and times fit in 63 bits), so any negative
// value is an error code.
long check(long result) {
    if (result < 0) {
        errno = static_cast<int>(-result);
        return -1;
    }
    return result;
}

long ptr(const void* p) { return static_cast<long>(reinterpret_cast<uintptr_t>(p)); }

}  // namespace

extern "C" {

void _exit(int status) {
    sable_syscall1(SYS_EXIT, status);
    // exit never returns; if a broken kernel came back, do not run on with no caller frame.
    for (;;) __asm__ volatile("ud2");
}

void exit(int status) { _exit(status); }

int getpid(void) { return static_cast<int>(check(sable_syscall0(SYS_GETPID))); }
int getppid(void) { return static_cast<int>(check(sable_syscall0(SYS_GETPPID))); }
int yield(void) { return static_cast<int>(check(sable_syscall0(SYS_YIELD))); }
int fork(void) { return static_cast<int>(check(sable_syscall0(SYS_FORK))); }

int waitpid(int pid, int* status, int flags) {
    return static_cast<int>(check(sable_syscall3(SYS_WAITPID, pid, ptr(status), flags)));
}

int spawn(const char* program, const char* const* argv, const int* stdio) {
    return static_cast<int>(
        check(sable_syscall3(SYS_SPAWN, ptr(program), ptr(argv), ptr(stdio))));
}

int sleep_ms(uint64_t ms) {
    return static_cast<int>(check(sable_syscall1(SYS_SLEEP_MS, static_cast<long>(ms))));
}

ssize_t read(int fd, void* buf, size_t len) {
    return check(sable_syscall3(SYS_READ, fd, ptr(buf), static_cast<long>(len)));
}

ssize_t write(int fd, const void* buf, size_t len) {
    return check(sable_syscall3(SYS_WRITE, fd, ptr(buf), static_cast<long>(len)));
}

int pipe(int fds[2]) { return static_cast<int>(check(sable_syscall1(SYS_PIPE, ptr(fds)))); }
int close(int fd) { return static_cast<int>(check(sable_syscall1(SYS_CLOSE, fd))); }
int dup2(int old_fd, int new_fd) {
    return static_cast<int>(check(sable_syscall2(SYS_DUP2, old_fd, new_fd)));
}

int brk(void* addr) {
    long result = check(sable_syscall1(SYS_BRK, ptr(addr)));
    if (result < 0) return -1;
    // The kernel answers with the break it has now; anything else than what we asked for means
    // the request was refused (a kernel may report that either way).
    if (static_cast<uintptr_t>(result) != reinterpret_cast<uintptr_t>(addr)) {
        errno = ENOMEM;
        return -1;
    }
    return 0;
}

void* sbrk(intptr_t increment) {
    void* const failed = reinterpret_cast<void*>(-1);
    long current = check(sable_syscall1(SYS_BRK, 0));
    if (current < 0) return failed;
    if (increment == 0) return reinterpret_cast<void*>(current);
    uintptr_t old_break = static_cast<uintptr_t>(current);
    uintptr_t new_break = old_break + static_cast<uintptr_t>(increment);
    // Wrapping either way, or a break of 0 (which the kernel reads as "query"), is no break.
    if ((increment > 0 && new_break < old_break) || (increment < 0 && new_break > old_break) ||
        new_break == 0) {
        errno = ENOMEM;
        return failed;
    }
    if (brk(reinterpret_cast<void*>(new_break)) < 0) return failed;
    return reinterpret_cast<void*>(old_break);
}

uint64_t clock_ns(void) { return static_cast<uint64_t>(sable_syscall0(SYS_CLOCK_NS)); }
int getcpu(void) { return static_cast<int>(check(sable_syscall0(SYS_GETCPU))); }
int set_affinity(uint64_t cpu_mask) {
    return static_cast<int>(check(sable_syscall1(SYS_SET_AFFINITY, static_cast<long>(cpu_mask))));
}
int kill(int pid) { return static_cast<int>(check(sable_syscall1(SYS_KILL, pid))); }

long process_list(struct sable_process_info* out, size_t max) {
    return check(sable_syscall2(SYS_PROCESS_LIST, ptr(out), static_cast<long>(max)));
}
int meminfo(struct sable_meminfo* out) {
    return static_cast<int>(check(sable_syscall1(SYS_MEMINFO, ptr(out))));
}
long cpu_info(struct sable_cpu_info* out, size_t max) {
    return check(sable_syscall2(SYS_CPU_INFO, ptr(out), static_cast<long>(max)));
}
long program_list(char* buf, size_t len) {
    return check(sable_syscall2(SYS_PROGRAM_LIST, ptr(buf), static_cast<long>(len)));
}

void* mmap(void* address, size_t length, int prot, int flags) {
    const long result = check(sable_syscall4(SYS_MMAP, ptr(address), static_cast<long>(length), prot, flags));
    return result < 0 ? MAP_FAILED : reinterpret_cast<void*>(result);
}
int munmap(void* address, size_t length) {
    return static_cast<int>(check(sable_syscall2(SYS_MUNMAP, ptr(address), static_cast<long>(length))));
}
int mprotect(void* address, size_t length, int prot) {
    return static_cast<int>(check(sable_syscall3(SYS_MPROTECT, ptr(address), static_cast<long>(length), prot)));
}

int reboot(int how) { return static_cast<int>(check(sable_syscall1(SYS_REBOOT, how))); }

long thread_list(struct sable_thread_info* out, size_t max) {
    return check(sable_syscall2(SYS_THREAD_LIST, ptr(out), static_cast<long>(max)));
}

int thread_create(void (*entry)(uint64_t argument), uint64_t argument) {
    return static_cast<int>(check(sable_syscall2(SYS_THREAD_CREATE, reinterpret_cast<long>(entry), static_cast<long>(argument))));
}
void thread_exit(uint64_t value) {
    sable_syscall1(SYS_THREAD_EXIT, static_cast<long>(value));
    for (;;) __asm__ volatile("ud2");
}
int thread_join(int tid, uint64_t* value) {
    return static_cast<int>(check(sable_syscall2(SYS_THREAD_JOIN, tid, ptr(value))));
}
int gettid(void) { return static_cast<int>(check(sable_syscall0(SYS_GETTID))); }
int futex_wait(const uint32_t* address, uint32_t expected, uint64_t timeout_ms) {
    return static_cast<int>(
        check(sable_syscall3(SYS_FUTEX_WAIT, ptr(address), static_cast<long>(expected), static_cast<long>(timeout_ms))));
}
int futex_wake(const uint32_t* address, uint32_t count) {
    return static_cast<int>(check(sable_syscall2(SYS_FUTEX_WAKE, ptr(address), static_cast<long>(count))));
}

const char* sable_kill_reason_string(int reason) {
    switch (reason) {
    case SABLE_KILL_DIVIDE_ERROR: return "divide error";
    case SABLE_KILL_INVALID_OPCODE: return "invalid opcode";
    case SABLE_KILL_GENERAL_PROTECTION: return "general protection fault";
    case SABLE_KILL_PAGE_FAULT: return "page fault";
    case SABLE_KILL_STACK_OVERFLOW: return "stack overflow";
    case SABLE_KILL_SIGNAL: return "kill request";
    case SABLE_KILL_OUT_OF_MEMORY: return "out of memory";
    case SABLE_KILL_OTHER_EXCEPTION: return "exception";
    case SABLE_KILL_FLOATING_POINT:
        return "floating-point error";
    default: return "unknown reason";
    }
}

}  // extern "C"

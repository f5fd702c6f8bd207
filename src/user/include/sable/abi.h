/*
 * The Sable system-call ABI: the one header both the kernel and user programs include, so the
 * numbers, structures and error codes cannot drift apart. docs/syscalls.md explains each call.
 *
 * Calling convention (the x86-64 System V kernel convention, as Linux uses it):
 *   rax = call number; arguments in rdi, rsi, rdx, r10, r8, r9; `syscall`;
 *   result in rax: >= 0 success, -SABLE_E* on error. rcx and r11 are clobbered (the CPU keeps the
 *   return address and RFLAGS there); every other register is preserved.
 * C and C++ compatible, freestanding (stdint.h / stddef.h only).
 */
#ifndef SABLE_ABI_H
#define SABLE_ABI_H

#include <stddef.h>
#include <stdint.h>

/* ---- call numbers ---------------------------------------------------------------------------- */
enum sable_syscall {
    SYS_EXIT = 0,          /* exit(int status) -> does not return                               */
    SYS_GETPID = 1,        /* getpid() -> pid                                                    */
    SYS_GETPPID = 2,       /* getppid() -> parent's pid (0: the kernel)                          */
    SYS_YIELD = 3,         /* yield() -> 0                                                       */
    SYS_FORK = 4,          /* fork() -> child's pid in the parent, 0 in the child                */
    SYS_WAITPID = 5,       /* waitpid(int pid (-1: any child), int* status (may be NULL),
                              int flags) -> pid reaped, 0 (WNOHANG, none yet), -ECHILD           */
    SYS_SPAWN = 6,         /* spawn(const char* program, const char* const* argv (NULL-ended,
                              may be NULL), const int* stdio (3 fds for the child's 0,1,2;
                              NULL: the caller's 0,1,2)) -> child's pid. The child gets only
                              those three descriptors.                                          */
    SYS_SLEEP_MS = 7,      /* sleep_ms(uint64_t ms) -> 0                                         */
    SYS_READ = 8,          /* read(int fd, void* buf, size_t len) -> bytes (0: end of file)      */
    SYS_WRITE = 9,         /* write(int fd, const void* buf, size_t len) -> bytes                */
    SYS_PIPE = 10,         /* pipe(int fds[2]) -> 0; fds[0] reads, fds[1] writes                 */
    SYS_CLOSE = 11,        /* close(int fd) -> 0                                                 */
    SYS_DUP2 = 12,         /* dup2(int old_fd, int new_fd) -> new_fd                             */
    SYS_BRK = 13,          /* brk(uintptr_t new_break (0: query)) -> the break now, or -ENOMEM   */
    SYS_CLOCK_NS = 14,     /* clock_ns() -> nanoseconds since boot                               */
    SYS_GETCPU = 15,       /* getcpu() -> index of the CPU running the caller                    */
    SYS_SET_AFFINITY = 16, /* set_affinity(uint64_t cpu_mask (bit n = CPU n, n < 64; 0 or ~0:
                              any CPU)) -> 0; moves the caller at once if it is on a CPU outside
                              the mask; -EINVAL if no online CPU is in the mask                  */
    SYS_KILL = 17,         /* kill(int pid) -> 0; the target dies with reason "kill request";
                              -EPERM for init, -ESRCH if there is no such process                */
    SYS_PROCESS_LIST = 18, /* process_list(struct sable_process_info* out, size_t max) -> count
                              of live processes (all of them, even if more than max)             */
    SYS_MEMINFO = 19,      /* meminfo(struct sable_meminfo* out) -> 0                            */
    SYS_CPU_INFO = 20,     /* cpu_info(struct sable_cpu_info* out, size_t max) -> CPUs online   */
    SYS_PROGRAM_LIST = 21, /* program_list(char* buf, size_t len) -> bytes: the names of the
                              programs in the boot image, each followed by '\n'; -EINVAL if
                              they do not all fit (the buffer's contents are then undefined)     */
    SYS_THREAD_CREATE = 22,/* thread_create(void (*entry)(uint64_t arg), uint64_t arg) -> tid: a new
                              thread of the caller's process, entered at entry(arg) (rdi = arg)
                              on its own 20 MiB stack (rsp % 16 == 8, as after a call, below the
                              thread block; returning from entry is a fault: end with
                              thread_exit); -EFAULT: entry not in user space; -EAGAIN beyond
                              SABLE_MAX_THREADS threads or the system's task limit            */
    SYS_THREAD_EXIT = 23,  /* thread_exit(uint64_t value) -> does not return; the last thread's
                              exit ends the process with status 0                             */
    SYS_THREAD_JOIN = 24,  /* thread_join(int tid, uint64_t* value (may be NULL)) -> 0 once
                              that thread has exited; -ESRCH: no such thread (or already
                              joined), -EDEADLK: the caller itself, -EINVAL: being joined     */
    SYS_GETTID = 25,       /* gettid() -> the caller's thread id (1: the main thread)          */
    SYS_FUTEX_WAIT = 26,   /* futex_wait(const uint32_t* address, uint32_t expected,
                              uint64_t timeout_ms (SABLE_FUTEX_FOREVER: none)) -> 0 when woken,
                              -EAGAIN if *address != expected on entry, -ETIMEDOUT; address
                              must be 4-byte aligned user memory (-EINVAL, -EFAULT)          */
    SYS_FUTEX_WAKE = 27,   /* futex_wake(const uint32_t* address, uint32_t count) -> how many
                              waiters of this process on that address were woken (<= count) */
    SYS_THREAD_LIST = 28,  /* thread_list(struct sable_thread_info* out, size_t max) -> count of
                              threads of all live processes (all of them, even if more than max) */
    SYS_MMAP = 29,         /* mmap(void* address, size_t length, int prot, int flags) -> address
                              of `length` bytes (rounded up to pages) of zero-filled memory,
                              committed page by page on first touch. address: a hint (used if
                              free), or with SABLE_MAP_FIXED the place itself (page-aligned, free,
                              inside the mmap window). -EINVAL: bad flags, length 0, W+X, a
                              fixed place that is taken or outside; -ENOMEM: no room            */
    SYS_MUNMAP = 30,       /* munmap(void* address, size_t length) -> 0; unmaps every page of
                              the range (parts of regions too); -EINVAL: unaligned or outside
                              the mmap window                                                  */
    SYS_MPROTECT = 31,     /* mprotect(void* address, size_t length, int prot) -> 0; -EINVAL:
                              unaligned, W+X; -ENOMEM: part of the range is not mapped         */
    SYS_REBOOT = 32,       /* reboot(int how: SABLE_REBOOT_RESTART or SABLE_REBOOT_POWER_OFF) ->
                              does not return (any process may call it: docs/syscalls.md says
                              why); -EINVAL: another `how`                                     */
    SYS_COUNT = 33
};

/* ---- errors (returned negated) --------------------------------------------------------------- */
enum sable_errno {
    SABLE_EPERM = 1,    /* not allowed (e.g. kill pid 1)                                         */
    SABLE_ENOENT = 2,   /* no such program                                                       */
    SABLE_ESRCH = 3,    /* no such process                                                       */
    SABLE_EINTR = 4,    /* interrupted: the caller is being killed (it dies before it could see
                           this; kept for the kernel's own blocking paths)                       */
    SABLE_E2BIG = 7,    /* argument list too long                                                */
    SABLE_ENOEXEC = 8,  /* program image is not a valid Sable ELF                                */
    SABLE_EBADF = 9,    /* not an open descriptor (or wrong direction)                           */
    SABLE_ECHILD = 10,  /* no such child                                                         */
    SABLE_EAGAIN = 11,  /* process limit reached                                                 */
    SABLE_ENOMEM = 12,  /* out of memory                                                         */
    SABLE_EFAULT = 14,  /* bad user pointer                                                      */
    SABLE_EINVAL = 22,  /* bad argument                                                          */
    SABLE_EMFILE = 24,  /* descriptor table full                                                 */
    SABLE_EPIPE = 32,   /* write to a pipe with no reader                                        */
    SABLE_ENAMETOOLONG = 36,
    SABLE_EDEADLK = 35, /* would wait for itself (thread_join on the caller)                     */
    SABLE_ENOSYS = 38,  /* no such call                                                          */
    SABLE_ETIMEDOUT = 110 /* futex_wait's timeout passed                                         */
};

/* ---- waitpid ----------------------------------------------------------------------------------- */
#define SABLE_WNOHANG 1
/* status < 256: exited with exit code status; status >= 256: killed, reason = status - 256. */
#define SABLE_WIFEXITED(status) ((status) < 256)
#define SABLE_WEXITSTATUS(status) ((status) & 0xff)
#define SABLE_WIFKILLED(status) ((status) >= 256)
#define SABLE_WKILLREASON(status) ((status) - 256)

/* Why the kernel killed a process; the console line says it in words:
   "[pid <n> <name>] killed: <words> at <rip>". */
enum sable_kill_reason {
    SABLE_KILL_DIVIDE_ERROR = 1,       /* "divide error"             #DE */
    SABLE_KILL_INVALID_OPCODE = 2,     /* "invalid opcode"           #UD */
    SABLE_KILL_GENERAL_PROTECTION = 3, /* "general protection fault" #GP (privileged instruction,
                                          int on a kernel vector, non-canonical address)       */
    SABLE_KILL_PAGE_FAULT = 4,         /* "page fault"               #PF outside the stack region */
    SABLE_KILL_STACK_OVERFLOW = 5,     /* "stack overflow"           guard page or below it     */
    SABLE_KILL_SIGNAL = 6,             /* "kill request"             kill() from a process or the kernel */
    SABLE_KILL_OUT_OF_MEMORY = 7,      /* "out of memory"            stack page could not commit */
    SABLE_KILL_OTHER_EXCEPTION = 8,    /* the exception's name       any other CPU exception (e.g.
                                          "debug trap"); the line adds the vector */
    SABLE_KILL_FLOATING_POINT = 9      /* "x87 floating-point error" #MF, "SIMD floating-point
                                          error" #XM: an unmasked FP exception; the line names it */
};

/* ---- user address-space layout (docs/userspace.md draws it) ----------------------------------- */
#define SABLE_USER_BASE 0x08000000ull        /* code starts here (the seed design's address)  */
#define SABLE_USER_TOP 0x40000000ull         /* end of user space (first 1 GiB)                */
#define SABLE_STACK_REGION_SIZE (20ull << 20)/* 20 MiB, 4 pages committed at start             */
#define SABLE_STACK_TOP SABLE_USER_TOP
#define SABLE_STACK_BOTTOM (SABLE_STACK_TOP - SABLE_STACK_REGION_SIZE)
#define SABLE_GUARD_PAGE (SABLE_STACK_BOTTOM - 4096ull) /* never mapped; heap ends below it     */

/* Above the first GiB (which the kernel's identity and direct maps share with it), user space
   continues in its own top-level entries: 512 GiB up to 128 TiB, the lower canonical half. */
#define SABLE_HIGH_USER_BASE 0x0000008000000000ull /* 512 GiB                                 */
#define SABLE_HIGH_USER_TOP 0x0000800000000000ull  /* 128 TiB                                 */
/* Threads other than the main one: stack slot k (0 <= k < SABLE_MAX_THREADS - 1) is
   [base + k * slot, base + (k + 1) * slot); its 20 MiB stack region ends at the slot's top, the
   page below the region is its guard page and the rest of the slot stays unmapped too. */
#define SABLE_THREAD_STACKS_BASE 0x0000010000000000ull /* 1 TiB                               */
#define SABLE_THREAD_STACK_SLOT (32ull << 20)
#define SABLE_MAX_THREADS 256      /* threads of one process at once, the main thread included   */
/* The top bytes of a thread's stack region are libc's per-thread block (errno lives there): a
   new thread starts with rsp = region top - SABLE_THREAD_BLOCK_SIZE - 8, the block zeroed. */
#define SABLE_THREAD_BLOCK_SIZE 64
#define SABLE_FUTEX_FOREVER (~0ull) /* futex_wait without a timeout                             */

/* mmap: the window anonymous memory is placed in, above the thread stacks. */
#define SABLE_MMAP_BASE 0x0000020000000000ull /* 2 TiB                                        */
#define SABLE_MMAP_TOP SABLE_HIGH_USER_TOP
#define SABLE_PROT_NONE 0
#define SABLE_PROT_READ 1
#define SABLE_PROT_WRITE 2  /* implies read (x86 has no write-only pages) */
#define SABLE_PROT_EXEC 4   /* never together with SABLE_PROT_WRITE (W^X) */
#define SABLE_MAP_PRIVATE 1 /* a fork child gets its own copy (copy-on-write) */
#define SABLE_MAP_SHARED 2  /* a fork child shares the pages: writes show on both sides */
#define SABLE_MAP_FIXED 4   /* exactly at `address` */

/* ---- reboot ------------------------------------------------------------------------------------ */
#define SABLE_REBOOT_RESTART 1   /* reset the machine (docs/power.md: the order of the steps)  */
#define SABLE_REBOOT_POWER_OFF 2 /* ACPI S5; without it the kernel says so and halts            */

#define SABLE_MAX_ARGS 32          /* argv entries spawn accepts                                  */
#define SABLE_MAX_ARG_BYTES 4096   /* total bytes of argv strings                                 */
#define SABLE_MAX_NAME 32          /* program names, including the NUL                           */
#define SABLE_MAX_FDS 16           /* descriptors per process                                    */

/* ---- information calls ------------------------------------------------------------------------- */
enum sable_process_state {
    SABLE_PROC_RUNNING = 0,  /* on a CPU now      */
    SABLE_PROC_READY = 1,    /* waiting for a CPU */
    SABLE_PROC_BLOCKED = 2,  /* waiting for an event (pipe, child, input) */
    SABLE_PROC_SLEEPING = 3,
    SABLE_PROC_ZOMBIE = 4    /* exited, not yet waited for */
};

struct sable_process_info {
    int32_t pid;
    int32_t ppid;
    uint32_t state;   /* enum sable_process_state */
    uint32_t cpu;     /* CPU it runs on or last ran on */
    uint64_t runtime_ticks;
    uint64_t user_pages;  /* committed user pages */
    char name[SABLE_MAX_NAME];
};

/* Frame counts by state (the kernel's allocator states, docs/memory.md). */
struct sable_meminfo {
    uint64_t free, kernel, stack, heap, page_table, user, firmware, absent;
    uint64_t page_size;
    uint64_t shared;  /* user frames with more than one owner (copy-on-write, shared mappings) */
    uint64_t kept_page_tables; /* of page_table: the kernel-stack area's tables, kept at the
                                  high-water mark of live tasks (bounded: memory.md) */
};

struct sable_thread_info {
    int32_t pid;
    int32_t tid;
    uint32_t state;   /* enum sable_process_state (never ZOMBIE: exited threads are not listed) */
    uint32_t cpu;     /* CPU it runs on or last ran on */
    uint64_t runtime_ticks;
};

struct sable_cpu_info {
    uint32_t index;
    uint32_t apic_id;
    uint64_t ticks;           /* timer ticks taken */
    uint64_t ready_tasks;     /* run-queue length now */
    uint64_t idle;            /* 1 if parked in its idle task now */
};

#endif /* SABLE_ABI_H */

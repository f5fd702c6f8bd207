/*
 * One wrapper per Sable system call (<sable/abi.h> documents each). Every wrapper returns -1 and
 * sets errno when the kernel returns -SABLE_E*; on success it returns what the kernel returned.
 */
#ifndef SABLE_LIBC_UNISTD_H
#define SABLE_LIBC_UNISTD_H

#include <sable/abi.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef long ssize_t;

__attribute__((noreturn)) void exit(int status);
__attribute__((noreturn)) void _exit(int status);
int getpid(void);
int getppid(void);
int yield(void);
int fork(void);
int waitpid(int pid, int* status, int flags);
int spawn(const char* program, const char* const* argv, const int* stdio);
int sleep_ms(uint64_t ms);
ssize_t read(int fd, void* buf, size_t len);
ssize_t write(int fd, const void* buf, size_t len);
int pipe(int fds[2]);
int close(int fd);
int dup2(int old_fd, int new_fd);
/* brk: 0 when the break is now exactly `addr`, else -1 (ENOMEM). */
int brk(void* addr);
/* sbrk: the break before the change ((void*)-1 on error); sbrk(0) returns the current break. */
void* sbrk(intptr_t increment);
uint64_t clock_ns(void);
int getcpu(void);
int set_affinity(uint64_t cpu_mask);
int kill(int pid);
/* The next four return the kernel's count (see abi.h) or -1. */
long process_list(struct sable_process_info* out, size_t max);
int meminfo(struct sable_meminfo* out);
long cpu_info(struct sable_cpu_info* out, size_t max);
long program_list(char* buf, size_t len);
long thread_list(struct sable_thread_info* out, size_t max);

/* Anonymous memory (abi.h: SYS_MMAP). mmap returns MAP_FAILED and sets errno on error. */
#define PROT_NONE SABLE_PROT_NONE
#define PROT_READ SABLE_PROT_READ
#define PROT_WRITE SABLE_PROT_WRITE
#define PROT_EXEC SABLE_PROT_EXEC
#define MAP_PRIVATE SABLE_MAP_PRIVATE
#define MAP_SHARED SABLE_MAP_SHARED
#define MAP_FIXED SABLE_MAP_FIXED
#define MAP_FAILED ((void*)-1)
void* mmap(void* address, size_t length, int prot, int flags);
int munmap(void* address, size_t length);
int mprotect(void* address, size_t length, int prot);

/* Restarts or powers off the machine: how = SABLE_REBOOT_RESTART or SABLE_REBOOT_POWER_OFF.
   Returns only on failure (-1, errno EINVAL). */
int reboot(int how);

/* Threads and futexes (pthread.h builds on these). */
int thread_create(void (*entry)(uint64_t argument), uint64_t argument);
__attribute__((noreturn)) void thread_exit(uint64_t value);
int thread_join(int tid, uint64_t* value);
int gettid(void);
/* 0 when woken; -1 with errno EAGAIN (the word was not `expected`) or ETIMEDOUT. */
int futex_wait(const uint32_t* address, uint32_t expected, uint64_t timeout_ms);
int futex_wake(const uint32_t* address, uint32_t count);

/* Words for a SABLE_KILL_* reason, as the kernel's console line says them ("page fault"). */
const char* sable_kill_reason_string(int reason);

#ifdef __cplusplus
}
#endif

#endif /* SABLE_LIBC_UNISTD_H */

/*
 * errno: the libc wrappers store the Sable error code here (the kernel's -SABLE_E* negated) and
 * return -1. The POSIX names map onto the Sable numbers, which match Linux's.
 */
#ifndef SABLE_LIBC_ERRNO_H
#define SABLE_LIBC_ERRNO_H

#include <sable/abi.h>

#ifdef __cplusplus
extern "C" {
#endif

/* One per thread: the main thread's is a global, every other thread's is in the thread block at
   the top of its stack slot (abi.h), found from the stack pointer. */
int* __errno_location(void);
#define errno (*__errno_location())

#ifdef __cplusplus
}
#endif

#define EPERM SABLE_EPERM
#define ENOENT SABLE_ENOENT
#define ESRCH SABLE_ESRCH
#define EINTR SABLE_EINTR
#define E2BIG SABLE_E2BIG
#define ENOEXEC SABLE_ENOEXEC
#define EBADF SABLE_EBADF
#define ECHILD SABLE_ECHILD
#define EAGAIN SABLE_EAGAIN
#define ENOMEM SABLE_ENOMEM
#define EFAULT SABLE_EFAULT
#define EINVAL SABLE_EINVAL
#define EMFILE SABLE_EMFILE
#define EPIPE SABLE_EPIPE
#define ENAMETOOLONG SABLE_ENAMETOOLONG
#define ENOSYS SABLE_ENOSYS
#define EDEADLK SABLE_EDEADLK
#define ETIMEDOUT SABLE_ETIMEDOUT
/* Only the libc raises this one (strtol/strtoul overflow); the kernel never returns it. */
#define ERANGE 34
#define EBUSY 16 /* pthread_mutex_trylock: held */

#endif /* SABLE_LIBC_ERRNO_H */

/*
 * A small pthread subset on Sable's threads and futexes: create, join, exit, self; mutexes and
 * condition variables. Attributes are not supported (pass NULL). Functions return 0 or an
 * error number (not -1 and errno), as POSIX has it.
 */
#ifndef SABLE_LIBC_PTHREAD_H
#define SABLE_LIBC_PTHREAD_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef int pthread_t; /* the thread id (gettid) */

int pthread_create(pthread_t* thread, const void* attributes, void* (*start)(void*), void* argument);
int pthread_join(pthread_t thread, void** result);
__attribute__((noreturn)) void pthread_exit(void* result);
pthread_t pthread_self(void);

/* 0: unlocked, 1: locked, 2: locked and someone may be waiting (futex_wait on the word). */
typedef struct {
    uint32_t state;
} pthread_mutex_t;
#define PTHREAD_MUTEX_INITIALIZER {0}

int pthread_mutex_init(pthread_mutex_t* mutex, const void* attributes);
int pthread_mutex_destroy(pthread_mutex_t* mutex);
int pthread_mutex_lock(pthread_mutex_t* mutex);
int pthread_mutex_trylock(pthread_mutex_t* mutex);
int pthread_mutex_unlock(pthread_mutex_t* mutex);

/* A sequence number: waiters sleep on it, signal and broadcast bump it and wake. */
typedef struct {
    uint32_t sequence;
} pthread_cond_t;
#define PTHREAD_COND_INITIALIZER {0}

int pthread_cond_init(pthread_cond_t* cond, const void* attributes);
int pthread_cond_destroy(pthread_cond_t* cond);
int pthread_cond_wait(pthread_cond_t* cond, pthread_mutex_t* mutex);
int pthread_cond_signal(pthread_cond_t* cond);
int pthread_cond_broadcast(pthread_cond_t* cond);

#ifdef __cplusplus
}
#endif

#endif /* SABLE_LIBC_PTHREAD_H */

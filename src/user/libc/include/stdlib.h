/* Numbers from text, the heap (malloc and friends on top of sbrk), exit and abort. */
#ifndef SABLE_LIBC_STDLIB_H
#define SABLE_LIBC_STDLIB_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

int atoi(const char* s);
long strtol(const char* s, char** end, int base);
unsigned long strtoul(const char* s, char** end, int base);

/* 16-byte aligned; malloc(0) returns a unique pointer (a 16-byte block). NULL + ENOMEM when
   the break cannot grow. */
void* malloc(size_t size);
void free(void* pointer);
void* calloc(size_t count, size_t size);
void* realloc(void* pointer, size_t size);

__attribute__((noreturn)) void exit(int status);
/* Prints "abort" to fd 2 and exits with 134 (128 + SIGABRT, as shells report it). */
__attribute__((noreturn)) void abort(void);

#ifdef __cplusplus
}
#endif

#endif /* SABLE_LIBC_STDLIB_H */

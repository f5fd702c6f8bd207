/* The C string and memory functions Sable's programs use (and the compiler may call). */
#ifndef SABLE_LIBC_STRING_H
#define SABLE_LIBC_STRING_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

void* memcpy(void* __restrict dst, const void* __restrict src, size_t n);
void* memmove(void* dst, const void* src, size_t n);
void* memset(void* dst, int c, size_t n);
int memcmp(const void* a, const void* b, size_t n);
size_t strlen(const char* s);
size_t strnlen(const char* s, size_t max);
int strcmp(const char* a, const char* b);
int strncmp(const char* a, const char* b, size_t n);
char* strcpy(char* __restrict dst, const char* __restrict src);
char* strncpy(char* __restrict dst, const char* __restrict src, size_t n);
char* strchr(const char* s, int c);
char* strrchr(const char* s, int c);
char* strstr(const char* haystack, const char* needle);
/* Splits on any byte of `delimiters`; *state carries the position between calls. */
char* strtok_r(char* s, const char* delimiters, char** state);
/* Words for an errno value (the SABLE_E* codes); never NULL. */
const char* strerror(int error);

#ifdef __cplusplus
}
#endif

#endif /* SABLE_LIBC_STRING_H */

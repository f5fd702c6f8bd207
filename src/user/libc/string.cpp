// String and memory functions. Built with -fno-builtin (user.cmake) so clang cannot turn these
// loops back into calls to themselves; the bulk copies use `rep movs` / `rep stos`, which are
// fast on every CPU with ERMS and need no SSE. Whole quadwords first: the same speed on hardware,
// and an emulator without string acceleration runs one iteration per element.
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

extern "C" {

void* memcpy(void* __restrict dst, const void* __restrict src, size_t n) {
    void* d = dst;
    size_t quads = n / 8, rest = n % 8;
    __asm__ volatile("rep movsq" : "+D"(d), "+S"(src), "+c"(quads) : : "memory");
    __asm__ volatile("rep movsb" : "+D"(d), "+S"(src), "+c"(rest) : : "memory");
    return dst;
}

void* memmove(void* dst, const void* src, size_t n) {
    auto d = reinterpret_cast<uintptr_t>(dst);
    auto s = reinterpret_cast<uintptr_t>(src);
    if (d - s >= n) return memcpy(dst, src, n);  // dst before src, or no overlap at all
    // dst overlaps the tail of src: copy backwards (DF=1), from the last byte down.
    void* last_d = reinterpret_cast<char*>(dst) + n - 1;
    const void* last_s = reinterpret_cast<const char*>(src) + n - 1;
    __asm__ volatile("std\n\trep movsb\n\tcld" : "+D"(last_d), "+S"(last_s), "+c"(n) : : "memory");
    return dst;
}

void* memset(void* dst, int c, size_t n) {
    void* d = dst;
    const uint64_t pattern = 0x0101010101010101ull * static_cast<unsigned char>(c);
    size_t quads = n / 8, rest = n % 8;
    __asm__ volatile("rep stosq" : "+D"(d), "+c"(quads) : "a"(pattern) : "memory");
    __asm__ volatile("rep stosb" : "+D"(d), "+c"(rest) : "a"(pattern) : "memory");
    return dst;
}

int memcmp(const void* a, const void* b, size_t n) {
    auto x = static_cast<const unsigned char*>(a);
    auto y = static_cast<const unsigned char*>(b);
    for (size_t i = 0; i < n; ++i) {
        if (x[i] != y[i]) return x[i] < y[i] ? -1 : 1;
    }
    return 0;
}

size_t strlen(const char* s) {
    size_t n = 0;
    while (s[n] != '\0') ++n;
    return n;
}

size_t strnlen(const char* s, size_t max) {
    size_t n = 0;
    while (n < max && s[n] != '\0') ++n;
    return n;
}

int strcmp(const char* a, const char* b) {
    while (*a != '\0' && *a == *b) {
        ++a;
        ++b;
    }
    return static_cast<unsigned char>(*a) - static_cast<unsigned char>(*b);
}

int strncmp(const char* a, const char* b, size_t n) {
    for (size_t i = 0; i < n; ++i) {
        if (a[i] != b[i] || a[i] == '\0')
            return static_cast<unsigned char>(a[i]) - static_cast<unsigned char>(b[i]);
    }
    return 0;
}

char* strcpy(char* __restrict dst, const char* __restrict src) {
    char* d = dst;
    while ((*d++ = *src++) != '\0') {
    }
    return dst;
}

char* strncpy(char* __restrict dst, const char* __restrict src, size_t n) {
    size_t i = 0;
    for (; i < n && src[i] != '\0'; ++i) dst[i] = src[i];
    for (; i < n; ++i) dst[i] = '\0';
    return dst;
}

char* strchr(const char* s, int c) {
    const char wanted = static_cast<char>(c);
    for (;; ++s) {
        if (*s == wanted) return const_cast<char*>(s);
        if (*s == '\0') return nullptr;
    }
}

char* strrchr(const char* s, int c) {
    const char wanted = static_cast<char>(c);
    const char* found = nullptr;
    for (;; ++s) {
        if (*s == wanted) found = s;
        if (*s == '\0') return const_cast<char*>(found);
    }
}

char* strstr(const char* haystack, const char* needle) {
    const size_t needle_length = strlen(needle);
    if (needle_length == 0) return const_cast<char*>(haystack);
    for (; *haystack != '\0'; ++haystack) {
        if (*haystack == *needle && strncmp(haystack, needle, needle_length) == 0)
            return const_cast<char*>(haystack);
    }
    return nullptr;
}

char* strtok_r(char* s, const char* delimiters, char** state) {
    if (s == nullptr) s = *state;
    if (s == nullptr) return nullptr;
    while (*s != '\0' && strchr(delimiters, *s) != nullptr) ++s;
    if (*s == '\0') {
        *state = nullptr;
        return nullptr;
    }
    char* token = s;
    while (*s != '\0' && strchr(delimiters, *s) == nullptr) ++s;
    if (*s == '\0') {
        *state = nullptr;
    } else {
        *s = '\0';
        *state = s + 1;
    }
    return token;
}

const char* strerror(int error) {
    switch (error) {
    case 0: return "success";
    case EPERM: return "operation not permitted";
    case ENOENT: return "no such program";
    case ESRCH: return "no such process";
    case EINTR: return "interrupted";
    case E2BIG: return "argument list too long";
    case ENOEXEC: return "not a valid Sable program image";
    case EBADF: return "bad file descriptor";
    case ECHILD: return "no such child";
    case EAGAIN: return "process limit reached";
    case ENOMEM: return "out of memory";
    case EFAULT: return "bad address";
    case EINVAL: return "invalid argument";
    case EMFILE: return "too many open descriptors";
    case EPIPE: return "broken pipe";
    case ENAMETOOLONG: return "name too long";
    case ENOSYS: return "no such system call";
    case ERANGE: return "result out of range";
    default: break;
    }
    // Unknown codes are shown by number, in one of a few buffers taken in turn, so threads of a
    // process formatting at once do not write into the same one.
    static char ring[8][32];
    static unsigned next;
    char* unknown = ring[__atomic_fetch_add(&next, 1, __ATOMIC_RELAXED) % 8];
    snprintf(unknown, sizeof ring[0], "unknown error %d", error);
    return unknown;
}

}  // extern "C"

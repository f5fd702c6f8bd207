// The few C and C++ runtime pieces a freestanding kernel must supply itself: the mem* functions
// the compiler may call, and the hooks the C++ ABI expects.
#include <stddef.h>
#include <stdint.h>

#include "kernel/panic.hpp"

extern "C" {

// String instructions on purpose: no SSE in kernel code, and `rep movs` is fast on modern CPUs
// (ERMS). Whole quadwords first: the same speed on hardware, but an emulator without string
// acceleration (QEMU's TCG) runs one iteration per element, and the framebuffer console copies
// megabytes per scrolled line.
void* memcpy(void* dest, const void* src, size_t count) {
    void* start = dest;
    size_t quads = count / 8, rest = count % 8;
    asm volatile("rep movsq" : "+D"(dest), "+S"(src), "+c"(quads)::"memory");
    asm volatile("rep movsb" : "+D"(dest), "+S"(src), "+c"(rest)::"memory");
    return start;
}

void* memset(void* dest, int value, size_t count) {
    void* start = dest;
    const uint64_t pattern = 0x0101010101010101ull * static_cast<uint8_t>(value);
    size_t quads = count / 8, rest = count % 8;
    asm volatile("rep stosq" : "+D"(dest), "+c"(quads) : "a"(pattern) : "memory");
    asm volatile("rep stosb" : "+D"(dest), "+c"(rest) : "a"(pattern) : "memory");
    return start;
}

void* memmove(void* dest, const void* src, size_t count) {
    auto* d = static_cast<unsigned char*>(dest);
    const auto* s = static_cast<const unsigned char*>(src);
    if (d <= s || d >= s + count) return memcpy(dest, src, count);
    while (count--) d[count] = s[count];
    return dest;
}

int memcmp(const void* a, const void* b, size_t count) {
    const auto* x = static_cast<const unsigned char*>(a);
    const auto* y = static_cast<const unsigned char*>(b);
    for (size_t i = 0; i < count; ++i)
        if (x[i] != y[i]) return x[i] < y[i] ? -1 : 1;
    return 0;
}

size_t strlen(const char* text) {
    size_t length = 0;
    while (text[length]) ++length;
    return length;
}

void __cxa_pure_virtual() { panic("pure virtual function called"); }

// Global objects are never destroyed (the kernel does not exit), so registrations are ignored.
int __cxa_atexit(void (*)(void*), void*, void*) { return 0; }
void* __dso_handle = nullptr;

}

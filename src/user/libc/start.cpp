// Process start-up and the C++ runtime hooks: runs static constructors, calls main, exits with
// its result. Also where errno lives and the handful of symbols clang-generated code may
// reference (__cxa_pure_virtual, operator new/delete).
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

// C++ linkage on purpose: with -ffreestanding, main is an ordinary function and is mangled.
int main(int argc, char** argv);

namespace {
int g_main_thread_errno;
}

extern "C" int* __errno_location(void) {
    // A thread's stack pointer is inside its slot, whose thread block is at the slot's top.
    const uintptr_t rsp = reinterpret_cast<uintptr_t>(__builtin_frame_address(0));
    if (rsp < SABLE_THREAD_STACKS_BASE || rsp >= SABLE_THREAD_STACKS_BASE + SABLE_MAX_THREADS * SABLE_THREAD_STACK_SLOT)
        return &g_main_thread_errno;
    const uintptr_t slot_top = rsp - (rsp - SABLE_THREAD_STACKS_BASE) % SABLE_THREAD_STACK_SLOT + SABLE_THREAD_STACK_SLOT;
    return reinterpret_cast<int*>(slot_top - SABLE_THREAD_BLOCK_SIZE);
}

// From user.ld: static constructors (none today, but a global with a constructor must work).
using InitFunction = void (*)();
extern "C" InitFunction __init_array_start[];
extern "C" InitFunction __init_array_end[];

extern "C" __attribute__((noreturn, used)) void __libc_start_main(int argc, char** argv) {
    for (InitFunction* f = __init_array_start; f != __init_array_end; ++f) (*f)();
    exit(main(argc, argv));
}

// A pure virtual function called during construction or destruction: a bug, stop loudly.
extern "C" void __cxa_pure_virtual() {
    static const char message[] = "pure virtual function called\n";
    write(2, message, sizeof message - 1);
    abort();
}

void* operator new(size_t size) {
    void* p = malloc(size);
    if (p == nullptr) abort();  // no exceptions: running out of memory here is fatal
    return p;
}
void* operator new[](size_t size) { return operator new(size); }
void operator delete(void* p) noexcept { free(p); }
void operator delete[](void* p) noexcept { free(p); }
void operator delete(void* p, size_t) noexcept { free(p); }
void operator delete[](void* p, size_t) noexcept { free(p); }

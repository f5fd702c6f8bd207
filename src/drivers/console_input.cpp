// Console input ring (see console_input.hpp).
#include "drivers/console_input.hpp"

#include <stddef.h>

namespace drivers::console_input {
namespace {

// Indices only grow and wrap by masking; the head is published after the character is stored.
constexpr size_t kBytes = 1024;
char g_ring[kBytes];
size_t g_head = 0, g_tail = 0;
void (*g_hook)() = nullptr;

}  // namespace

void push(char c) {
    const size_t head = __atomic_load_n(&g_head, __ATOMIC_RELAXED);
    if (head - __atomic_load_n(&g_tail, __ATOMIC_ACQUIRE) >= kBytes) return;  // full: drop
    g_ring[head % kBytes] = c;
    __atomic_store_n(&g_head, head + 1, __ATOMIC_RELEASE);
    if (void (*hook)() = __atomic_load_n(&g_hook, __ATOMIC_ACQUIRE)) hook();
}

bool available() { return __atomic_load_n(&g_tail, __ATOMIC_RELAXED) != __atomic_load_n(&g_head, __ATOMIC_ACQUIRE); }

bool read(char& out) {
    const size_t tail = __atomic_load_n(&g_tail, __ATOMIC_RELAXED);
    if (tail == __atomic_load_n(&g_head, __ATOMIC_ACQUIRE)) return false;
    out = g_ring[tail % kBytes];
    __atomic_store_n(&g_tail, tail + 1, __ATOMIC_RELEASE);
    return true;
}

void set_hook(void (*hook)()) { __atomic_store_n(&g_hook, hook, __ATOMIC_RELEASE); }

}  // namespace drivers::console_input

// Safe access to user memory (user_memory.hpp, "User pointers"): range checks and copies through
// arch::copy_user, which fails instead of faulting the kernel. Portable: the host tests run it
// against the fake arch, whose copy_user can be told to fault.
#include "arch/arch.hpp"
#include "mm/user_memory.hpp"

namespace kernel::user_memory {

bool range_ok(uint64_t address, uint64_t size) {
    // Inside one of the two user windows: the kernel's identity and direct maps lie between.
    if (address >= kUserBase && address <= kUserTop) return size <= kUserTop - address;
    return address >= kHighUserBase && address <= kHighUserTop && size <= kHighUserTop - address;
}

bool copy_from(void* destination, uint64_t user_source, uint64_t size) {
    return range_ok(user_source, size) && arch::copy_user(destination, reinterpret_cast<const void*>(user_source), size);
}

bool copy_to(uint64_t user_destination, const void* source, uint64_t size) {
    return range_ok(user_destination, size) && arch::copy_user(reinterpret_cast<void*>(user_destination), source, size);
}

int64_t copy_string_from(char* destination, uint64_t capacity, uint64_t user_source) {
    // In chunks that double from a small first one, never past the end of a page: a short string
    // costs a short copy (not the rest of its page), a long one at most twice its length, and a
    // string that ends just before an unmapped page does not fault.
    constexpr uint64_t kFirstChunk = 32;
    uint64_t copied = 0, wanted = kFirstChunk;
    while (copied < capacity) {
        const uint64_t at = user_source + copied;
        uint64_t chunk = mm::kPageSize - (at & (mm::kPageSize - 1));
        if (chunk > wanted) chunk = wanted;
        if (chunk > capacity - copied) chunk = capacity - copied;
        if (!copy_from(destination + copied, at, chunk)) return -1;
        for (uint64_t i = 0; i < chunk; ++i)
            if (destination[copied + i] == '\0') return static_cast<int64_t>(copied + i);
        copied += chunk;
        wanted *= 2;
    }
    return -2;
}

}  // namespace kernel::user_memory

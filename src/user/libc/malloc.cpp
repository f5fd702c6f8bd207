// The user heap: a first-fit allocator over memory taken from the kernel with sbrk.
//
// Design. Every block starts with a 16-byte header {size, link} and sizes are multiples of 16, so
// every payload is 16-byte aligned. A free block's link points to the next free block; the free
// list is kept in address order, so freeing merges a block with both neighbours in one pass and
// the heap never holds two adjacent free blocks. An allocated block's link holds kAllocatedTag,
// an odd value no block address can equal, so free() can catch double frees and foreign
// pointers. When no free block fits, the heap grows by at least kGrowBytes with sbrk and the new
// space is freed into the list, where it merges with a free block that ends at the old break
// ("coalescing on sbrk"). The brk heap is never returned to the kernel; blocks of 128 KiB or
// more get their own pages from mmap and go back with munmap. One mutex serialises the calls of
// a process's threads.
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

namespace {

struct Header {
    size_t size;   // bytes of the whole block, header included; a multiple of 16
    Header* link;  // free: next free block (higher address) or null; allocated: kAllocatedTag
};
static_assert(sizeof(Header) == 16, "payloads must stay 16-byte aligned");

constexpr size_t kAlign = 16;
constexpr size_t kMinBlock = 2 * sizeof(Header);  // a split never leaves a block without payload
constexpr size_t kGrowBytes = 64 * 1024;          // fewer sbrk calls for many small blocks
// Beyond this the request cannot be satisfied in a 1 GiB address space anyway, and the rounding
// below cannot overflow.
constexpr size_t kMaxRequest = size_t{1} << 32;
Header* const kAllocatedTag = reinterpret_cast<Header*>(uintptr_t{0xA110CA7EDB10C4EDull});
// Blocks of at least kMapThreshold bytes get pages of their own from mmap (free gives them back
// with munmap) instead of the brk heap, whose top can only shrink when its last block is free.
constexpr size_t kMapThreshold = 128 * 1024;
Header* const kMappedTag = reinterpret_cast<Header*>(uintptr_t{0x3A99EDB10C4ED001ull});

// Invariant: address-ordered, no two blocks adjacent in memory.
Header* g_free_list = nullptr;

size_t round_up(size_t value, size_t granule) { return (value + granule - 1) / granule * granule; }

char* end_of(Header* block) { return reinterpret_cast<char*>(block) + block->size; }

Header* header_of(void* payload) { return static_cast<Header*>(payload) - 1; }

[[noreturn]] void heap_corrupt(const char* what) {
    write(2, "malloc: ", 8);
    write(2, what, strlen(what));
    write(2, "\n", 1);
    abort();
}

// Puts `block` on the free list at its address and merges it with free neighbours.
void insert_free(Header* block) {
    Header* previous = nullptr;
    Header* next = g_free_list;
    while (next != nullptr && next < block) {
        previous = next;
        next = next->link;
    }
    if ((previous != nullptr && end_of(previous) > reinterpret_cast<char*>(block)) ||
        (next != nullptr && end_of(block) > reinterpret_cast<char*>(next)))
        heap_corrupt("block overlaps a free block (double free?)");

    block->link = next;
    if (next != nullptr && end_of(block) == reinterpret_cast<char*>(next)) {
        block->size += next->size;
        block->link = next->link;
    }
    if (previous == nullptr) {
        g_free_list = block;
    } else if (end_of(previous) == reinterpret_cast<char*>(block)) {
        previous->size += block->size;
        previous->link = block->link;
    } else {
        previous->link = block;
    }
}

// Grows the heap by at least `bytes` (a multiple of 16) and frees the new space into the list.
bool grow(size_t bytes) {
    void* current = sbrk(0);
    if (current == reinterpret_cast<void*>(-1)) return false;
    // The initial break is page-aligned in practice; align anyway, since someone else may have
    // moved it by an odd amount with sbrk.
    const size_t padding = (kAlign - reinterpret_cast<uintptr_t>(current) % kAlign) % kAlign;
    const size_t total = round_up(padding + (bytes < kGrowBytes ? kGrowBytes : bytes), 4096);
    void* old_break = sbrk(static_cast<intptr_t>(total));
    if (old_break == reinterpret_cast<void*>(-1)) {
        errno = ENOMEM;
        return false;
    }
    auto block = reinterpret_cast<Header*>(static_cast<char*>(old_break) + padding);
    block->size = (total - padding) / kAlign * kAlign;
    insert_free(block);
    return true;
}

// Allocates `block` (taken off the list) for `needed` bytes, returning any large tail.
void split_and_mark(Header* block, size_t needed) {
    if (block->size - needed >= kMinBlock) {
        auto tail = reinterpret_cast<Header*>(reinterpret_cast<char*>(block) + needed);
        tail->size = block->size - needed;
        block->size = needed;
        insert_free(tail);
    }
    block->link = kAllocatedTag;
}

size_t block_size_for(size_t request) {
    if (request == 0) request = 1;  // malloc(0): a unique, freeable pointer
    return round_up(request, kAlign) + sizeof(Header);
}

Header* take_first_fit(size_t needed) {
    Header* previous = nullptr;
    for (Header* block = g_free_list; block != nullptr; previous = block, block = block->link) {
        if (block->size >= needed) {
            if (previous == nullptr)
                g_free_list = block->link;
            else
                previous->link = block->link;
            return block;
        }
    }
    return nullptr;
}

}  // namespace

namespace {

// The heap is shared by the process's threads: one lock around each call.
pthread_mutex_t g_heap_lock = PTHREAD_MUTEX_INITIALIZER;

struct HeapGuard {
    HeapGuard() { pthread_mutex_lock(&g_heap_lock); }
    ~HeapGuard() { pthread_mutex_unlock(&g_heap_lock); }
};

void* allocate(size_t size) {
    if (size > kMaxRequest) {
        errno = ENOMEM;
        return nullptr;
    }
    const size_t needed = block_size_for(size);
    if (needed >= kMapThreshold) {
        const size_t mapped = round_up(needed, 4096);
        void* pages = mmap(nullptr, mapped, PROT_READ | PROT_WRITE, MAP_PRIVATE);
        if (pages == MAP_FAILED) return nullptr;  // errno from mmap
        auto* block = static_cast<Header*>(pages);
        block->size = mapped;
        block->link = kMappedTag;
        return block + 1;
    }
    Header* block = take_first_fit(needed);
    if (block == nullptr) {
        if (!grow(needed)) return nullptr;
        block = take_first_fit(needed);
        if (block == nullptr) heap_corrupt("grown heap has no fitting block");
    }
    split_and_mark(block, needed);
    return block + 1;
}

void release(void* pointer) {
    if (pointer == nullptr) return;
    Header* block = header_of(pointer);
    if (block->link == kMappedTag) {
        if (munmap(block, block->size) != 0) heap_corrupt("munmap of a mapped block failed");
        return;
    }
    if (block->link != kAllocatedTag) heap_corrupt("free of a pointer malloc did not return");
    insert_free(block);
}

}  // namespace

extern "C" {

void* malloc(size_t size) {
    HeapGuard guard;
    return allocate(size);
}

void free(void* pointer) {
    HeapGuard guard;
    release(pointer);
}

void* calloc(size_t count, size_t size) {
    if (size != 0 && count > kMaxRequest / size) {
        errno = ENOMEM;
        return nullptr;
    }
    void* p = malloc(count * size);
    if (p != nullptr) memset(p, 0, count * size);
    return p;
}

void* realloc(void* pointer, size_t size) {
    if (pointer == nullptr) return malloc(size);
    HeapGuard guard;
    if (size > kMaxRequest) {
        errno = ENOMEM;
        return nullptr;
    }
    Header* block = header_of(pointer);
    if (block->link == kMappedTag) {
        // Its own pages: a new block of the new size, the contents copied, the pages returned.
        void* moved = allocate(size);
        if (moved == nullptr) return nullptr;
        const size_t kept = block->size - sizeof(Header) < size ? block->size - sizeof(Header) : size;
        memcpy(moved, pointer, kept);
        release(pointer);
        return moved;
    }
    if (block->link != kAllocatedTag) heap_corrupt("realloc of a pointer malloc did not return");
    const size_t needed = block_size_for(size);
    if (block->size >= needed) {
        split_and_mark(block, needed);  // shrink in place, returning the tail
        return pointer;
    }
    // Grow in place when the block right after this one is free and large enough.
    Header* previous = nullptr;
    Header* next = g_free_list;
    while (next != nullptr && next < block) {
        previous = next;
        next = next->link;
    }
    if (next != nullptr && end_of(block) == reinterpret_cast<char*>(next) &&
        block->size + next->size >= needed) {
        if (previous == nullptr)
            g_free_list = next->link;
        else
            previous->link = next->link;
        block->size += next->size;
        split_and_mark(block, needed);
        return pointer;
    }
    void* moved = allocate(size);
    if (moved == nullptr) return nullptr;
    memcpy(moved, pointer, block->size - sizeof(Header));
    release(pointer);
    return moved;
}

}  // extern "C"

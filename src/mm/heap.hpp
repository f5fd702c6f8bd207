// Kernel heap: kmalloc/kfree behind a portable allocator.
//
// Design: small requests (<= 2048 bytes) are rounded up to one of eight size classes (16..2048)
// and served from slabs: 16 KiB blocks, aligned to 16 KiB, whose header sits at the block start,
// so free(ptr) finds it by rounding ptr down. Each slab keeps an intrusive free list of its
// objects and a bitmap of which are allocated, which catches double frees and pointers into the
// middle of an object. Larger requests take whole pages straight from the page source, also
// 16 KiB-aligned with the same header, so one rounding rule serves both. A slab that becomes empty
// is returned to the page source unless it is its class's only slab.
//
// The heap works on pages it is handed (PageSource): the kernel gives it frames through the
// direct map, a host test gives it aligned_alloc. It takes no lock; the kernel wraps it in one.
#pragma once

#include <stddef.h>
#include <stdint.h>

namespace mm {

class PageSource {
public:
    // `count` contiguous 4 KiB pages starting on a multiple of `align_pages` pages, or nullptr.
    virtual void* allocate_pages(size_t count, size_t align_pages) = 0;
    virtual void free_pages(void* first, size_t count) = 0;

protected:
    ~PageSource() = default;
};

enum class HeapFreeResult { Freed, Null, DoubleFree, BadPointer };
const char* describe(HeapFreeResult result);

struct HeapStats {
    uint64_t slabs[8];           // slabs held per size class
    uint64_t objects_in_use[8];  // live objects per size class
    uint64_t large_allocations;  // live page-backed allocations
    uint64_t pages_held;         // pages taken from the page source and not yet returned
};

class Heap {
public:
    static constexpr size_t kClassCount = 8;
    static constexpr size_t kSmallestClass = 16;
    static constexpr size_t kLargestClass = 2048;
    static constexpr size_t kBlockBytes = 16384;
    static constexpr size_t kPageBytes = 4096;
    static constexpr size_t kBlockPages = kBlockBytes / kPageBytes;

    explicit Heap(PageSource& pages) : m_pages(&pages) {}

    // nullptr when the page source is exhausted. Results are 16-byte aligned.
    void* allocate(size_t size_bytes);
    HeapFreeResult free(void* pointer);
    // Bytes usable at `pointer` (its size class, or the large allocation's capacity); 0 if unknown.
    size_t usable_size(const void* pointer) const;
    HeapStats stats() const;

    static size_t class_index(size_t size_bytes);  // size class serving this request
    static size_t class_size(size_t index) { return kSmallestClass << index; }

private:
    struct BlockHeader;
    BlockHeader* new_slab(size_t class_index);
    void* allocate_large(size_t size_bytes);

    PageSource* m_pages;
    BlockHeader* m_partial[kClassCount] = {};  // slabs of each class with a free object
    HeapStats m_stats = {};
};

}  // namespace mm

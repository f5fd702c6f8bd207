// Slab/page kernel heap (design in heap.hpp).
#include "mm/heap.hpp"

namespace mm {

namespace {
constexpr uint32_t kSlabMagic = 0x51AB51AB;
constexpr uint32_t kLargeMagic = 0x1A26E000;
}  // namespace

// Lives at the start of every 16 KiB block. 256 bytes: the first objects start after it, and
// 16-byte alignment of every object follows from the block alignment.
struct Heap::BlockHeader {
    uint32_t magic;         // kSlabMagic or kLargeMagic: anything else is not our pointer
    uint32_t class_index;   // slabs: size class
    uint32_t capacity;      // slabs: objects in the block
    uint32_t in_use;        // slabs: allocated objects
    uint64_t pages;         // large: pages in the allocation
    void* free_list;        // slabs: first free object (its first word links to the next)
    BlockHeader* next;      // slabs: neighbours in m_partial[class]
    BlockHeader* prev;
    uint64_t allocated[(kBlockBytes / kSmallestClass + 63) / 64];  // bit per object
};
// Large allocations start this far into their block: past the header, 16-byte aligned.
static constexpr size_t kHeaderBytes = 256;

const char* describe(HeapFreeResult result) {
    switch (result) {
    case HeapFreeResult::Freed: return "freed";
    case HeapFreeResult::Null: return "null pointer";
    case HeapFreeResult::DoubleFree: return "double free";
    case HeapFreeResult::BadPointer: return "not a heap pointer";
    }
    return "?";
}

size_t Heap::class_index(size_t size_bytes) {
    size_t index = 0;
    while (index + 1 < kClassCount && class_size(index) < size_bytes) ++index;
    return index;
}

Heap::BlockHeader* Heap::new_slab(size_t index) {
    void* block = m_pages->allocate_pages(kBlockPages, kBlockPages);
    if (!block) return nullptr;
    static_assert(sizeof(BlockHeader) <= kHeaderBytes, "header grew past its reserved room");
    auto* header = static_cast<BlockHeader*>(block);
    *header = {};
    header->magic = kSlabMagic;
    header->class_index = static_cast<uint32_t>(index);
    const size_t object_bytes = class_size(index);
    const size_t first = (sizeof(BlockHeader) + object_bytes - 1) / object_bytes;  // objects covered by the header
    header->capacity = static_cast<uint32_t>(kBlockBytes / object_bytes - first);
    // Thread the free list from the end, so objects are handed out in address order.
    auto* base = static_cast<uint8_t*>(block) + first * object_bytes;
    for (size_t i = header->capacity; i-- > 0;) {
        void* object = base + i * object_bytes;
        *static_cast<void**>(object) = header->free_list;
        header->free_list = object;
    }
    m_stats.slabs[index]++;
    m_stats.pages_held += kBlockPages;
    return header;
}

void* Heap::allocate_large(size_t size_bytes) {
    if (size_bytes > (size_t{1} << 40)) return nullptr;  // nonsense sizes must not overflow below
    const size_t pages = (size_bytes + kHeaderBytes + kPageBytes - 1) / kPageBytes;
    void* block = m_pages->allocate_pages(pages, kBlockPages);
    if (!block) return nullptr;
    auto* header = static_cast<BlockHeader*>(block);
    *header = {};
    header->magic = kLargeMagic;
    header->pages = pages;
    m_stats.large_allocations++;
    m_stats.pages_held += pages;
    return static_cast<uint8_t*>(block) + kHeaderBytes;
}

void* Heap::allocate(size_t size_bytes) {
    if (size_bytes > kLargestClass) return allocate_large(size_bytes);
    const size_t index = class_index(size_bytes);
    BlockHeader* slab = m_partial[index];
    if (!slab) {
        slab = new_slab(index);
        if (!slab) return nullptr;
        m_partial[index] = slab;
    }
    void* object = slab->free_list;
    slab->free_list = *static_cast<void**>(object);
    const size_t slot = (static_cast<uint8_t*>(object) - reinterpret_cast<uint8_t*>(slab)) / class_size(index);
    slab->allocated[slot / 64] |= 1ull << (slot % 64);
    slab->in_use++;
    m_stats.objects_in_use[index]++;
    if (!slab->free_list) {  // full: leave the partial list
        m_partial[index] = slab->next;
        if (slab->next) slab->next->prev = nullptr;
        slab->next = slab->prev = nullptr;
    }
    return object;
}

HeapFreeResult Heap::free(void* pointer) {
    if (!pointer) return HeapFreeResult::Null;
    const auto address = reinterpret_cast<uintptr_t>(pointer);
    auto* header = reinterpret_cast<BlockHeader*>(address & ~(uintptr_t{kBlockBytes} - 1));

    if (header->magic == kLargeMagic) {
        if (address != reinterpret_cast<uintptr_t>(header) + kHeaderBytes) return HeapFreeResult::BadPointer;
        const size_t pages = header->pages;
        header->magic = 0;  // a second free of this pointer now reads as a bad pointer
        m_stats.large_allocations--;
        m_stats.pages_held -= pages;
        m_pages->free_pages(header, pages);
        return HeapFreeResult::Freed;
    }
    if (header->magic != kSlabMagic || header->class_index >= kClassCount) return HeapFreeResult::BadPointer;

    const size_t index = header->class_index;
    const size_t object_bytes = class_size(index);
    const size_t offset = address - reinterpret_cast<uintptr_t>(header);
    const size_t first = (sizeof(BlockHeader) + object_bytes - 1) / object_bytes;
    const size_t slot = offset / object_bytes;
    if (offset % object_bytes != 0 || slot < first || slot >= first + header->capacity)
        return HeapFreeResult::BadPointer;
    uint64_t& word = header->allocated[slot / 64];
    const uint64_t bit = 1ull << (slot % 64);
    if (!(word & bit)) return HeapFreeResult::DoubleFree;
    word &= ~bit;

    const bool was_full = header->free_list == nullptr;
    *static_cast<void**>(pointer) = header->free_list;
    header->free_list = pointer;
    header->in_use--;
    m_stats.objects_in_use[index]--;

    if (was_full) {  // back on the partial list
        header->prev = nullptr;
        header->next = m_partial[index];
        if (m_partial[index]) m_partial[index]->prev = header;
        m_partial[index] = header;
    }
    // Give an empty slab back unless it is the only one of its class (avoids churn on a
    // single allocate/free pair).
    if (header->in_use == 0 && (header->prev || header->next)) {
        if (header->prev) header->prev->next = header->next;
        else m_partial[index] = header->next;
        if (header->next) header->next->prev = header->prev;
        header->magic = 0;
        m_stats.slabs[index]--;
        m_stats.pages_held -= kBlockPages;
        m_pages->free_pages(header, kBlockPages);
    }
    return HeapFreeResult::Freed;
}

size_t Heap::usable_size(const void* pointer) const {
    if (!pointer) return 0;
    const auto address = reinterpret_cast<uintptr_t>(pointer);
    const auto* header = reinterpret_cast<const BlockHeader*>(address & ~(uintptr_t{kBlockBytes} - 1));
    if (header->magic == kLargeMagic) return header->pages * kPageBytes - kHeaderBytes;
    if (header->magic == kSlabMagic && header->class_index < kClassCount) return class_size(header->class_index);
    return 0;
}

HeapStats Heap::stats() const { return m_stats; }

}  // namespace mm

// Physical page-frame allocator.
//
// Design: every frame has a one-byte state (the seed's encoding, extended: see PageState) and two
// 32-bit links. Free frames form one doubly linked list threaded through those links, so taking
// or returning a single frame is O(1) — a pop or a push — whatever the amount of RAM, and a frame
// can be unlinked from the middle in O(1) when a contiguous run claims it. The seed instead scans
// page-table AVL bits for a free entry, which is linear in RAM (docs/memory.md explains the
// departure). Contiguous runs (kernel stacks) are found by a next-fit scan of the state bytes:
// linear in the worst case, but rare and bounded by the run search, never by single-frame calls.
//
// The allocator works on memory it is handed (house style §2): the kernel gives it frames carved
// from the memory map, a host test gives it a std::vector. It takes no lock; the kernel wraps it
// in one, and per-CPU caches can sit in front of allocate()/free() later without changing it.
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "lib/result.hpp"
#include "lib/span.hpp"

namespace mm {

inline constexpr uint64_t kPageSize = 4096;
inline constexpr unsigned kPageShift = 12;

// Page-frame number: physical address >> 12. A distinct type so it cannot be mixed up with an
// address or a count.
struct Pfn {
    uint64_t value;
    constexpr uint64_t address() const { return value << kPageShift; }
    static constexpr Pfn from_address(uint64_t phys_addr) { return {phys_addr >> kPageShift}; }
    friend constexpr bool operator==(Pfn a, Pfn b) { return a.value == b.value; }
    friend constexpr bool operator!=(Pfn a, Pfn b) { return a.value != b.value; }
};

// The seed's 3-bit encoding (000 free, 001 stack, 010 kernel, 011 heap), extended. Values fit in
// three bits, so they could still live in PTE AVL bits.
enum class PageState : uint8_t {
    Free = 0,       // 000: on the free list
    Stack = 1,      // 001: a kernel or user stack page
    Kernel = 2,     // 010: kernel image, boot data, allocator metadata, kernel objects
    Heap = 3,       // 011: kernel heap (kmalloc) or a process heap
    PageTable = 4,  // 100: a page-table page of some address space
    User = 5,       // 101: user code/data page of a process
    Firmware = 6,   // 110: usable RAM the firmware or loader still owns (boot info, modules, <1 MiB)
    Absent = 7,     // 111: not RAM: a hole, a reserved or ACPI range, or past the end
};
inline constexpr unsigned kPageStateCount = 8;
const char* page_state_name(PageState state);

struct PhysRange {
    uint64_t base;
    uint64_t length;
};

enum class AllocError { OutOfMemory, NoContiguousRun, BadRequest };
enum class FreeError {
    DoubleFree,  // the frame is already free (freed twice, or never allocated)
    NotManaged,  // not allocatable RAM: a hole, firmware memory, or past the end
};
const char* describe(AllocError error);
const char* describe(FreeError error);

class PageFrameAllocator {
    // Both links of a frame share a cache line: two separate arrays a power-of-two distance apart
    // made every push/pop touch two lines that alias in L1 (measured: 41 vs 11 cycles at 256 GiB).
    struct FreeLinks {
        uint32_t next;  // free-list successor, kNone at the tail
        uint32_t prev;  // free-list predecessor, kNone at the head
    };

public:
    // Frames tracked are [0, frame_count): 32-bit links cover 16 TiB of physical address space.
    static constexpr uint64_t kMaxFrames = 0xFFFFFFFFull;
    static constexpr uint64_t metadata_bytes(uint64_t frame_count) {
        return frame_count * (sizeof(FreeLinks) + sizeof(uint8_t));
    }

    // Every frame starts Absent. `metadata` must hold metadata_bytes(frame_count) bytes, 4-aligned.
    bool init(uint64_t frame_count, kstd::Span<uint8_t> metadata);

    // The same metadata bytes, now reached at another virtual address (the kernel moves from
    // the boot identity map to the direct map, which every address space shares).
    void relocate_metadata(uint8_t* new_base) {
        m_links = reinterpret_cast<FreeLinks*>(new_base);
        m_states = reinterpret_cast<uint8_t*>(m_links + m_frame_count);
    }

    // Absent frames inside `range` (shrunk inward to whole pages) become Free. Frames already in
    // another state are left alone, so overlapping map entries cannot double-insert.
    void add_free_range(PhysRange range);
    // Free frames inside `range` (grown outward to whole pages) take `state`: used for the kernel
    // image, the boot information, modules and this allocator's own metadata. Frames in any
    // other state keep it, so reservations may overlap each other and holes harmlessly.
    void reserve_range(PhysRange range, PageState state);

    kstd::Result<Pfn, AllocError> allocate(PageState purpose);
    // `count` physically contiguous frames whose first frame is a multiple of `align_frames`.
    kstd::Result<Pfn, AllocError> allocate_run(uint64_t count, PageState purpose, uint64_t align_frames = 1);

    // Returns the frame to the free list; nothing changes on error.
    kstd::Result<bool, FreeError> free(Pfn frame);
    // Frees a run; checks every frame first, so an error frees nothing.
    kstd::Result<bool, FreeError> free_run(Pfn first, uint64_t count);

    // Owners of an allocated frame: mappings sharing it (copy-on-write after fork, memory shared
    // with a fork child). A frame starts with one; share() adds one; release() drops one and
    // frees the frame with the last. The count lives in the frame's free-list link, which is
    // unused while the frame is allocated, so sharing costs no memory.
    kstd::Result<uint32_t, FreeError> share(Pfn frame);  // the new count
    kstd::Result<uint32_t, FreeError> release(Pfn frame);  // owners left (0: now free)
    uint32_t owners(Pfn frame) const;  // 0 for a frame that is not allocated
    uint64_t shared_count() const { return m_shared; }  // frames with more than one owner

    PageState state(Pfn frame) const;
    uint64_t count(PageState state) const { return m_counts[static_cast<unsigned>(state)]; }
    uint64_t frame_count() const { return m_frame_count; }

    // Walks the whole free list and the state bytes and checks they agree (tests, sable.test=mm).
    bool check_consistency() const;

private:
    static constexpr uint32_t kNone = 0xFFFFFFFF;

    void push_free(uint32_t frame);
    void unlink_free(uint32_t frame);
    void set_state(uint32_t frame, PageState state);

    uint64_t m_frame_count = 0;
    uint8_t* m_states = nullptr;      // PageState per frame
    FreeLinks* m_links = nullptr;     // Free: the list links; allocated: next = owners
    uint32_t m_free_head = kNone;     // most recently freed frame: reused first while cache-warm
    uint64_t m_run_cursor = 0;        // next-fit start for allocate_run
    uint64_t m_counts[kPageStateCount] = {};
    uint64_t m_shared = 0;            // allocated frames with owners > 1
};

}  // namespace mm

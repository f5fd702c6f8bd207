// Physical page-frame allocator.
//
// Design: every frame has a one-byte state (the seed's encoding, extended: see PageState) and two
// 32-bit links. Free frames sit in one of three places, each O(1) to take from or give to:
//  - fresh runs: [first, end) stretches of frames never handed out since boot. The memory map
//    becomes a few runs, not one list entry per frame, so building the free pool costs per
//    region (a state byte per frame, set eight at a time), not ~28 instructions per frame.
//  - the free list: a doubly linked list through the links of frames freed since, reused first
//    (most recently freed: cache-warm), and unlinked from the middle in O(1) when a contiguous
//    run or a reservation claims a frame.
//  - per-CPU caches (FrameCache): a small stack of free frames per CPU that its owner takes from
//    and gives to without the kernel's lock and without an atomic read-modify-write (one store
//    fence on the take); refilled and drained in batches under the lock. When the lock-held
//    pool is empty, an allocation steals from the other CPUs' caches before it reports out of
//    memory, so no frame is stranded in a cache.
// The seed instead scans page-table AVL bits for a free entry, which is linear in RAM
// (docs/memory.md explains the departure). Contiguous runs (kernel stacks) are found by a
// next-fit scan of the state bytes: linear in the worst case, but rare and bounded by the run
// search, never by single-frame calls.
//
// The allocator works on memory it is handed (house style §2): the kernel gives it frames carved
// from the memory map, a host test gives it a std::vector. It takes no lock: the kernel wraps the
// "under the lock" calls below in one, and calls the cached fast paths with interrupts off on the
// CPU that owns the cache.
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

// One CPU's frame cache (see the top of this file). Its owner pushes and pops at `bottom`;
// under the kernel's lock a thief takes the oldest frame at `top` with a compare-and-swap (the
// Chase-Lev work-stealing deque, with the owner's last-element case moved under the lock). The
// frames in it are free, counted as free, and already carry the one owner an allocation gives.
// `count_delta` holds what the owner's lock-free allocations and frees changed in the per-state
// counts since it last folded them in under the lock (the Free entry stays 0: free is what the
// others are not). A cache line of its own per CPU: no CPU writes another's line.
// The indices are 64-bit and never wrap (2^64 operations), so "is there a frame" and "is there
// room" are plain comparisons; slots are indices mod kCapacity.
struct alignas(64) FrameCache {
    static constexpr unsigned kCapacity = 32;  // a power of two: slots are indices mod kCapacity
    static constexpr unsigned kBatch = kCapacity / 2;  // frames moved per refill or drain
    uint64_t top = 0;     // oldest frame's index; moved by thieves and, under the lock, the owner
    uint64_t bottom = 0;  // one past the newest; written by the owner only
    // The owner's own bound: a lock-free free may push while `bottom` is below it. Set under the
    // lock to top + kCapacity; thieves only raise `top`, so a stale bound never admits a frame
    // too many, it only sends a free to the lock a little early. 0 until the cache's first
    // locked call has made it known to the allocator (counted, stealable).
    uint64_t free_end = 0;
    int64_t count_delta[kPageStateCount] = {};  // per PageState
    uint32_t frames[kCapacity] = {};
};

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
    // Fresh runs held at once; a reservation or contiguous run that would split one more puts
    // the smaller piece on the free list instead.
    static constexpr unsigned kMaxFreshRuns = 32;
    // Ranges add_free_range remembers, so it can tell which frames are still Absent without
    // reading their state bytes; past this many it reads them.
    static constexpr unsigned kMaxAddedRanges = 64;
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
    // Frames in that state; cached frames count as Free.
    uint64_t count(PageState state) const {
        return m_counts[static_cast<unsigned>(state)] + cached_delta(static_cast<unsigned>(state));
    }
    uint64_t frame_count() const { return m_frame_count; }

    // Walks the free list, the fresh runs, the caches and the state bytes and checks they agree
    // (tests, sable.test=mm). Exact while no CPU is in a cached fast path.
    bool check_consistency() const;

    // --- per-CPU caches ---------------------------------------------------------------------
    // The caches of every CPU, `count` of them (under the lock, before the first cached call).
    void attach_caches(FrameCache* caches, unsigned count);
    // Lock-free, by the cache's owner with interrupts off. False: the cache cannot serve this
    // call (empty, full, a frame that needs the lock's checks): make the locked call instead.
    // Inline: they are the whole of a frame allocation or free on the common path.
    bool try_allocate_cached(FrameCache& cache, PageState purpose, Pfn& frame) {
        if (!is_allocation_purpose(purpose)) return false;
        const uint64_t taken = __atomic_load_n(&cache.bottom, __ATOMIC_RELAXED) - 1;
        __atomic_store_n(&cache.bottom, taken, __ATOMIC_RELAXED);
        // Publish the smaller bottom before reading top (a thief claims top, then reads bottom):
        // one of the two sees the other, so they never both take frame `taken`. The last frame
        // is left to the lock. Signed: an empty cache at index 0 makes `taken` -1.
        __atomic_thread_fence(__ATOMIC_SEQ_CST);
        if (static_cast<int64_t>(taken) <= static_cast<int64_t>(__atomic_load_n(&cache.top, __ATOMIC_RELAXED))) {
            __atomic_store_n(&cache.bottom, taken + 1, __ATOMIC_RELAXED);
            return false;
        }
        const uint32_t pfn = __atomic_load_n(&cache.frames[taken % FrameCache::kCapacity], __ATOMIC_RELAXED);
        add_delta(cache.count_delta[static_cast<unsigned>(purpose)], 1);
        store_state(pfn, static_cast<uint8_t>(purpose));
        frame = Pfn{pfn};
        return true;
    }
    // free(), or release() of a frame with one owner (shared frames take the locked path).
    bool try_free_cached(FrameCache& cache, Pfn frame) {
        if (frame.value >= m_frame_count) return false;
        uint8_t* const states = m_states;
        const unsigned state = __atomic_load_n(&states[frame.value], __ATOMIC_ACQUIRE);
        // Errors, and a frame with other owners (their count is the lock's), take the locked path.
        if (!held_alone(state)) return false;
        const uint64_t bottom = __atomic_load_n(&cache.bottom, __ATOMIC_RELAXED);
        if (bottom >= cache.free_end) return false;  // full, as far as the owner knows without top
        add_delta(cache.count_delta[state], -1);
        __atomic_store_n(&states[frame.value], kCachedFree, __ATOMIC_RELEASE);
        __atomic_store_n(&cache.frames[bottom % FrameCache::kCapacity], static_cast<uint32_t>(frame.value),
                         __ATOMIC_RELAXED);
        __atomic_store_n(&cache.bottom, bottom + 1, __ATOMIC_RELEASE);  // a thief sees the slot first
        return true;
    }
    // Under the lock, by the cache's owner: refill the cache (or steal from the others) and
    // allocate; free into the cache, draining half of it to the list when it is full.
    kstd::Result<Pfn, AllocError> allocate_cached_locked(FrameCache& cache, PageState purpose);
    kstd::Result<bool, FreeError> free_cached_locked(FrameCache& cache, Pfn frame);
    // Frames in caches right now (racy unless the CPUs are quiet; tests and reports).
    uint64_t cached_count() const;

private:
    static constexpr uint32_t kNone = 0xFFFFFFFF;
    // Flags beside the PageState in a state byte. Cached: a free frame in a CPU's cache, Free for
    // counting, invisible to the contiguous-run search and to reservations. Shared: a held
    // frame with more than one owner, so the cached free path (which reads only this byte)
    // leaves it to the lock, which keeps the owner count.
    static constexpr uint8_t kCachedFree = 0x80;
    static constexpr uint8_t kSharedFlag = 0x40;
    static constexpr uint8_t kStateMask = 0x3F;

    // A purpose an allocation may carry: not Free/Absent, and not Firmware, which free() refuses.
    static constexpr bool is_allocation_purpose(PageState purpose) {
        return static_cast<unsigned>(purpose) - 1u < static_cast<unsigned>(PageState::Firmware) - 1u;
    }
    // A state byte of a frame someone alone holds: allocated, not shared, neither free (listed,
    // fresh or cached) nor absent nor firmware-held.
    static constexpr bool held_alone(unsigned raw_state) {
        return raw_state - 1u < static_cast<unsigned>(PageState::Firmware) - 1u;
    }
    // Owner-side counters that other CPUs read: a plain load and store, never a locked RMW.
    static void add_delta(int64_t& counter, int64_t by) {
        __atomic_store_n(&counter, __atomic_load_n(&counter, __ATOMIC_RELAXED) + by, __ATOMIC_RELAXED);
    }

    struct FreshRun {
        uint32_t first, end;
    };
    struct AddedRange {
        uint64_t first, end;  // frames
    };

    void add_absent_stretches(uint64_t first, uint64_t end);
    void make_fresh(uint64_t first, uint64_t end);

    void link_free(uint32_t frame);  // onto the list; the state is the caller's
    void push_free(uint32_t frame);
    void unlink_free(uint32_t frame);
    void set_state(uint32_t frame, PageState state);
    uint8_t load_state(uint64_t frame) const { return __atomic_load_n(&m_states[frame], __ATOMIC_ACQUIRE); }
    void store_state(uint64_t frame, uint8_t state) { __atomic_store_n(&m_states[frame], state, __ATOMIC_RELEASE); }
    // Takes one free frame from the list, else the lowest fresh run; kNone if both are empty.
    uint32_t take_one();
    // Frames [first, end), all Free (not cached), leave the list and fresh runs.
    void take_range(uint64_t first, uint64_t end);
    int find_fresh_run(uint32_t frame) const;
    void add_fresh_run(uint32_t first, uint32_t end);
    void carve_fresh_run(unsigned index, uint32_t first, uint32_t end);
    void remove_fresh_run(unsigned index);
    // The cache's count deltas into m_counts (under the lock, by its owner).
    void fold_deltas(FrameCache& cache);
    void drain(FrameCache& cache, unsigned frames);
    // A frame from a cache other than `thief`'s (any cache: nullptr), kNone if all are empty
    // (under the lock).
    uint32_t steal(const FrameCache* thief);
    void steal_all_into_list();
    int64_t cached_delta(unsigned state) const;

    uint64_t m_frame_count = 0;
    uint8_t* m_states = nullptr;      // PageState per frame
    FreeLinks* m_links = nullptr;     // Free: the list links; allocated: next = owners
    uint32_t m_free_head = kNone;     // most recently freed frame: reused first while cache-warm
    FreshRun m_fresh[kMaxFreshRuns] = {};  // disjoint, highest first: the last is taken from
    unsigned m_fresh_count = 0;
    AddedRange m_added[kMaxAddedRanges] = {};  // add_free_range's arguments, as frames
    unsigned m_added_count = 0;
    uint64_t m_fresh_frames = 0;
    FrameCache* m_caches = nullptr;
    unsigned m_cache_count = 0;
    unsigned m_caches_in_use = 0;     // 1 + the highest cache index refilled so far
    uint64_t m_run_cursor = 0;        // next-fit start for allocate_run
    uint64_t m_counts[kPageStateCount] = {};
    uint64_t m_shared = 0;            // allocated frames with owners > 1
};

}  // namespace mm

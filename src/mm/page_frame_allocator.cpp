// Physical page-frame allocator (design in page_frame_allocator.hpp).
#include "mm/page_frame_allocator.hpp"

namespace mm {

const char* page_state_name(PageState state) {
    switch (state) {
    case PageState::Free: return "free";
    case PageState::Stack: return "stack";
    case PageState::Kernel: return "kernel";
    case PageState::Heap: return "heap";
    case PageState::PageTable: return "pagetable";
    case PageState::User: return "user";
    case PageState::Firmware: return "firmware";
    case PageState::Absent: return "absent";
    }
    return "?";
}

const char* describe(AllocError error) {
    switch (error) {
    case AllocError::OutOfMemory: return "out of memory";
    case AllocError::NoContiguousRun: return "no contiguous run of free frames that large";
    case AllocError::BadRequest: return "bad request";
    }
    return "?";
}

const char* describe(FreeError error) {
    switch (error) {
    case FreeError::DoubleFree: return "frame is already free (double free or never allocated)";
    case FreeError::NotManaged: return "frame is not allocatable RAM";
    }
    return "?";
}

namespace {

constexpr uint8_t kFreeState = static_cast<uint8_t>(PageState::Free);
constexpr uint8_t kAbsentState = static_cast<uint8_t>(PageState::Absent);
constexpr uint64_t kEightAbsent = 0x0101010101010101ull * kAbsentState;

}  // namespace

bool PageFrameAllocator::init(uint64_t frame_count, kstd::Span<uint8_t> metadata) {
    if (frame_count > kMaxFrames || metadata.size() < metadata_bytes(frame_count) ||
        reinterpret_cast<uintptr_t>(metadata.data()) % alignof(uint32_t) != 0)
        return false;
    m_frame_count = frame_count;
    // Links first (they need 4-byte alignment), states after.
    m_links = reinterpret_cast<FreeLinks*>(metadata.data());
    m_states = reinterpret_cast<uint8_t*>(m_links + frame_count);
    __builtin_memset(m_states, kAbsentState, frame_count);
    for (uint64_t& c : m_counts) c = 0;
    m_counts[static_cast<unsigned>(PageState::Absent)] = frame_count;
    m_free_head = kNone;
    m_run_cursor = 0;
    m_fresh_count = 0;
    m_fresh_frames = 0;
    m_added_count = 0;
    return true;
}

void PageFrameAllocator::set_state(uint32_t frame, PageState state) {
    --m_counts[load_state(frame) & kStateMask];
    store_state(frame, static_cast<uint8_t>(state));
    ++m_counts[static_cast<unsigned>(state)];
}

void PageFrameAllocator::link_free(uint32_t frame) {
    m_links[frame] = {m_free_head, kNone};
    if (m_free_head != kNone) m_links[m_free_head].prev = frame;
    m_free_head = frame;
}

void PageFrameAllocator::push_free(uint32_t frame) {
    link_free(frame);
    set_state(frame, PageState::Free);
}

void PageFrameAllocator::unlink_free(uint32_t frame) {
    const FreeLinks links = m_links[frame];
    if (links.prev != kNone) m_links[links.prev].next = links.next;
    else m_free_head = links.next;
    if (links.next != kNone) m_links[links.next].prev = links.prev;
}

uint32_t PageFrameAllocator::take_one() {
    if (m_free_head != kNone) {
        const uint32_t frame = m_free_head;
        m_free_head = m_links[frame].next;
        if (m_free_head != kNone) m_links[m_free_head].prev = kNone;
        return frame;
    }
    if (m_fresh_count == 0) return kNone;
    FreshRun& lowest = m_fresh[m_fresh_count - 1];
    const uint32_t frame = lowest.first++;
    --m_fresh_frames;
    if (lowest.first == lowest.end) --m_fresh_count;
    return frame;
}

int PageFrameAllocator::find_fresh_run(uint32_t frame) const {
    for (unsigned i = 0; i < m_fresh_count; ++i)
        if (frame >= m_fresh[i].first && frame < m_fresh[i].end) return static_cast<int>(i);
    return -1;
}

void PageFrameAllocator::remove_fresh_run(unsigned index) {
    for (unsigned i = index; i + 1 < m_fresh_count; ++i) m_fresh[i] = m_fresh[i + 1];
    --m_fresh_count;
}

void PageFrameAllocator::add_fresh_run(uint32_t first, uint32_t end) {
    m_fresh_frames += end - first;
    // Highest first; a neighbour that touches it grows instead of taking a slot.
    unsigned at = 0;
    while (at < m_fresh_count && m_fresh[at].first > first) ++at;
    if (at > 0 && m_fresh[at - 1].first == end) {
        m_fresh[at - 1].first = first;
        return;
    }
    if (at < m_fresh_count && m_fresh[at].end == first) {
        m_fresh[at].end = end;
        return;
    }
    if (m_fresh_count == kMaxFreshRuns) {
        // No slot left: these frames go on the list one by one (still correct, just per frame).
        m_fresh_frames -= end - first;
        for (uint32_t frame = end; frame > first; --frame) link_free(frame - 1);
        return;
    }
    for (unsigned i = m_fresh_count; i > at; --i) m_fresh[i] = m_fresh[i - 1];
    m_fresh[at] = {first, end};
    ++m_fresh_count;
}

void PageFrameAllocator::carve_fresh_run(unsigned index, uint32_t first, uint32_t end) {
    FreshRun& run = m_fresh[index];
    m_fresh_frames -= end - first;
    if (first == run.first && end == run.end) {
        remove_fresh_run(index);
    } else if (first == run.first) {
        run.first = end;
    } else if (end == run.end) {
        run.end = first;
    } else if (m_fresh_count < kMaxFreshRuns) {
        // Split: the upper piece takes a new slot just before (the list is highest first).
        const FreshRun upper{end, run.end};
        run.end = first;
        for (unsigned i = m_fresh_count; i > index; --i) m_fresh[i] = m_fresh[i - 1];
        m_fresh[index] = upper;
        ++m_fresh_count;
    } else {
        // No slot for a split: the smaller piece moves to the list.
        const uint32_t below = first - run.first, above = run.end - end;
        if (below <= above) {
            for (uint32_t frame = run.first; frame < first; ++frame) link_free(frame);
            m_fresh_frames -= below;
            run.first = end;
        } else {
            for (uint32_t frame = end; frame < run.end; ++frame) link_free(frame);
            m_fresh_frames -= above;
            run.end = first;
        }
    }
}

void PageFrameAllocator::take_range(uint64_t first, uint64_t end) {
    for (uint64_t pfn = first; pfn < end;) {
        const int run = find_fresh_run(static_cast<uint32_t>(pfn));
        if (run < 0) {
            unlink_free(static_cast<uint32_t>(pfn++));
            continue;
        }
        const uint64_t stop = end < m_fresh[run].end ? end : m_fresh[run].end;
        carve_fresh_run(static_cast<unsigned>(run), static_cast<uint32_t>(pfn), static_cast<uint32_t>(stop));
        pfn = stop;
    }
}

// [first, end) frames wholly inside `range`, or partly touched by it when `outward`; clamps at the
// top of the address space instead of wrapping.
static void frame_span(PhysRange range, bool outward, uint64_t frame_limit, uint64_t& first, uint64_t& end) {
    constexpr uint64_t kTopFrame = ~0ull >> kPageShift;
    const uint64_t last_byte = range.length == 0 ? range.base
                               : range.base + range.length - 1 < range.base ? ~0ull
                                                                            : range.base + range.length - 1;
    if (outward) {
        first = range.base >> kPageShift;
        end = (last_byte >> kPageShift) + 1;
    } else {
        first = (range.base >> kPageShift) + ((range.base & (kPageSize - 1)) ? 1 : 0);
        // The last frame counts only if the range covers it to its final byte.
        end = ((last_byte & (kPageSize - 1)) == kPageSize - 1) ? (last_byte >> kPageShift) + 1
                                                               : last_byte >> kPageShift;
        if (first > kTopFrame) first = end;  // the range starts in the last page: nothing whole
    }
    if (range.length == 0) end = first;
    if (end > frame_limit) end = frame_limit;
    if (first > end) first = end;
}

void PageFrameAllocator::add_free_range(PhysRange range) {
    uint64_t first, end;
    frame_span(range, false, m_frame_count, first, end);
    if (first >= end) return;
    if (m_added_count == kMaxAddedRanges) {
        add_absent_stretches(first, end);
        return;
    }
    // A frame leaves Absent only here, so the frames no earlier range covered are all Absent:
    // they become Free with no state byte read (at 8 GiB, reading them cost 1.3 M instructions
    // of a 3.4 M boot). The pieces between earlier ranges, lowest first.
    for (uint64_t at = first; at < end;) {
        const AddedRange* next = nullptr;
        for (unsigned i = 0; i < m_added_count; ++i) {
            const AddedRange& added = m_added[i];
            if (added.end > at && added.first < end && (!next || added.first < next->first)) next = &added;
        }
        const uint64_t piece_end = !next ? end : next->first > at ? next->first : at;
        if (piece_end > at) make_fresh(at, piece_end);
        at = !next ? end : next->end;
    }
    m_added[m_added_count++] = {first, end};  // when full, later ranges read the state bytes
}

// [first, end) may hold frames in any state: only stretches of Absent ones become Free.
void PageFrameAllocator::add_absent_stretches(uint64_t first, uint64_t end) {
    for (uint64_t pfn = first; pfn < end;) {
        if (m_states[pfn] != kAbsentState) {
            ++pfn;
            continue;
        }
        // The stretch of Absent frames from here: eight state bytes per comparison.
        uint64_t stretch_end = pfn + 1;
        for (uint64_t eight; stretch_end + 8 <= end; stretch_end += 8) {
            __builtin_memcpy(&eight, m_states + stretch_end, sizeof eight);
            if (eight != kEightAbsent) break;
        }
        while (stretch_end < end && m_states[stretch_end] == kAbsentState) ++stretch_end;
        make_fresh(pfn, stretch_end);
        pfn = stretch_end;
    }
}

// Absent frames [first, end) become Free, as one fresh run.
void PageFrameAllocator::make_fresh(uint64_t first, uint64_t end) {
    const uint64_t frames = end - first;
    __builtin_memset(m_states + first, kFreeState, frames);
    m_counts[kAbsentState] -= frames;
    m_counts[kFreeState] += frames;
    add_fresh_run(static_cast<uint32_t>(first), static_cast<uint32_t>(end));
}

void PageFrameAllocator::reserve_range(PhysRange range, PageState state) {
    if (state == PageState::Free || static_cast<unsigned>(state) >= kPageStateCount || range.length == 0) return;
    uint64_t first, end;
    frame_span(range, true, m_frame_count, first, end);
    for (uint64_t pfn = first; pfn < end;) {
        if (m_states[pfn] != kFreeState) {  // cached frames too: they are some CPU's
            ++pfn;
            continue;
        }
        uint64_t stretch_end = pfn + 1;
        while (stretch_end < end && m_states[stretch_end] == kFreeState) ++stretch_end;
        take_range(pfn, stretch_end);
        // All Free: one state fill and one count change for the stretch (the allocator's own
        // metadata is 20 MiB, 5 184 frames, at 8 GiB).
        __builtin_memset(m_states + pfn, static_cast<uint8_t>(state), stretch_end - pfn);
        m_counts[kFreeState] -= stretch_end - pfn;
        m_counts[static_cast<unsigned>(state)] += stretch_end - pfn;
        for (; pfn < stretch_end; ++pfn) m_links[pfn].next = 1;
    }
}

kstd::Result<Pfn, AllocError> PageFrameAllocator::allocate(PageState purpose) {
    if (!is_allocation_purpose(purpose)) return kstd::fail(AllocError::BadRequest);
    uint32_t frame = take_one();
    if (frame == kNone) frame = steal(nullptr);
    if (frame == kNone) return kstd::fail(AllocError::OutOfMemory);
    set_state(frame, purpose);
    m_links[frame].next = 1;  // one owner
    return Pfn{frame};
}

// Next multiple of `align` at or above `pfn`; saturates instead of wrapping (any huge alignment).
static uint64_t align_up_frame(uint64_t pfn, uint64_t align) {
    const uint64_t remainder = pfn % align;
    if (remainder == 0) return pfn;
    const uint64_t step = align - remainder;
    return pfn > ~0ull - step ? ~0ull : pfn + step;
}

kstd::Result<Pfn, AllocError> PageFrameAllocator::allocate_run(uint64_t count, PageState purpose,
                                                                uint64_t align_frames) {
    if (count == 0 || align_frames == 0 || !is_allocation_purpose(purpose))
        return kstd::fail(AllocError::BadRequest);
    if (count == 1 && align_frames == 1) return allocate(purpose);
    if (count > this->count(PageState::Free)) return kstd::fail(AllocError::OutOfMemory);

    // Next-fit: resume where the last run was found, wrap around once. Frames in CPU caches are
    // not Free to this search; if it fails while caches hold frames, they come back and it
    // searches once more.
    auto is_free = [&](uint64_t pfn) { return m_states[pfn] == kFreeState; };
    for (int attempt = 0; attempt < 2; ++attempt) {
        for (int pass = 0; pass < 2; ++pass) {
            uint64_t pfn = pass == 0 ? m_run_cursor : 0;
            const uint64_t limit = pass == 0 ? m_frame_count : m_run_cursor;
            pfn = align_up_frame(pfn, align_frames);
            while (pfn < limit && count <= m_frame_count - pfn) {
                uint64_t length = 0;
                while (length < count && is_free(pfn + length)) ++length;
                if (length == count) {
                    take_range(pfn, pfn + count);
                    for (uint64_t i = 0; i < count; ++i) {
                        set_state(static_cast<uint32_t>(pfn + i), purpose);
                        m_links[pfn + i].next = 1;
                    }
                    m_run_cursor = pfn + count;
                    return Pfn{pfn};
                }
                // Skip past the frame that broke the run, to the next aligned start.
                pfn = align_up_frame(pfn + length + 1, align_frames);
            }
        }
        if (cached_count() == 0) break;
        steal_all_into_list();
    }
    return kstd::fail(AllocError::NoContiguousRun);
}

kstd::Result<bool, FreeError> PageFrameAllocator::free(Pfn frame) {
    return free_run(frame, 1);
}

kstd::Result<bool, FreeError> PageFrameAllocator::free_run(Pfn first, uint64_t count) {
    if (first.value >= m_frame_count || count > m_frame_count - first.value)
        return kstd::fail(FreeError::NotManaged);
    for (uint64_t pfn = first.value; pfn < first.value + count; ++pfn) {
        const auto state = static_cast<PageState>(load_state(pfn) & kStateMask);
        if (state == PageState::Free) return kstd::fail(FreeError::DoubleFree);
        if (state == PageState::Absent || state == PageState::Firmware) return kstd::fail(FreeError::NotManaged);
    }
    for (uint64_t pfn = first.value + count; pfn > first.value; --pfn) {
        // Freed outright while shared (a caller that did not use release()): no longer counted.
        if (m_links[pfn - 1].next > 1) --m_shared;
        push_free(static_cast<uint32_t>(pfn - 1));
    }
    return true;
}

// Frames that may have owners: allocated, and neither absent nor firmware-held.
static bool ownable(PageState state) {
    return state != PageState::Free && state != PageState::Absent && state != PageState::Firmware;
}

kstd::Result<uint32_t, FreeError> PageFrameAllocator::share(Pfn frame) {
    if (frame.value >= m_frame_count) return kstd::fail(FreeError::NotManaged);
    const auto state = static_cast<PageState>(load_state(frame.value) & kStateMask);
    if (state == PageState::Free) return kstd::fail(FreeError::DoubleFree);
    if (!ownable(state)) return kstd::fail(FreeError::NotManaged);
    uint32_t& owners = m_links[frame.value].next;
    if (owners == 1) {
        ++m_shared;
        store_state(frame.value, load_state(frame.value) | kSharedFlag);
    }
    return ++owners;
}

kstd::Result<uint32_t, FreeError> PageFrameAllocator::release(Pfn frame) {
    if (frame.value >= m_frame_count) return kstd::fail(FreeError::NotManaged);
    const auto state = static_cast<PageState>(load_state(frame.value) & kStateMask);
    if (state == PageState::Free) return kstd::fail(FreeError::DoubleFree);
    if (!ownable(state)) return kstd::fail(FreeError::NotManaged);
    uint32_t& owners = m_links[frame.value].next;
    if (owners <= 1) {
        push_free(static_cast<uint32_t>(frame.value));
        return 0u;
    }
    if (owners == 2) {
        --m_shared;
        store_state(frame.value, load_state(frame.value) & ~kSharedFlag);
    }
    return --owners;
}

uint32_t PageFrameAllocator::owners(Pfn frame) const {
    if (frame.value >= m_frame_count || !ownable(static_cast<PageState>(load_state(frame.value) & kStateMask)))
        return 0;
    return m_links[frame.value].next;
}

PageState PageFrameAllocator::state(Pfn frame) const {
    if (frame.value >= m_frame_count) return PageState::Absent;
    return static_cast<PageState>(load_state(frame.value) & kStateMask);
}

// --- per-CPU caches ---------------------------------------------------------------------------

void PageFrameAllocator::attach_caches(FrameCache* caches, unsigned count) {
    m_caches = caches;
    m_cache_count = count;
    m_caches_in_use = 0;
}

int64_t PageFrameAllocator::cached_delta(unsigned state) const {
    int64_t sum = 0;
    for (unsigned i = 0; i < m_caches_in_use; ++i) {
        if (state != kFreeState) {
            sum += __atomic_load_n(&m_caches[i].count_delta[state], __ATOMIC_RELAXED);
            continue;
        }
        // Every frame a cached allocation or free moved left or joined the free frames.
        for (unsigned s = 0; s < kPageStateCount; ++s)
            if (s != kFreeState) sum -= __atomic_load_n(&m_caches[i].count_delta[s], __ATOMIC_RELAXED);
    }
    return sum;
}

uint64_t PageFrameAllocator::cached_count() const {
    uint64_t sum = 0;
    for (unsigned i = 0; i < m_caches_in_use; ++i) {
        const uint64_t top = __atomic_load_n(&m_caches[i].top, __ATOMIC_ACQUIRE);
        const uint64_t bottom = __atomic_load_n(&m_caches[i].bottom, __ATOMIC_ACQUIRE);
        if (static_cast<int64_t>(bottom - top) > 0) sum += bottom - top;
    }
    return sum;
}

void PageFrameAllocator::fold_deltas(FrameCache& cache) {
    const auto index = static_cast<unsigned>(&cache - m_caches);
    if (index >= m_caches_in_use) m_caches_in_use = index + 1;
    for (unsigned s = 0; s < kPageStateCount; ++s) {
        m_counts[s] += cache.count_delta[s];
        m_counts[kFreeState] -= cache.count_delta[s];
        __atomic_store_n(&cache.count_delta[s], 0, __ATOMIC_RELAXED);
    }
}

void PageFrameAllocator::drain(FrameCache& cache, unsigned frames) {
    uint64_t top = cache.top;
    const uint64_t bottom = cache.bottom;
    for (unsigned i = 0; i < frames && top != bottom; ++i, ++top) {
        const uint32_t pfn = cache.frames[top % FrameCache::kCapacity];
        store_state(pfn, kFreeState);  // still counted Free: nothing else changes
        link_free(pfn);
    }
    __atomic_store_n(&cache.top, top, __ATOMIC_RELEASE);
}

uint32_t PageFrameAllocator::steal(const FrameCache* thief) {
    for (unsigned i = 0; i < m_caches_in_use; ++i) {
        FrameCache& victim = m_caches[i];
        if (&victim == thief) continue;
        for (;;) {
            uint64_t top = __atomic_load_n(&victim.top, __ATOMIC_ACQUIRE);
            __atomic_thread_fence(__ATOMIC_SEQ_CST);
            const uint64_t bottom = __atomic_load_n(&victim.bottom, __ATOMIC_ACQUIRE);
            if (static_cast<int64_t>(bottom - top) <= 0) break;
            // Read before claiming: once top moves past it, the owner may reuse the slot.
            const uint32_t pfn = __atomic_load_n(&victim.frames[top % FrameCache::kCapacity], __ATOMIC_RELAXED);
            if (__atomic_compare_exchange_n(&victim.top, &top, top + 1, false, __ATOMIC_SEQ_CST, __ATOMIC_RELAXED))
                return pfn;
        }
    }
    return kNone;
}

void PageFrameAllocator::steal_all_into_list() {
    for (uint32_t pfn = steal(nullptr); pfn != kNone; pfn = steal(nullptr)) {
        store_state(pfn, kFreeState);
        link_free(pfn);
    }
}

kstd::Result<Pfn, AllocError> PageFrameAllocator::allocate_cached_locked(FrameCache& cache, PageState purpose) {
    if (!is_allocation_purpose(purpose)) return kstd::fail(AllocError::BadRequest);
    fold_deltas(cache);
    // Thieves hold the lock too: the owner has the cache to itself here.
    const uint64_t top = cache.top;
    uint64_t bottom = cache.bottom;
    cache.free_end = top + FrameCache::kCapacity;
    while (bottom - top < FrameCache::kBatch) {
        const uint32_t pfn = take_one();
        if (pfn == kNone) break;
        store_state(pfn, kCachedFree);
        m_links[pfn].next = 1;  // the owner its allocation will have
        cache.frames[bottom++ % FrameCache::kCapacity] = pfn;
    }
    uint32_t pfn;
    if (bottom != top) {
        pfn = cache.frames[--bottom % FrameCache::kCapacity];
    } else {
        pfn = steal(&cache);
        if (pfn == kNone) {
            __atomic_store_n(&cache.bottom, bottom, __ATOMIC_RELEASE);
            return kstd::fail(AllocError::OutOfMemory);
        }
    }
    __atomic_store_n(&cache.bottom, bottom, __ATOMIC_RELEASE);
    set_state(pfn, purpose);
    m_links[pfn].next = 1;
    return Pfn{pfn};
}

kstd::Result<bool, FreeError> PageFrameAllocator::free_cached_locked(FrameCache& cache, Pfn frame) {
    if (frame.value >= m_frame_count) return kstd::fail(FreeError::NotManaged);
    const auto pfn = static_cast<uint32_t>(frame.value);
    const auto state = static_cast<PageState>(load_state(pfn) & kStateMask);
    if (state == PageState::Free) return kstd::fail(FreeError::DoubleFree);
    if (state == PageState::Absent || state == PageState::Firmware) return kstd::fail(FreeError::NotManaged);
    fold_deltas(cache);
    if (m_links[pfn].next > 1) --m_shared;  // freed outright while shared
    if (cache.bottom - cache.top >= FrameCache::kCapacity) drain(cache, FrameCache::kBatch);
    cache.free_end = cache.top + FrameCache::kCapacity;
    set_state(pfn, PageState::Free);
    store_state(pfn, kCachedFree);
    m_links[pfn].next = 1;
    cache.frames[cache.bottom % FrameCache::kCapacity] = pfn;
    __atomic_store_n(&cache.bottom, cache.bottom + 1, __ATOMIC_RELEASE);
    return true;
}

bool PageFrameAllocator::check_consistency() const {
    uint64_t listed = 0;
    uint32_t prev = kNone;
    for (uint32_t frame = m_free_head; frame != kNone; frame = m_links[frame].next) {
        if (frame >= m_frame_count || m_states[frame] != kFreeState || m_links[frame].prev != prev ||
            ++listed > m_frame_count)
            return false;
        prev = frame;
    }
    uint64_t fresh = 0;
    for (unsigned i = 0; i < m_fresh_count; ++i) {
        const FreshRun run = m_fresh[i];
        if (run.first >= run.end || run.end > m_frame_count || (i > 0 && run.end > m_fresh[i - 1].first)) return false;
        for (uint32_t frame = run.first; frame < run.end; ++frame)
            if (m_states[frame] != kFreeState) return false;
        fresh += run.end - run.first;
    }
    if (fresh != m_fresh_frames) return false;
    uint64_t cached = 0;
    for (unsigned c = 0; c < m_caches_in_use; ++c) {
        const FrameCache& cache = m_caches[c];
        const uint64_t size = cache.bottom - cache.top;
        if (size > FrameCache::kCapacity || cache.free_end > cache.top + FrameCache::kCapacity) return false;
        for (uint64_t i = cache.top; i != cache.bottom; ++i) {
            const uint32_t frame = cache.frames[i % FrameCache::kCapacity];
            if (frame >= m_frame_count || m_states[frame] != kCachedFree || m_links[frame].next != 1) return false;
        }
        cached += size;
    }
    uint64_t counted[kPageStateCount] = {};
    uint64_t marked_cached = 0;
    for (uint64_t i = 0; i < m_frame_count; ++i) {
        const uint8_t raw = m_states[i];
        const auto state = static_cast<PageState>(raw & kStateMask);
        if (static_cast<unsigned>(state) >= kPageStateCount || ((raw & kCachedFree) && raw != kCachedFree) ||
            ((raw & kSharedFlag) != 0) != (ownable(state) && m_links[i].next > 1))
            return false;
        marked_cached += m_states[i] == kCachedFree;
        ++counted[m_states[i] & kStateMask];
    }
    for (unsigned s = 0; s < kPageStateCount; ++s)
        if (static_cast<int64_t>(counted[s]) != static_cast<int64_t>(m_counts[s]) + cached_delta(s)) return false;
    return marked_cached == cached && listed + fresh + cached == counted[kFreeState];
}

}  // namespace mm

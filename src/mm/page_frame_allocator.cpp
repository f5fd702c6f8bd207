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

bool PageFrameAllocator::init(uint64_t frame_count, kstd::Span<uint8_t> metadata) {
    if (frame_count > kMaxFrames || metadata.size() < metadata_bytes(frame_count) ||
        reinterpret_cast<uintptr_t>(metadata.data()) % alignof(uint32_t) != 0)
        return false;
    m_frame_count = frame_count;
    // Links first (they need 4-byte alignment), states after.
    m_links = reinterpret_cast<FreeLinks*>(metadata.data());
    m_states = reinterpret_cast<uint8_t*>(m_links + frame_count);
    for (uint64_t i = 0; i < frame_count; ++i) m_states[i] = static_cast<uint8_t>(PageState::Absent);
    for (uint64_t& c : m_counts) c = 0;
    m_counts[static_cast<unsigned>(PageState::Absent)] = frame_count;
    m_free_head = kNone;
    m_run_cursor = 0;
    return true;
}

void PageFrameAllocator::set_state(uint32_t frame, PageState state) {
    --m_counts[m_states[frame]];
    m_states[frame] = static_cast<uint8_t>(state);
    ++m_counts[static_cast<unsigned>(state)];
}

void PageFrameAllocator::push_free(uint32_t frame) {
    m_links[frame] = {m_free_head, kNone};
    if (m_free_head != kNone) m_links[m_free_head].prev = frame;
    m_free_head = frame;
    set_state(frame, PageState::Free);
}

void PageFrameAllocator::unlink_free(uint32_t frame) {
    const FreeLinks links = m_links[frame];
    if (links.prev != kNone) m_links[links.prev].next = links.next;
    else m_free_head = links.next;
    if (links.next != kNone) m_links[links.next].prev = links.prev;
}

// A purpose an allocation may carry: not Free/Absent, and not Firmware, which free() refuses.
static bool is_allocation_purpose(PageState purpose) {
    const auto value = static_cast<unsigned>(purpose);
    return value < kPageStateCount && purpose != PageState::Free && purpose != PageState::Absent &&
           purpose != PageState::Firmware;
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
    // Pushed from the top down, so the list hands out low frames first on a fresh boot.
    for (uint64_t pfn = end; pfn > first; --pfn) {
        const auto frame = static_cast<uint32_t>(pfn - 1);
        if (m_states[frame] == static_cast<uint8_t>(PageState::Absent)) push_free(frame);
    }
}

void PageFrameAllocator::reserve_range(PhysRange range, PageState state) {
    if (state == PageState::Free || static_cast<unsigned>(state) >= kPageStateCount || range.length == 0) return;
    uint64_t first, end;
    frame_span(range, true, m_frame_count, first, end);
    for (uint64_t pfn = first; pfn < end; ++pfn) {
        const auto frame = static_cast<uint32_t>(pfn);
        if (m_states[frame] != static_cast<uint8_t>(PageState::Free)) continue;
        unlink_free(frame);
        set_state(frame, state);
        m_links[frame].next = 1;
    }
}

kstd::Result<Pfn, AllocError> PageFrameAllocator::allocate(PageState purpose) {
    if (!is_allocation_purpose(purpose)) return kstd::fail(AllocError::BadRequest);
    const uint32_t frame = m_free_head;
    if (frame == kNone) return kstd::fail(AllocError::OutOfMemory);
    m_free_head = m_links[frame].next;
    if (m_free_head != kNone) m_links[m_free_head].prev = kNone;
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
    if (count > m_counts[static_cast<unsigned>(PageState::Free)]) return kstd::fail(AllocError::OutOfMemory);

    // Next-fit: resume where the last run was found, wrap around once.
    auto is_free = [&](uint64_t pfn) { return m_states[pfn] == static_cast<uint8_t>(PageState::Free); };
    for (int pass = 0; pass < 2; ++pass) {
        uint64_t pfn = pass == 0 ? m_run_cursor : 0;
        const uint64_t limit = pass == 0 ? m_frame_count : m_run_cursor;
        pfn = align_up_frame(pfn, align_frames);
        while (pfn < limit && count <= m_frame_count - pfn) {
            uint64_t length = 0;
            while (length < count && is_free(pfn + length)) ++length;
            if (length == count) {
                for (uint64_t i = 0; i < count; ++i) {
                    unlink_free(static_cast<uint32_t>(pfn + i));
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
    return kstd::fail(AllocError::NoContiguousRun);
}

kstd::Result<bool, FreeError> PageFrameAllocator::free(Pfn frame) {
    return free_run(frame, 1);
}

kstd::Result<bool, FreeError> PageFrameAllocator::free_run(Pfn first, uint64_t count) {
    if (first.value >= m_frame_count || count > m_frame_count - first.value)
        return kstd::fail(FreeError::NotManaged);
    for (uint64_t pfn = first.value; pfn < first.value + count; ++pfn) {
        const auto state = static_cast<PageState>(m_states[pfn]);
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
    const auto state = static_cast<PageState>(m_states[frame.value]);
    if (state == PageState::Free) return kstd::fail(FreeError::DoubleFree);
    if (!ownable(state)) return kstd::fail(FreeError::NotManaged);
    uint32_t& owners = m_links[frame.value].next;
    if (owners == 1) ++m_shared;
    return ++owners;
}

kstd::Result<uint32_t, FreeError> PageFrameAllocator::release(Pfn frame) {
    if (frame.value >= m_frame_count) return kstd::fail(FreeError::NotManaged);
    const auto state = static_cast<PageState>(m_states[frame.value]);
    if (state == PageState::Free) return kstd::fail(FreeError::DoubleFree);
    if (!ownable(state)) return kstd::fail(FreeError::NotManaged);
    uint32_t& owners = m_links[frame.value].next;
    if (owners <= 1) {
        push_free(static_cast<uint32_t>(frame.value));
        return 0u;
    }
    if (owners == 2) --m_shared;
    return --owners;
}

uint32_t PageFrameAllocator::owners(Pfn frame) const {
    if (frame.value >= m_frame_count || !ownable(static_cast<PageState>(m_states[frame.value]))) return 0;
    return m_links[frame.value].next;
}

PageState PageFrameAllocator::state(Pfn frame) const {
    if (frame.value >= m_frame_count) return PageState::Absent;
    return static_cast<PageState>(m_states[frame.value]);
}

bool PageFrameAllocator::check_consistency() const {
    uint64_t listed = 0;
    uint32_t prev = kNone;
    for (uint32_t frame = m_free_head; frame != kNone; frame = m_links[frame].next) {
        if (frame >= m_frame_count || m_states[frame] != static_cast<uint8_t>(PageState::Free) ||
            m_links[frame].prev != prev || ++listed > m_frame_count)
            return false;
        prev = frame;
    }
    uint64_t counted[kPageStateCount] = {};
    for (uint64_t i = 0; i < m_frame_count; ++i) {
        if (m_states[i] >= kPageStateCount) return false;
        ++counted[m_states[i]];
    }
    for (unsigned s = 0; s < kPageStateCount; ++s)
        if (counted[s] != m_counts[s]) return false;
    return listed == m_counts[static_cast<unsigned>(PageState::Free)];
}

}  // namespace mm

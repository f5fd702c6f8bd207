// The seed kernel's page-frame allocator, modelled on the host as the baseline Sable's allocator is
// measured against: one 64-bit page-table entry per 4 KiB frame whose AVL bits (9-11) hold the
// state, 0 meaning free, found by scanning the table from its start (seed README, "Memory layout").
#pragma once

#include <stddef.h>
#include <stdint.h>

#include <vector>

#include "mm/page_frame_allocator.hpp"

class SeedAvlScanAllocator {
public:
    // The seed's AVL encoding: 000 free, 001 stack, 010 kernel, 011 heap.
    static constexpr uint64_t kAvlShift = 9;
    static constexpr uint64_t kAvlMask = uint64_t{7} << kAvlShift;
    static constexpr uint64_t kAvlKernel = 2;
    static constexpr uint64_t kPresentWritable = 0x3;
    static constexpr uint64_t kNoFrame = ~uint64_t{0};

    // Every frame gets an identity-mapped entry; frames outside `usable` are marked kernel-owned,
    // because the seed only ever hands out entries whose AVL bits are clear.
    void init(uint64_t frame_count, const std::vector<mm::PhysRange>& usable) {
        m_entries.assign(frame_count, 0);
        for (uint64_t frame = 0; frame < frame_count; ++frame)
            m_entries[frame] = (frame << mm::kPageShift) | kPresentWritable | (kAvlKernel << kAvlShift);
        for (const mm::PhysRange& range : usable) {
            const uint64_t first = (range.base + mm::kPageSize - 1) >> mm::kPageShift;
            uint64_t end = (range.base + range.length) >> mm::kPageShift;
            if (end > frame_count) end = frame_count;
            for (uint64_t frame = first; frame < end; ++frame) m_entries[frame] &= ~kAvlMask;
        }
    }

    // The seed's search: the first entry from the start of the table whose AVL bits are clear.
    uint64_t allocate(uint64_t avl = kAvlKernel) {
        const size_t count = m_entries.size();
        uint64_t* entries = m_entries.data();
        for (size_t frame = 0; frame < count; ++frame) {
            if ((entries[frame] & kAvlMask) == 0) {
                entries[frame] |= avl << kAvlShift;
                return frame;
            }
        }
        return kNoFrame;
    }

    // The seed clears the AVL bits and checks nothing.
    void free(uint64_t frame) { m_entries[frame] &= ~kAvlMask; }

    // Leaves the table exactly as `count` calls to allocate() would (they take the lowest free
    // entries), in one pass instead of count scans: a benchmark fill of 99 % of 256 GiB by
    // allocate() would take days.
    uint64_t allocate_lowest(uint64_t count, uint64_t avl = kAvlKernel) {
        uint64_t taken = 0;
        for (size_t frame = 0; frame < m_entries.size() && taken < count; ++frame) {
            if ((m_entries[frame] & kAvlMask) != 0) continue;
            m_entries[frame] |= avl << kAvlShift;
            ++taken;
        }
        return taken;
    }

    uint64_t free_count() const {
        uint64_t free_frames = 0;
        for (uint64_t entry : m_entries) free_frames += (entry & kAvlMask) == 0;
        return free_frames;
    }

private:
    std::vector<uint64_t> m_entries;  // the seed's kernel 4 KiB page table, one entry per frame
};

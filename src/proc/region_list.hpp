// The anonymous-memory regions of one address space (mmap, munmap, mprotect): a sorted array of
// disjoint [start, end) ranges, each with its protection and sharing. Page tables say what is
// committed; the region list says what may be. A fault inside a region commits a zeroed page
// with the region's rights; a fault outside one kills the process.
//
// Partial unmaps and protection changes split regions; neighbours with equal rights merge, so a
// process that maps and unmaps in a pattern keeps few entries. The storage is handed in (the
// kernel's heap; a host test's array) and never grows: an operation that would need more
// entries than the capacity fails with nothing changed.
#pragma once

#include <stdint.h>

namespace kernel::process {

struct Region {
    uint64_t start, end;  // page-aligned, start < end
    uint32_t prot;        // SABLE_PROT_* bits
    uint32_t flags;       // SABLE_MAP_PRIVATE or SABLE_MAP_SHARED
};

class RegionList {
public:
    RegionList() = default;
    RegionList(Region* storage, unsigned capacity) : m_regions(storage), m_capacity(capacity) {}

    unsigned count() const { return m_count; }
    unsigned capacity() const { return m_capacity; }
    const Region& at(unsigned index) const { return m_regions[index]; }

    // The region holding `address`, or nullptr.
    const Region* find(uint64_t address) const;
    bool overlaps(uint64_t start, uint64_t end) const;
    // True if every byte of [start, end) is inside some region.
    bool covers(uint64_t start, uint64_t end) const;
    // The lowest free range of `length` bytes inside [low, high): at `hint` if that range is
    // free, else the first gap at or above it, else the first from `low`. 0 if none fits.
    uint64_t find_gap(uint64_t length, uint64_t low, uint64_t high, uint64_t hint) const;

    // Adds a region over a free range (the caller checked). False: no room for an entry.
    bool insert(const Region& region);
    // Removes [start, end) from every region it touches. False (nothing changed): a region
    // would split in two and there is no room for the second entry.
    bool remove(uint64_t start, uint64_t end);
    // Sets the protection of [start, end), which must be covered. False: no room to split.
    bool protect(uint64_t start, uint64_t end, uint32_t prot);
    // Copies every region of `other` (a fork); false if they do not fit.
    bool copy_from(const RegionList& other);

private:
    // Index of the first region whose end is above `address` (count if none).
    unsigned first_ending_above(uint64_t address) const;
    void insert_at(unsigned index, const Region& region);
    void erase_at(unsigned index);
    void merge_around(unsigned index);
    // Splits the region holding `address` there (if it is inside one, not at its start).
    bool split_at(uint64_t address);
    unsigned splits_needed(uint64_t start, uint64_t end) const;

    Region* m_regions = nullptr;
    unsigned m_capacity = 0;
    unsigned m_count = 0;
};

}  // namespace kernel::process

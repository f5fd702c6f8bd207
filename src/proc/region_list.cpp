// Anonymous-memory regions (see region_list.hpp).
#include "proc/region_list.hpp"

namespace kernel::process {

unsigned RegionList::first_ending_above(uint64_t address) const {
    // Binary search: regions are sorted and disjoint, so their ends are sorted too.
    unsigned low = 0, high = m_count;
    while (low < high) {
        const unsigned middle = low + (high - low) / 2;
        if (m_regions[middle].end <= address) low = middle + 1;
        else high = middle;
    }
    return low;
}

const Region* RegionList::find(uint64_t address) const {
    const unsigned i = first_ending_above(address);
    return i < m_count && m_regions[i].start <= address ? &m_regions[i] : nullptr;
}

bool RegionList::overlaps(uint64_t start, uint64_t end) const {
    const unsigned i = first_ending_above(start);
    return i < m_count && m_regions[i].start < end;
}

bool RegionList::covers(uint64_t start, uint64_t end) const {
    uint64_t at = start;
    for (unsigned i = first_ending_above(start); i < m_count && at < end; ++i) {
        if (m_regions[i].start > at) return false;
        at = m_regions[i].end;
    }
    return at >= end;
}

uint64_t RegionList::find_gap(uint64_t length, uint64_t low, uint64_t high, uint64_t hint) const {
    if (length == 0 || length > high - low) return 0;
    auto first_fit_from = [&](uint64_t from) -> uint64_t {
        uint64_t candidate = from;
        for (unsigned i = first_ending_above(from); i < m_count; ++i) {
            if (m_regions[i].start >= candidate && m_regions[i].start - candidate >= length) break;
            if (m_regions[i].end > candidate) candidate = m_regions[i].end;
        }
        return candidate <= high - length ? candidate : 0;
    };
    if (hint >= low && hint <= high - length) {
        if (!overlaps(hint, hint + length)) return hint;
        if (const uint64_t above = first_fit_from(hint)) return above;
    }
    return first_fit_from(low);
}

void RegionList::insert_at(unsigned index, const Region& region) {
    for (unsigned i = m_count; i > index; --i) m_regions[i] = m_regions[i - 1];
    m_regions[index] = region;
    ++m_count;
}

void RegionList::erase_at(unsigned index) {
    for (unsigned i = index; i + 1 < m_count; ++i) m_regions[i] = m_regions[i + 1];
    --m_count;
}

void RegionList::merge_around(unsigned index) {
    auto same = [](const Region& a, const Region& b) {
        return a.end == b.start && a.prot == b.prot && a.flags == b.flags;
    };
    if (index + 1 < m_count && same(m_regions[index], m_regions[index + 1])) {
        m_regions[index].end = m_regions[index + 1].end;
        erase_at(index + 1);
    }
    if (index > 0 && same(m_regions[index - 1], m_regions[index])) {
        m_regions[index - 1].end = m_regions[index].end;
        erase_at(index);
    }
}

bool RegionList::insert(const Region& region) {
    if (m_count == m_capacity) {
        // It may still fit by merging with a neighbour.
        const unsigned i = first_ending_above(region.start);
        const bool joins_next = i < m_count && m_regions[i].start == region.end &&
                                m_regions[i].prot == region.prot && m_regions[i].flags == region.flags;
        const bool joins_previous = i > 0 && m_regions[i - 1].end == region.start &&
                                    m_regions[i - 1].prot == region.prot && m_regions[i - 1].flags == region.flags;
        if (joins_next) {
            m_regions[i].start = region.start;
            if (joins_previous) merge_around(i);
            return true;
        }
        if (joins_previous) {
            m_regions[i - 1].end = region.end;
            return true;
        }
        return false;
    }
    const unsigned index = first_ending_above(region.start);
    insert_at(index, region);
    merge_around(index);
    return true;
}

unsigned RegionList::splits_needed(uint64_t start, uint64_t end) const {
    const Region* at_start = find(start);
    const Region* at_end = find(end);
    return (at_start && at_start->start < start) + (at_end && at_end->start < end);
}

bool RegionList::split_at(uint64_t address) {
    const unsigned i = first_ending_above(address);
    if (i == m_count || m_regions[i].start >= address) return true;  // not inside a region
    if (m_count == m_capacity) return false;
    Region upper = m_regions[i];
    upper.start = address;
    m_regions[i].end = address;
    insert_at(i + 1, upper);
    return true;
}

bool RegionList::remove(uint64_t start, uint64_t end) {
    if (start >= end) return true;
    unsigned i = first_ending_above(start);
    if (i == m_count || m_regions[i].start >= end) return true;  // nothing there
    Region& first = m_regions[i];
    if (first.start < start && first.end > end) {
        // A hole inside one region: the only case that needs another entry.
        if (m_count == m_capacity) return false;
        Region upper = first;
        upper.start = end;
        first.end = start;
        insert_at(i + 1, upper);
        return true;
    }
    if (first.start < start) {
        first.end = start;  // keep its lower part
        ++i;
    }
    while (i < m_count && m_regions[i].end <= end) erase_at(i);
    if (i < m_count && m_regions[i].start < end) m_regions[i].start = end;  // keep its upper part
    return true;
}

bool RegionList::protect(uint64_t start, uint64_t end, uint32_t prot) {
    if (m_count + splits_needed(start, end) > m_capacity) return false;
    split_at(start);
    split_at(end);
    for (unsigned i = first_ending_above(start); i < m_count && m_regions[i].start < end; ++i) m_regions[i].prot = prot;
    // Merge the changed run with itself and its neighbours, from the right so indices stay valid.
    unsigned last = first_ending_above(end - 1);
    const unsigned first = first_ending_above(start);
    for (unsigned i = last + 1; i-- > first;) {
        if (i < m_count) merge_around(i);
    }
    return true;
}

bool RegionList::copy_from(const RegionList& other) {
    if (other.m_count > m_capacity) return false;
    for (unsigned i = 0; i < other.m_count; ++i) m_regions[i] = other.m_regions[i];
    m_count = other.m_count;
    return true;
}

}  // namespace kernel::process

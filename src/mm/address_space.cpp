// Address-space operations over 4-level page tables (see address_space.hpp).
#include "mm/address_space.hpp"

namespace mm {
namespace {

namespace pte = arch::pte;
constexpr unsigned kTop = pte::kLevels - 1;

bool aligned(uint64_t value, uint64_t alignment) { return (value & (alignment - 1)) == 0; }

// A non-empty range that does not wrap past 2^64 and lies entirely in one canonical half: the
// index arithmetic ignores bits 48-63, so a range through the hole would alias real entries.
bool valid_range(uint64_t virt, uint64_t size) {
    if (size == 0) return false;
    const uint64_t last = virt + (size - 1);
    if (last < virt) return false;
    return pte::is_canonical(virt) && pte::is_canonical(last) &&
           (virt >> (pte::kVirtualAddressBits - 1)) == (last >> (pte::kVirtualAddressBits - 1));
}

}  // namespace

const char* describe(MapError error) {
    switch (error) {
    case MapError::OutOfMemory: return "out of memory for page tables";
    case MapError::AlreadyMapped: return "already mapped";
    case MapError::NotMapped: return "not mapped";
    case MapError::Misaligned: return "misaligned address, size or huge page";
    case MapError::BadRange: return "non-canonical or empty range";
    }
    return "?";
}

kstd::Result<AddressSpace, MapError> AddressSpace::create(PageTableMemory& memory) {
    auto root = memory.allocate_table();
    if (!root) return kstd::fail(MapError::OutOfMemory);
    uint64_t* e = memory.table_entries(root.value());
    for (unsigned i = 0; i < pte::kEntriesPerTable; ++i) e[i] = 0;
    AddressSpace space;
    space.m_memory = &memory;
    space.m_root = root.value();
    return space;
}

uint64_t AddressSpace::encode_leaf(uint64_t phys, uint32_t flags, unsigned level) const {
    uint64_t entry = (phys & pte::kAddressMask) | pte::kPresent;
    if (level > 0) entry |= pte::kHuge;
    if (flags & kPageWritable) entry |= pte::kWritable;
    if (flags & kPageUser) entry |= pte::kUser;
    if (flags & kPageGlobal) entry |= pte::kGlobal;
    if (flags & kPageUncached)
        entry |= pte::memory_type_bits(pte::kPatIndexUncached, level);
    else if (flags & kPageWriteCombining)
        entry |= pte::memory_type_bits(pte::kPatIndexWriteCombining, level);
    if (flags & kPageCopyOnWrite) entry = (entry & ~pte::kWritable) | pte::kCopyOnWrite;
    if (!(flags & kPageExecutable)) entry |= m_memory->no_execute_bit();
    return entry;
}

uint32_t AddressSpace::decode_flags(uint64_t entry, unsigned level) const {
    uint32_t flags = 0;
    if (entry & pte::kWritable) flags |= kPageWritable;
    if (entry & pte::kUser) flags |= kPageUser;
    if (entry & pte::kGlobal) flags |= kPageGlobal;
    const unsigned memory_type = pte::memory_type_index(entry, level);
    if (memory_type == pte::kPatIndexWriteCombining)
        flags |= kPageWriteCombining;
    else if (entry & pte::kCacheDisable)
        flags |= kPageUncached;  // entries 2, 3, 6, 7: UC- or UC
    if (entry & pte::kCopyOnWrite) flags |= kPageCopyOnWrite;
    if (!(entry & pte::kNoExecute)) flags |= kPageExecutable;
    return flags;
}

kstd::Result<bool, MapError> AddressSpace::add_table(uint64_t& entry, bool user) {
    auto fresh = m_memory->allocate_table();
    if (!fresh) return kstd::fail(MapError::OutOfMemory);
    uint64_t* e = entries(fresh.value());
    for (unsigned i = 0; i < pte::kEntriesPerTable; ++i) e[i] = 0;
    entry = pte::make_table(fresh.value().address(), user);
    return true;
}

kstd::Result<uint64_t*, MapError> AddressSpace::walk(uint64_t virt, unsigned level, bool create, bool user) {
    Pfn table = m_root;
    for (unsigned current = kTop; current > level; --current) {
        uint64_t& entry = entries(table)[pte::index(virt, current)];
        if (!pte::is_present(entry)) {
            if (!create) return kstd::fail(MapError::NotMapped);
            if (auto added = add_table(entry, user); !added) return kstd::fail(added.error());
        } else if (pte::is_leaf(entry, current)) {
            // A huge page already covers this address: the caller must unmap it first.
            return kstd::fail(create ? MapError::AlreadyMapped : MapError::Misaligned);
        } else if (user && !(entry & pte::kUser)) {
            entry |= pte::kUser;  // the CPU ANDs U over all levels: let user leaves through
        }
        table = Pfn::from_address(pte::next_table(entry));
    }
    return &entries(table)[pte::index(virt, level)];
}

kstd::Result<bool, MapError> AddressSpace::map_page(kstd::VirtAddr virt_addr, kstd::PhysAddr phys_addr,
                                                    uint32_t flags) {
    const uint64_t virt = virt_addr.value(), phys = phys_addr.value();
    if (!pte::is_canonical(virt)) return kstd::fail(MapError::BadRange);
    if (!aligned(virt | phys, kPageSize)) return kstd::fail(MapError::Misaligned);
    const bool user = flags & kPageUser;
    // The fault path's walk: the table addressing is read once (the stores below could alias the
    // memory's fields, so entries() would reload them per level), and an entry that exists, is
    // no huge page and already lets user leaves through (the usual case) costs one test.
    PageTableMemory& memory = *m_memory;
    const bool linear = memory.linear();
    const uintptr_t linear_offset = memory.linear_offset();
    auto entries_at = [&](uint64_t table_address) {
        return linear ? reinterpret_cast<uint64_t*>(linear_offset + table_address)
                      : memory.table_entries(Pfn::from_address(table_address));
    };
    const uint64_t passable = pte::kPresent | (user ? pte::kUser : 0);
    const uint64_t tested = passable | pte::kHuge;
    uint64_t* table = entries_at(m_root.address());
    for (unsigned level = kTop; level > 0; --level) {
        uint64_t& entry = table[pte::index(virt, level)];
        if ((entry & tested) == passable) {
            table = entries_at(pte::next_table(entry));
            continue;
        }
        if (!pte::is_present(entry)) {
            // Nothing below exists: every table from here down is new, so nothing is mapped yet.
            if (auto added = add_table(entry, user); !added) return kstd::fail(added.error());
        } else if (pte::is_leaf(entry, level)) {
            return kstd::fail(MapError::AlreadyMapped);  // a huge page covers it
        } else if (user && !(entry & pte::kUser)) {
            entry |= pte::kUser;  // the CPU ANDs U over all levels: let user leaves through
        }
        table = entries_at(pte::next_table(entry));
    }
    uint64_t& leaf = table[pte::index(virt, 0)];
    if (pte::is_present(leaf)) return kstd::fail(MapError::AlreadyMapped);
    leaf = encode_leaf(phys, flags, 0);
    return true;
}

kstd::Result<bool, MapError> AddressSpace::map(kstd::VirtAddr virt_addr, kstd::PhysAddr phys_addr, uint64_t size,
                                               uint32_t flags, PageSize page_size) {
    const uint64_t virt = virt_addr.value(), phys = phys_addr.value();
    if (!valid_range(virt, size)) return kstd::fail(MapError::BadRange);
    if (!aligned(virt | phys | size, kPageSize)) return kstd::fail(MapError::Misaligned);
    if (size == kPageSize && (page_size == PageSize::Size4K || page_size == PageSize::Largest))
        return map_page(virt_addr, phys_addr, flags);
    const unsigned supported = m_memory->huge_1g_supported() ? 2u : 1u;
    unsigned largest = page_size == PageSize::Largest ? supported : static_cast<unsigned>(page_size);
    if (page_size != PageSize::Largest && !aligned(virt | phys | size, pte::level_size(largest)))
        return kstd::fail(MapError::Misaligned);
    // 1 GiB entries are reserved bits on CPUs without pdpe1gb: split into 2 MiB pages instead.
    if (largest > supported) largest = supported;

    // First pass: refuse before changing anything if any page in the range is mapped. In a page
    // table that exists, the rest of the range's entries are read straight from it: one walk
    // per table, not one per page (the kernel's boot mappings are ~2 000 pages).
    for (uint64_t at = virt; at - virt < size;) {
        const Probe found = probe(at);
        if (found.mapped) return kstd::fail(MapError::AlreadyMapped);
        const uint64_t next = (at | (pte::level_size(found.level) - 1)) + 1;  // past the empty entry's span
        if (found.level == 0) {
            const uint64_t table_end = (at | (pte::level_size(1) - 1)) + 1;
            const uint64_t run_end = table_end - virt < size && table_end != 0 ? table_end : virt + size;
            for (uint64_t i = 1; i < (run_end - at) / kPageSize; ++i)
                if (pte::is_present(found.entry[i])) return kstd::fail(MapError::AlreadyMapped);
            at = run_end;
        } else {
            at = next;
        }
        if (at == 0) break;  // wrapped past the top
    }
    const bool user = flags & kPageUser;
    for (uint64_t offset = 0; offset < size;) {
        unsigned level = largest;
        while (level > 0 && !(aligned(virt + offset, pte::level_size(level)) &&
                              aligned(phys + offset, pte::level_size(level)) &&
                              size - offset >= pte::level_size(level)))
            --level;
        auto slot = walk(virt + offset, level, true, user);
        if (!slot) {
            // Out of page-table memory halfway: undo what this call mapped.
            if (offset) unmap(virt, offset);
            return kstd::fail(slot.error());
        }
        // Pages of this size run to the end of this table (where a larger page could start:
        // a table spans exactly one entry of the level above) or of the range: one walk fills
        // them all (the kernel's direct map of 8 GiB is ~1 000 2 MiB pages).
        const uint64_t page = pte::level_size(level);
        const uint64_t left_in_table = pte::kEntriesPerTable - pte::index(virt + offset, level);
        const uint64_t count = (size - offset) / page < left_in_table ? (size - offset) / page : left_in_table;
        uint64_t* const entries = slot.value();
        for (uint64_t i = 0; i < count; ++i) {
            // An emptied lower-level table may still hang here (nothing is mapped through it,
            // the first pass checked): free it, or the huge entry would orphan it.
            if (level > 0 && pte::is_present(entries[i]) && !pte::is_leaf(entries[i], level))
                destroy_table(Pfn::from_address(pte::next_table(entries[i])), level - 1);
            entries[i] = encode_leaf(phys + offset + i * page, flags, level);
        }
        offset += count * page;
    }
    return true;
}

kstd::Result<bool, MapError> AddressSpace::unmap(uint64_t virt, uint64_t size) { return remove(virt, size, true); }

kstd::Result<bool, MapError> AddressSpace::unmap_leaving_tlb(uint64_t virt, uint64_t size) {
    return remove(virt, size, false);
}

kstd::Result<bool, MapError> AddressSpace::remove(uint64_t virt, uint64_t size, bool invalidate) {
    if (!valid_range(virt, size)) return kstd::fail(MapError::BadRange);
    if (!aligned(virt | size, kPageSize)) return kstd::fail(MapError::Misaligned);
    for (uint64_t offset = 0; offset < size;) {
        const Probe found = probe(virt + offset);
        if (!found.mapped) {
            const uint64_t next = ((virt + offset) | (pte::level_size(found.level) - 1)) + 1;
            if (next == 0 || next - virt >= size) break;
            offset = next - virt;
            continue;
        }
        const unsigned level = found.level;
        const uint64_t page = pte::level_size(level);
        if (!aligned(virt + offset, page) || size - offset < page) return kstd::fail(MapError::Misaligned);
        *walk(virt + offset, level, false, false).value() = 0;
        if (invalidate) m_memory->invalidate(virt + offset);
        offset += page;
    }
    return true;
}

kstd::Result<bool, MapError> AddressSpace::protect(uint64_t virt, uint64_t size, uint32_t flags) {
    if (!valid_range(virt, size)) return kstd::fail(MapError::BadRange);
    if (!aligned(virt | size, kPageSize)) return kstd::fail(MapError::Misaligned);
    for (uint64_t offset = 0; offset < size;) {
        auto found = translate(virt + offset);
        if (!found) return kstd::fail(MapError::NotMapped);
        const auto level = static_cast<unsigned>(found.value().page_size);
        const uint64_t page = pte::level_size(level);
        if (!aligned(virt + offset, page) || size - offset < page) return kstd::fail(MapError::Misaligned);
        *walk(virt + offset, level, false, flags & kPageUser).value() =
            encode_leaf(found.value().phys_addr, flags, level);
        m_memory->invalidate(virt + offset);
        offset += page;
    }
    return true;
}

uint64_t AddressSpace::skip_unmapped(uint64_t virt) const {
    const Probe found = probe(virt);
    if (found.mapped) return virt;
    return (virt | (pte::level_size(found.level) - 1)) + 1;
}

AddressSpace::Probe AddressSpace::probe(uint64_t virt) const {
    Pfn table = m_root;
    for (unsigned level = kTop;; --level) {
        const uint64_t* slot = &entries(table)[pte::index(virt, level)];
        const uint64_t entry = *slot;
        if (!pte::is_present(entry)) return {false, level, slot};
        if (level <= pte::kHighestLeafLevel && pte::is_leaf(entry, level)) return {true, level, slot};
        table = Pfn::from_address(pte::next_table(entry));
    }
}

kstd::Result<Translation, MapError> AddressSpace::translate(uint64_t virt) const {
    if (!valid() || !pte::is_canonical(virt)) return kstd::fail(MapError::BadRange);
    Pfn table = m_root;
    for (unsigned level = kTop;; --level) {
        const uint64_t entry = entries(table)[pte::index(virt, level)];
        if (!pte::is_present(entry)) return kstd::fail(MapError::NotMapped);
        if (level <= pte::kHighestLeafLevel && pte::is_leaf(entry, level)) {
            const uint64_t offset = virt & (pte::level_size(level) - 1);
            return Translation{pte::leaf_address(entry, level) + offset, decode_flags(entry, level),
                               static_cast<PageSize>(level)};
        }
        table = Pfn::from_address(pte::next_table(entry));
    }
}

void AddressSpace::share_top_level(const AddressSpace& other, unsigned first, unsigned count) {
    uint64_t* mine = entries(m_root);
    const uint64_t* theirs = other.entries(other.m_root);
    // Only present entries are borrowed: tables this space later creates under an empty slot
    // are its own and destroy() must free them.
    for (unsigned i = first; i < first + count && i < pte::kEntriesPerTable; ++i) {
        if (!pte::is_present(theirs[i])) continue;
        mine[i] = theirs[i];
        m_shared_top[i / 64] |= 1ull << (i % 64);
    }
}

void AddressSpace::destroy_table(Pfn table, unsigned level) {
    const uint64_t* e = entries(table);
    // Eight entries at a time where all are empty or (at the top) all borrowed: a user space's
    // tables are mostly empty, and its top half is the kernel's.
    constexpr unsigned kStride = 8;
    static_assert(pte::kEntriesPerTable % kStride == 0 && 64 % kStride == 0);
    for (unsigned i = 0; i < pte::kEntriesPerTable && level > 0; ++i) {
        if (i % kStride == 0) {
            uint64_t any = 0;
            for (unsigned j = 0; j < kStride; ++j) any |= e[i + j];
            const uint64_t borrowed = level == kTop ? (m_shared_top[i / 64] >> (i % 64)) & 0xFF : 0;
            if (any == 0 || borrowed == 0xFF) {
                i += kStride - 1;
                continue;
            }
        }
        if (!pte::is_present(e[i]) || pte::is_leaf(e[i], level)) continue;
        if (level == kTop && (m_shared_top[i / 64] >> (i % 64)) & 1) continue;
        destroy_table(Pfn::from_address(pte::next_table(e[i])), level - 1);
    }
    m_memory->free_table(table);
}

void AddressSpace::destroy() {
    if (!valid()) return;
    destroy_table(m_root, kTop);
    m_memory = nullptr;
}

}  // namespace mm

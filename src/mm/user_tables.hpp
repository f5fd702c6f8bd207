// Walks over a user address space's page tables that read only the parts that may hold entries:
// each non-leaf entry carries an occupancy summary of the table it points to, so fork's copy and
// exit's teardown never read an empty table or an empty stretch of one (docs/memory.md).
//
// The summary lives in bits 52..59 of the entry, which the CPU ignores in an entry that points to
// a table [Intel SDM vol3 §4.5, tables 4-15, 4-17, 4-19]: bit 52 + g set means entries
// [64 g, 64 g + 64) of the table below may be non-zero; clear means they are all zero. A summary
// may say more than there is (an unmap leaves its bit), never less: whoever makes an entry
// non-zero marks its path first (mark_path). A table with no parent entry (the top level) keeps
// its summary wherever its owner says (user_memory: in its entry 0).
#pragma once

#include <stdint.h>

#include "mm/address_space.hpp"

namespace mm::user_tables {

inline constexpr unsigned kSummaryShift = 52;
inline constexpr unsigned kEntriesPerGroup = 64;
inline constexpr unsigned kGroups = arch::pte::kEntriesPerTable / kEntriesPerGroup;
inline constexpr uint64_t kSummaryMask = ((uint64_t{1} << kGroups) - 1) << kSummaryShift;
static_assert(kGroups == 8 && (kSummaryMask & arch::pte::kAddressMask) == 0 && (kSummaryMask >> 60) == 0,
              "the summary fits the ignored bits 52..59, clear of the address and of NX");

// The summary bit that covers entry `index` of the table below.
constexpr uint64_t summary_bit(unsigned index) { return uint64_t{1} << (kSummaryShift + index / kEntriesPerGroup); }
constexpr unsigned summary_of(uint64_t entry) { return static_cast<unsigned>((entry & kSummaryMask) >> kSummaryShift); }

// Marks, in every entry on the way from `table` (a table at `level`) to `virt`, that the table
// below may hold the next entry of the path; stops at the first absent entry. The summary of
// `table` itself is the caller's (its parent entry, or wherever a top level keeps it). Call it
// with the tables' lock held, after every map at `virt` (also a failed one: it may have left
// tables behind).
template <typename Memory>  // a PageTableMemory; its final type, so the calls are direct
void mark_path(Memory& memory, uint64_t* table, unsigned level, uint64_t virt) {
    namespace pte = arch::pte;
    for (;; --level) {
        uint64_t& entry = table[pte::index(virt, level)];
        if (!pte::is_present(entry) || pte::is_leaf(entry, level)) return;
        entry |= summary_bit(pte::index(virt, level - 1));
        if (level == 1) return;
        table = memory.table_entries(Pfn::from_address(pte::next_table(entry)));
    }
}

// The last-level table that covers `virt` under `table` (a table at `level`), made on the way
// where missing (zeroed, user-accessible), with every entry of the path marked; nullptr if a
// table could not be allocated (those made stay, marked, for release_tree). The summary of
// `table` itself is the caller's. User space has no huge pages.
template <typename Memory>
uint64_t* leaf_table(Memory& memory, uint64_t* table, unsigned level, uint64_t virt) {
    namespace pte = arch::pte;
    for (; level > 0; --level) {
        uint64_t& entry = table[pte::index(virt, level)];
        if (!pte::is_present(entry)) {
            auto fresh = memory.allocate_table();
            if (!fresh) return nullptr;
            __builtin_memset(memory.table_entries(fresh.value()), 0, pte::kEntriesPerTable * sizeof(uint64_t));
            entry = pte::make_table(fresh.value().address(), true);
        }
        entry |= summary_bit(pte::index(virt, level - 1)) | pte::kUser;
        table = memory.table_entries(Pfn::from_address(pte::next_table(entry)));
    }
    return table;
}

// Calls `each(index)` for every entry of a table, from `first` on, that is in a group `summary`
// marks and is not zero.
template <typename Each>
inline void for_each_marked(const uint64_t* table, unsigned summary, unsigned first, Each&& each) {
    constexpr unsigned kStride = 8;  // inside a marked group, eight empty entries cost one test
    static_assert(kEntriesPerGroup % kStride == 0);
    while (summary) {
        const unsigned group = static_cast<unsigned>(__builtin_ctz(summary));
        summary &= summary - 1;
        const unsigned end = (group + 1) * kEntriesPerGroup;
        unsigned i = group * kEntriesPerGroup;
        if (end <= first) continue;
        for (; i < end; i += kStride) {
            uint64_t any = 0;
            for (unsigned j = 0; j < kStride; ++j) any |= table[i + j];
            if (any == 0) continue;
            for (unsigned j = i; j < i + kStride; ++j)
                if (table[j] && j >= first) each(j);
        }
    }
}

// Calls leaf(virt, entry&) for every present 4 KiB page under `table` (a table at `level`, from
// entry `first` on, covering addresses from `base`), then frees each table below `table` (not
// `table` itself) and clears the entry that pointed to it. User space has no huge pages.
template <typename Memory, typename Leaf>
void release_tree(Memory& memory, uint64_t* table, unsigned summary, unsigned level, uint64_t base,
                  unsigned first, Leaf& leaf) {
    namespace pte = arch::pte;
    for_each_marked(table, summary, first, [&](unsigned i) {
        uint64_t& entry = table[i];
        if (!pte::is_present(entry)) return;
        const uint64_t virt = base + (uint64_t{i} << pte::level_shift(level));
        if (level == 0) {
            leaf(virt, entry);
            return;
        }
        const Pfn below = Pfn::from_address(pte::next_table(entry));
        release_tree(memory, memory.table_entries(below), summary_of(entry), level - 1, virt, 0, leaf);
        memory.free_table(below);
        entry = 0;
    });
}

// fork's copy of the tree under `from` (a table at `level`, from entry `first` on) into `to`,
// which holds nothing there yet: every table below gets a zeroed twin with the same flags and
// summary, and every present leaf entry the value share(virt, from_entry&) returns (it may change
// the source entry too). False: a table could not be allocated; what was copied stays in `to`,
// summaries included, for release_tree.
template <typename Memory, typename Share>
bool share_tree(Memory& memory, uint64_t* from, uint64_t* to, unsigned summary, unsigned level,
                uint64_t base, unsigned first, Share& share) {
    namespace pte = arch::pte;
    bool ok = true;
    for_each_marked(from, summary, first, [&](unsigned i) {
        const uint64_t entry = from[i];
        if (!ok || !pte::is_present(entry)) return;
        const uint64_t virt = base + (uint64_t{i} << pte::level_shift(level));
        if (level == 0) {
            to[i] = share(virt, from[i]);
            return;
        }
        auto twin = memory.allocate_table();
        if (!twin) {
            ok = false;
            return;
        }
        uint64_t* below = memory.table_entries(twin.value());
        __builtin_memset(below, 0, pte::kEntriesPerTable * sizeof(uint64_t));
        to[i] = (entry & ~pte::kAddressMask) | twin.value().address();
        ok = share_tree(memory, memory.table_entries(Pfn::from_address(pte::next_table(entry))), below,
                        summary_of(entry), level - 1, virt, 0, share);
    });
    return ok;
}

}  // namespace mm::user_tables

// x86-64 page-table entry encoding [Intel SDM vol3 §4.5, tables 4-14..4-20]: pure bit arithmetic,
// no instructions, so the portable address-space code uses it in the kernel and in host tests.
// Levels count from the leaf: 0 = PT (4 KiB), 1 = PD (2 MiB), 2 = PDPT (1 GiB), 3 = PML4.
#pragma once

#include <stdint.h>

#include <arch/x86_defs.h>

namespace arch::pte {

inline constexpr unsigned kLevels = 4;
inline constexpr unsigned kEntriesPerTable = 512;
inline constexpr unsigned kHighestLeafLevel = 2;  // 1 GiB pages (needs CPUID pdpe1gb)

inline constexpr uint64_t kPresent = X86_PTE_PRESENT;
inline constexpr uint64_t kWritable = X86_PTE_WRITABLE;
inline constexpr uint64_t kUser = 1ull << 2;
inline constexpr uint64_t kWriteThrough = 1ull << 3;
inline constexpr uint64_t kCacheDisable = 1ull << 4;
inline constexpr uint64_t kHuge = X86_PTE_HUGE;  // PS: a PD/PDPT entry maps a page directly
inline constexpr uint64_t kGlobal = 1ull << 8;
inline constexpr uint64_t kCopyOnWrite = 1ull << 9;  // software (AVL) bit: read-only until a write copies
inline constexpr uint64_t kNoExecute = 1ull << 63;  // only valid with EFER.NXE
inline constexpr uint64_t kAddressMask = 0x000FFFFFFFFFF000ull;

// [Intel SDM vol3 §11.12.3] A leaf's memory type is the PAT entry its PAT, PCD and PWT bits
// select (index = PAT*4 + PCD*2 + PWT). The PAT bit is bit 7 in a 4 KiB entry and bit 12 in a
// 2 MiB or 1 GiB entry, where bit 7 is PS.
inline constexpr uint64_t kPatSmall = 1ull << 7;
inline constexpr uint64_t kPatLarge = 1ull << 12;
// The PAT entries the kernel uses. Entries 0 and 3 keep their power-on types (WB, UC), so tables
// built before the PAT is programmed (the boot stub's) mean the same; entry 1 (power-on WT) is
// the one write-combining entry.
inline constexpr unsigned kPatIndexWriteBack = 0;
inline constexpr unsigned kPatIndexWriteCombining = 1;
inline constexpr unsigned kPatIndexUncached = 3;
// [SDM vol3 §11.12.2, table 11-10] memory type encodings, and the IA32_PAT value: one byte per
// entry, entry 0 lowest. Entries 4-7 keep their power-on types.
inline constexpr uint64_t kMemoryTypeUncached = 0x00, kMemoryTypeWriteCombining = 0x01, kMemoryTypeWriteThrough = 0x04,
                          kMemoryTypeWriteBack = 0x06, kMemoryTypeUncachedMinus = 0x07;
inline constexpr uint64_t kPatMsrValue = kMemoryTypeWriteBack | kMemoryTypeWriteCombining << 8 |
                                         kMemoryTypeUncachedMinus << 16 | kMemoryTypeUncached << 24 |
                                         kMemoryTypeWriteBack << 32 | kMemoryTypeWriteThrough << 40 |
                                         kMemoryTypeUncachedMinus << 48 | kMemoryTypeUncached << 56;
static_assert((kPatMsrValue >> (8 * kPatIndexWriteBack) & 0xFF) == kMemoryTypeWriteBack);
static_assert((kPatMsrValue >> (8 * kPatIndexWriteCombining) & 0xFF) == kMemoryTypeWriteCombining);
static_assert((kPatMsrValue >> (8 * kPatIndexUncached) & 0xFF) == kMemoryTypeUncached);

constexpr unsigned level_shift(unsigned level) { return 12 + 9 * level; }
constexpr uint64_t level_size(unsigned level) { return 1ull << level_shift(level); }
constexpr unsigned index(uint64_t virt_addr, unsigned level) {
    return static_cast<unsigned>((virt_addr >> level_shift(level)) & (kEntriesPerTable - 1));
}

// Four levels translate 48-bit addresses; a canonical address has bits 63..47 all equal.
inline constexpr unsigned kVirtualAddressBits = 48;
constexpr bool is_canonical(uint64_t virt_addr) {
    const uint64_t top = virt_addr >> (kVirtualAddressBits - 1);
    return top == 0 || top == (~0ull >> (kVirtualAddressBits - 1));
}
// The canonical form of an address built from table indices (upper half: sign-extended).
constexpr uint64_t canonical(uint64_t virt_addr) {
    return (virt_addr >> (kVirtualAddressBits - 1)) & 1 ? virt_addr | (~0ull << kVirtualAddressBits) : virt_addr;
}

constexpr bool is_present(uint64_t entry) { return entry & kPresent; }
constexpr bool is_leaf(uint64_t entry, unsigned level) { return level == 0 || (entry & kHuge); }
constexpr uint64_t next_table(uint64_t entry) { return entry & kAddressMask; }
constexpr uint64_t leaf_address(uint64_t entry, unsigned level) {
    return entry & kAddressMask & ~(level_size(level) - 1);
}

// The PAT/PCD/PWT bits of a leaf at `level` that select PAT entry `pat_index`, and back.
constexpr uint64_t memory_type_bits(unsigned pat_index, unsigned level) {
    return (pat_index & 1 ? kWriteThrough : 0) | (pat_index & 2 ? kCacheDisable : 0) |
           (pat_index & 4 ? (level == 0 ? kPatSmall : kPatLarge) : 0);
}
constexpr unsigned memory_type_index(uint64_t entry, unsigned level) {
    return (entry & kWriteThrough ? 1u : 0u) | (entry & kCacheDisable ? 2u : 0u) |
           (entry & (level == 0 ? kPatSmall : kPatLarge) ? 4u : 0u);
}

// Intermediate entries are writable and (if any user page lies below) user: the leaf decides.
constexpr uint64_t make_table(uint64_t table_phys, bool user) {
    return (table_phys & kAddressMask) | kPresent | kWritable | (user ? kUser : 0);
}

}  // namespace arch::pte

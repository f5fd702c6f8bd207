// Process address spaces and safe access to user memory (see user_memory.hpp).
#include "mm/user_memory.hpp"

#include "arch/arch.hpp"
#include "mm/kernel_address_space.hpp"
#include "mm/physical_memory.hpp"
#include "mm/user_tables.hpp"

namespace kernel::user_memory {
namespace {

using arch::pte::kEntriesPerTable;
constexpr unsigned kFirstUserDirectoryEntry = kUserBase >> 21;  // 64: the seed's first user PDE
constexpr uint64_t kPageSize = mm::kPageSize;
static_assert(kUserTop == 1ull << 30, "user space is exactly page-directory 0 of PDPT entry 0");

// Page tables of user spaces come from the same allocator as the kernel's. A change drops this
// CPU's TLB entry only: the process layer shoots down the other CPUs that run the space (its
// threads), after releasing the lock that guards the tables (proc/memory.cpp explains the order).
class UserPageTableMemory final : public mm::PageTableMemory {
public:
    UserPageTableMemory() { set_linear_offset(kDirectMapBase); }  // table_entries' mapping
    kstd::Result<mm::Pfn, mm::AllocError> allocate_table() override {
        return physical_memory::allocate(mm::PageState::PageTable);
    }
    void free_table(mm::Pfn table) override { physical_memory::free(table); }
    uint64_t* table_entries(mm::Pfn table) override { return phys_to_virt<uint64_t>(table.address()); }
    void invalidate(uint64_t virt_addr) override { arch::invalidate_tlb_page(virt_addr); }
    bool no_execute_supported() const override { return kernel_page_table_memory().no_execute_supported(); }
    bool huge_1g_supported() const override { return false; }
    void fix_no_execute_as_kernel() { fix_no_execute(no_execute_supported()); }
};
UserPageTableMemory g_tables;

uint64_t* table(uint64_t entry) { return phys_to_virt<uint64_t>(arch::pte::next_table(entry)); }

constexpr unsigned kFirstHighEntry = kHighUserBase >> 39;  // PML4 entries of the high window
constexpr unsigned kEndHighEntry = kHighUserTop >> 39;
constexpr unsigned kFirstKernelEntry = kEndHighEntry;       // 256: shared with the kernel
static_assert(kFirstHighEntry == 1 && kEndHighEntry == 256, "the high window is PML4 entries 1..255");

// The top level's occupancy summary (mm/user_tables.hpp) is kept in its entry 0, which points
// to the process's PDPT: that table has one user entry (0), so its own summary would say nothing.
uint64_t& root_summary_holder(const mm::AddressSpace& space) {
    return phys_to_virt<uint64_t>(space.root().address())[0];
}

// The last-level table covering user address `virt`, made where missing, with its path marked
// (a summary may say more than there is, so marking before the leaf is set is fine); nullptr
// when a table could not be allocated. Under the lock that guards the space's tables.
[[gnu::noinline]] uint64_t* user_leaf_table(mm::AddressSpace& space, uint64_t virt) {
    namespace ut = mm::user_tables;
    uint64_t* pml4 = phys_to_virt<uint64_t>(space.root().address());
    if (virt < kUserTop) return ut::leaf_table(g_tables, table(pml4[0]), 2, virt);
    root_summary_holder(space) |= ut::summary_bit(arch::pte::index(virt, 3));
    return ut::leaf_table(g_tables, pml4, 3, virt);
}

// A 4 KiB user leaf as AddressSpace::map encodes it for these flags: user pages are only ever
// writable or not and executable or not (mm::PageFlags' other bits are the kernel's).
uint64_t user_leaf(uint64_t phys, uint32_t flags) {
    namespace pte = arch::pte;
    uint64_t entry = phys | pte::kPresent | pte::kUser;
    if (flags & mm::kPageWritable) entry |= pte::kWritable;
    if (!(flags & mm::kPageExecutable)) entry |= g_tables.no_execute_bit();
    return entry;
}

// The low window's page directory is walked from its first user entry; the top level's walk
// (the high window) skips entry 0, the low window, and stops before the kernel's entries.
static_assert(kFirstUserDirectoryEntry % mm::user_tables::kEntriesPerGroup == 0,
              "the directory's borrowed entries fill whole summary groups, which are never marked");
static_assert(kFirstKernelEntry % mm::user_tables::kEntriesPerGroup == 0,
              "user addresses never mark a group of the kernel's top-level entries");

}  // namespace

void init() { g_tables.fix_no_execute_as_kernel(); }

kstd::Result<mm::AddressSpace, mm::MapError> create() {
    auto created = mm::AddressSpace::create(g_tables);
    if (!created) return created;
    mm::AddressSpace space = created.value();
    auto pdpt = physical_memory::allocate(mm::PageState::PageTable);
    if (!pdpt) {
        space.destroy();
        return kstd::fail(mm::MapError::OutOfMemory);
    }
    auto directory = physical_memory::allocate(mm::PageState::PageTable);
    if (!directory) {
        physical_memory::free(pdpt.value());
        space.destroy();
        return kstd::fail(mm::MapError::OutOfMemory);
    }
    const uint64_t* kernel_pml4 = phys_to_virt<uint64_t>(kernel_address_space().root().address());
    const uint64_t* kernel_pdpt = table(kernel_pml4[0]);
    const uint64_t* kernel_directory = table(kernel_pdpt[0]);
    uint64_t* own_pdpt = phys_to_virt<uint64_t>(pdpt.value().address());
    uint64_t* own_directory = phys_to_virt<uint64_t>(directory.value().address());
    // Whole-table copies (quadword string moves) rather than a loop over 1 024 entries: this
    // runs at every fork and spawn.
    constexpr uint64_t kEntryBytes = sizeof(uint64_t);
    __builtin_memcpy(own_pdpt, kernel_pdpt, kEntriesPerTable * kEntryBytes);
    own_pdpt[0] = arch::pte::make_table(directory.value().address(), true);
    __builtin_memcpy(own_directory, kernel_directory, kFirstUserDirectoryEntry * kEntryBytes);
    __builtin_memset(own_directory + kFirstUserDirectoryEntry, 0,
                     (kEntriesPerTable - kFirstUserDirectoryEntry) * kEntryBytes);
    space.share_top_level(kernel_address_space(), kFirstKernelEntry, kEntriesPerTable - kFirstKernelEntry);
    phys_to_virt<uint64_t>(space.root().address())[0] = arch::pte::make_table(pdpt.value().address(), true);
    return space;
}

void destroy(mm::AddressSpace& space) {
    if (!space.valid()) return;
    uint64_t* pml4 = phys_to_virt<uint64_t>(space.root().address());
    uint64_t* pdpt = table(pml4[0]);
    uint64_t* directory = table(pdpt[0]);
    auto release = [](uint64_t, uint64_t& entry) {
        physical_memory::release(mm::Pfn::from_address(arch::pte::leaf_address(entry, 0)));
    };
    namespace ut = mm::user_tables;
    ut::release_tree(g_tables, directory, ut::summary_of(pdpt[0]), 1, 0, kFirstUserDirectoryEntry, release);
    ut::release_tree(g_tables, pml4, ut::summary_of(pml4[0]), 3, 0, kFirstHighEntry, release);
    physical_memory::free(mm::Pfn::from_address(arch::pte::next_table(pdpt[0])));
    physical_memory::free(mm::Pfn::from_address(arch::pte::next_table(pml4[0])));
    // Every table the space owned below its top level is free now, and the top level borrows the
    // rest: free it here rather than through AddressSpace::destroy, which would read all of it.
    physical_memory::free(space.root());
    space = mm::AddressSpace();
}

namespace {

// The last-level table covering `virt`, as user_leaf_table, for a fault's first touch: in the low
// window the directory exists from create() (PDPT entry 0), so the walk starts there, and a
// page table already in place (the common case: a stack or heap grows into the table that holds
// its last page) costs two marks and no call. Out of line only when a table is missing.
[[gnu::always_inline]] inline uint64_t* leaf_table_for_fault(mm::AddressSpace& space, uint64_t virt) {
    namespace pte = arch::pte;
    namespace ut = mm::user_tables;
    if (virt < kUserTop) [[likely]] {
        uint64_t& directory_entry = table(phys_to_virt<uint64_t>(space.root().address())[0])[0];
        const unsigned index = pte::index(virt, 1);
        uint64_t& entry = table(directory_entry)[index];
        if (pte::is_present(entry)) [[likely]] {
            // The path's marks, as leaf_table makes them (a summary may say more, never less).
            directory_entry |= ut::summary_bit(index);
            entry |= ut::summary_bit(pte::index(virt, 0)) | pte::kUser;
            return table(entry);
        }
    }
    return user_leaf_table(space, virt);
}

// map_new_page_or_find's work; `allocate` takes the frame (with or without saving the interrupt
// flag).
template <typename Allocate>
[[gnu::always_inline]] inline NewPage map_new(mm::AddressSpace& space, uint64_t virt, uint32_t flags,
                                              Allocate&& allocate) {
    uint64_t* leaves = leaf_table_for_fault(space, virt);
    if (!leaves) [[unlikely]] return {0, false};
    uint64_t& leaf = leaves[arch::pte::index(virt, 0)];
    if (arch::pte::is_present(leaf)) [[unlikely]] return {0, true};
    auto frame = allocate();
    if (!frame) [[unlikely]] return {0, false};
    const uint64_t phys = frame.value().address();
    __builtin_memset(phys_to_virt<uint8_t>(phys), 0, kPageSize);
    leaf = user_leaf(phys, flags);
    return {phys, false};
}

}  // namespace

NewPage map_new_page_or_find(mm::AddressSpace& space, uint64_t virt, uint32_t flags) {
    // One walk that makes the missing tables and marks the path (user_tables.hpp), instead of
    // map_page and then mark_path: the fault path's walk. A page already there (another thread
    // of the process faulted on it too) costs no frame. The caller holds the space's lock, an
    // IrqSpinLock: interrupts are off.
    return map_new(space, virt, flags, [] { return physical_memory::allocate_interrupts_off(mm::PageState::User); });
}

uint64_t map_new_page(mm::AddressSpace& space, uint64_t virt, uint32_t flags) {
    return map_new(space, virt, flags, [] { return physical_memory::allocate(mm::PageState::User); }).phys;
}

uint64_t map_page_to_fill(mm::AddressSpace& space, uint64_t virt, uint32_t flags, uint64_t fill_begin,
                          uint64_t fill_end) {
    namespace pte = arch::pte;
    uint64_t* leaves = user_leaf_table(space, virt);
    if (!leaves || pte::is_present(leaves[pte::index(virt, 0)])) return 0;
    auto frame = physical_memory::allocate(mm::PageState::User);
    if (!frame) return 0;
    const uint64_t phys = frame.value().address();
    auto* bytes = phys_to_virt<uint8_t>(phys);
    if (fill_begin >= fill_end) fill_begin = fill_end = kPageSize;
    __builtin_memset(bytes, 0, fill_begin);
    __builtin_memset(bytes + fill_end, 0, kPageSize - fill_end);
    leaves[pte::index(virt, 0)] = user_leaf(phys, flags);
    return phys;
}

uint64_t unmap_batch(mm::AddressSpace& space, uint64_t virt, uint64_t end, FrameBatch& batch) {
    namespace pte = arch::pte;
    batch.count = 0;
    uint64_t* pml4 = phys_to_virt<uint64_t>(space.root().address());
    uint64_t page = virt;
    while (page < end && batch.count < FrameBatch::kCapacity) {
        // One walk down to the page's table; an absent entry on the way skips all it covers (a
        // thread's 20 MiB stack is mostly empty tables).
        uint64_t* leaves = pml4;
        unsigned level = pte::kLevels - 1;
        for (; level > 0; --level) {
            const uint64_t entry = leaves[pte::index(page, level)];
            if (!pte::is_present(entry)) break;
            leaves = table(entry);
        }
        if (level > 0) {
            const uint64_t next = (page | (pte::level_size(level) - 1)) + 1;
            page = next == 0 || next > end ? end : next;
            continue;
        }
        // Then along that table, to its end, the range's end or a full batch.
        do {
            uint64_t& entry = leaves[pte::index(page, 0)];
            if (pte::is_present(entry)) {
                batch.frames[batch.count++] = mm::Pfn::from_address(pte::leaf_address(entry, 0));
                entry = 0;
                arch::invalidate_tlb_page(page);
            }
            page += kPageSize;
        } while (page < end && pte::index(page, 0) != 0 && batch.count < FrameBatch::kCapacity);
    }
    return page;
}

void free_batch(FrameBatch& batch) {
    for (unsigned i = 0; i < batch.count; ++i) physical_memory::release(batch.frames[i]);
    batch.count = 0;
}

bool share_all(mm::AddressSpace& from, mm::AddressSpace& to, bool (*is_shared)(void* context, uint64_t virt),
               void* context, ShareCounts& counts) {
    namespace pte = arch::pte;
    namespace ut = mm::user_tables;
    counts = {};
    auto share = [&](uint64_t virt, uint64_t& entry) -> uint64_t {
        uint64_t copy = entry;
        if (entry & (pte::kWritable | pte::kCopyOnWrite)) {
            if (!is_shared(context, virt)) {
                // Both sides read the one frame until either writes: then the writer gets a copy.
                copy = (entry & ~pte::kWritable) | pte::kCopyOnWrite;
                if (!(entry & pte::kCopyOnWrite)) {
                    entry = copy;
                    arch::invalidate_tlb_page(virt);
                    ++counts.write_protected;
                }
            } else {
                copy = (entry | pte::kWritable) & ~pte::kCopyOnWrite;  // shared memory: writes show on both sides
            }
        }
        physical_memory::share(mm::Pfn::from_address(pte::leaf_address(entry, 0)));
        ++counts.pages;
        return copy;
    };
    uint64_t* from_pml4 = phys_to_virt<uint64_t>(from.root().address());
    uint64_t* to_pml4 = phys_to_virt<uint64_t>(to.root().address());
    uint64_t* from_pdpt = table(from_pml4[0]);
    uint64_t* to_pdpt = table(to_pml4[0]);
    // The summaries first: what is copied before running out of tables is then found by destroy.
    to_pml4[0] |= from_pml4[0] & ut::kSummaryMask;
    to_pdpt[0] |= from_pdpt[0] & ut::kSummaryMask;
    return ut::share_tree(g_tables, table(from_pdpt[0]), table(to_pdpt[0]), ut::summary_of(from_pdpt[0]), 1, 0,
                          kFirstUserDirectoryEntry, share) &&
           ut::share_tree(g_tables, from_pml4, to_pml4, ut::summary_of(from_pml4[0]), 3, 0, kFirstHighEntry, share);
}

CopyResult copy_on_write(mm::AddressSpace& space, uint64_t virt, mm::Pfn& replaced) {
    auto found = space.translate(virt);
    if (!found) return CopyResult::NotCopyOnWrite;
    const mm::Translation t = found.value();
    if (!(t.flags & mm::kPageUser) || !range_ok(virt, kPageSize)) return CopyResult::NotCopyOnWrite;  // the kernel's
    if (t.flags & mm::kPageWritable) return CopyResult::AlreadyWritable;
    if (!(t.flags & mm::kPageCopyOnWrite)) return CopyResult::NotCopyOnWrite;
    const uint32_t flags = ((t.flags & ~mm::kPageCopyOnWrite) | mm::kPageWritable) & ~mm::kPageGlobal;
    const mm::Pfn old_frame = mm::Pfn::from_address(t.phys_addr);
    if (physical_memory::owners(old_frame) == 1) {
        // The other sharers are gone: the page is this space's alone, so it just becomes writable.
        space.protect(virt, kPageSize, flags);
        return CopyResult::MadeWritable;
    }
    auto fresh = physical_memory::allocate(mm::PageState::User);
    if (!fresh) return CopyResult::OutOfMemory;
    __builtin_memcpy(phys_to_virt<uint8_t>(fresh.value().address()), phys_to_virt<uint8_t>(t.phys_addr), kPageSize);
    space.unmap(virt, kPageSize);
    space.map(kstd::VirtAddr{virt}, kstd::PhysAddr{fresh.value().address()}, kPageSize, flags);
    replaced = old_frame;
    return CopyResult::Copied;
}

}  // namespace kernel::user_memory

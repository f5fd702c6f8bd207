// Process address spaces and safe access to user memory (see user_memory.hpp).
#include "mm/user_memory.hpp"

#include "arch/arch.hpp"
#include "mm/kernel_address_space.hpp"
#include "mm/physical_memory.hpp"

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
};
UserPageTableMemory g_tables;

uint64_t* table(uint64_t entry) { return phys_to_virt<uint64_t>(arch::pte::next_table(entry)); }

// The process's own page directory (for 0..1 GiB), found through its PML4 and PDPT.
uint64_t* user_directory(const mm::AddressSpace& space) {
    uint64_t* pml4 = phys_to_virt<uint64_t>(space.root().address());
    return table(table(pml4[0])[0]);
}

uint32_t flags_of(uint64_t entry) {
    uint32_t flags = (entry & arch::pte::kUser) ? mm::kPageUser : 0;  // 0: a PROT_NONE page
    if (entry & arch::pte::kWritable) flags |= mm::kPageWritable;
    if (!(entry & arch::pte::kNoExecute)) flags |= mm::kPageExecutable;
    return flags;
}

constexpr unsigned kFirstHighEntry = kHighUserBase >> 39;  // PML4 entries of the high window
constexpr unsigned kEndHighEntry = kHighUserTop >> 39;
constexpr unsigned kFirstKernelEntry = kEndHighEntry;       // 256: shared with the kernel
static_assert(kFirstHighEntry == 1 && kEndHighEntry == 256, "the high window is PML4 entries 1..255");

// Calls visit(virt, entry) for every present 4 KiB page under `table` (a table at `level`
// covering virtual addresses from `base`). User space has no huge pages.
template <typename Visitor>
void visit_pages(const uint64_t* table, unsigned level, uint64_t base, Visitor& visit) {
    // Most entries are empty (an empty entry is all zeroes): skip eight at a time. fork, exit
    // and teardown walk every table of a space, and this loop was most of their instructions.
    constexpr unsigned kStride = 8;
    static_assert(kEntriesPerTable % kStride == 0);
    for (unsigned i = 0; i < kEntriesPerTable; ++i) {
        if (i % kStride == 0) {
            uint64_t any = 0;
            for (unsigned j = 0; j < kStride; ++j) any |= table[i + j];
            if (any == 0) {
                i += kStride - 1;
                continue;
            }
        }
        if (!arch::pte::is_present(table[i])) continue;
        const uint64_t virt = base + (uint64_t{i} << arch::pte::level_shift(level));
        if (level == 0) visit(virt, table[i]);
        else visit_pages(phys_to_virt<uint64_t>(arch::pte::next_table(table[i])), level - 1, virt, visit);
    }
}

// Calls visit(virt, entry) for every present user page: the low window's page tables, then
// every table under the high window's PML4 entries.
template <typename Visitor>
void for_each_user_page(const mm::AddressSpace& space, Visitor&& visit) {
    const uint64_t* directory = user_directory(space);
    for (unsigned d = kFirstUserDirectoryEntry; d < kEntriesPerTable; ++d)
        if (arch::pte::is_present(directory[d])) visit_pages(table(directory[d]), 0, uint64_t{d} << 21, visit);
    const uint64_t* pml4 = phys_to_virt<uint64_t>(space.root().address());
    for (unsigned e = kFirstHighEntry; e < kEndHighEntry; ++e)
        if (arch::pte::is_present(pml4[e])) visit_pages(table(pml4[e]), 2, uint64_t{e} << 39, visit);
}

}  // namespace

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
    for_each_user_page(space, [](uint64_t, uint64_t entry) {
        physical_memory::release(mm::Pfn::from_address(arch::pte::leaf_address(entry, 0)));
    });
    for (unsigned d = kFirstUserDirectoryEntry; d < kEntriesPerTable; ++d)
        if (arch::pte::is_present(directory[d]))
            physical_memory::free(mm::Pfn::from_address(arch::pte::next_table(directory[d])));
    physical_memory::free(mm::Pfn::from_address(arch::pte::next_table(pdpt[0])));
    physical_memory::free(mm::Pfn::from_address(arch::pte::next_table(pml4[0])));
    pml4[0] = 0;  // left: the high window's tables and the root, which destroy() frees
    space.destroy();
    space = mm::AddressSpace();
}

uint64_t map_new_page(mm::AddressSpace& space, uint64_t virt, uint32_t flags) {
    auto frame = physical_memory::allocate(mm::PageState::User);
    if (!frame) return 0;
    const uint64_t phys = frame.value().address();
    __builtin_memset(phys_to_virt<uint8_t>(phys), 0, kPageSize);
    if (!space.map_page(kstd::VirtAddr{virt}, kstd::PhysAddr{phys}, flags | mm::kPageUser)) {
        physical_memory::free(frame.value());
        return 0;
    }
    return phys;
}

uint64_t unmap_batch(mm::AddressSpace& space, uint64_t virt, uint64_t end, FrameBatch& batch) {
    batch.count = 0;
    uint64_t page = virt;
    while (page < end && batch.count < FrameBatch::kCapacity) {
        // A thread's 20 MiB stack is mostly empty tables: skip them whole, not page by page.
        const uint64_t next = space.skip_unmapped(page);
        if (next != page) {
            page = next == 0 || next > end ? end : next;
            continue;
        }
        auto found = space.translate(page);
        page += kPageSize;
        if (!found) continue;
        space.unmap(page - kPageSize, kPageSize);
        batch.frames[batch.count++] = mm::Pfn::from_address(found.value().phys_addr);
    }
    return page;
}

void free_batch(FrameBatch& batch) {
    for (unsigned i = 0; i < batch.count; ++i) physical_memory::release(batch.frames[i]);
    batch.count = 0;
}

bool share_all(mm::AddressSpace& from, mm::AddressSpace& to, bool (*is_shared)(void* context, uint64_t virt),
               void* context, ShareCounts& counts) {
    bool ok = true;
    counts = {};
    for_each_user_page(from, [&](uint64_t virt, uint64_t entry) {
        if (!ok) return;
        const mm::Pfn frame = mm::Pfn::from_address(arch::pte::leaf_address(entry, 0));
        uint32_t flags = flags_of(entry);
        const bool writable = entry & (arch::pte::kWritable | arch::pte::kCopyOnWrite);
        if (writable && !is_shared(context, virt)) {
            // Both sides read the one frame until either writes: then the writer gets a copy.
            flags = (flags & ~mm::kPageWritable) | mm::kPageCopyOnWrite;
            if (!(entry & arch::pte::kCopyOnWrite)) {
                from.protect(virt, kPageSize, flags);  // drops this CPU's entry
                ++counts.write_protected;
            }
        } else if (writable) {
            flags |= mm::kPageWritable;  // shared memory: writes show on both sides
        }
        if (!to.map(kstd::VirtAddr{virt}, kstd::PhysAddr{frame.address()}, kPageSize, flags)) {
            ok = false;
            return;
        }
        physical_memory::share(frame);
        ++counts.pages;
    });
    return ok;
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

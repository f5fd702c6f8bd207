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

// Page tables of user spaces come from the same allocator as the kernel's, but their TLB
// entries only ever live on the one CPU running the process: a change is made by the process
// itself (or once it runs nowhere), so invalidating locally is enough — no shootdown.
class UserPageTableMemory final : public mm::PageTableMemory {
public:
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
    uint32_t flags = mm::kPageUser;
    if (entry & arch::pte::kWritable) flags |= mm::kPageWritable;
    if (!(entry & arch::pte::kNoExecute)) flags |= mm::kPageExecutable;
    return flags;
}

// Calls visit(virt, entry) for every present 4 KiB user page. User space has no huge pages.
template <typename Visitor>
void for_each_user_page(const mm::AddressSpace& space, Visitor&& visit) {
    const uint64_t* directory = user_directory(space);
    for (unsigned d = kFirstUserDirectoryEntry; d < kEntriesPerTable; ++d) {
        if (!arch::pte::is_present(directory[d])) continue;
        const uint64_t* page_table = table(directory[d]);
        for (unsigned t = 0; t < kEntriesPerTable; ++t)
            if (arch::pte::is_present(page_table[t])) visit((uint64_t{d} << 21) | (uint64_t{t} << 12), page_table[t]);
    }
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
    for (unsigned i = 0; i < kEntriesPerTable; ++i) {
        own_pdpt[i] = i == 0 ? arch::pte::make_table(directory.value().address(), true) : kernel_pdpt[i];
        own_directory[i] = i < kFirstUserDirectoryEntry ? kernel_directory[i] : 0;
    }
    space.share_top_level(kernel_address_space(), 1, kEntriesPerTable - 1);
    phys_to_virt<uint64_t>(space.root().address())[0] = arch::pte::make_table(pdpt.value().address(), true);
    return space;
}

void destroy(mm::AddressSpace& space) {
    if (!space.valid()) return;
    uint64_t* pml4 = phys_to_virt<uint64_t>(space.root().address());
    uint64_t* pdpt = table(pml4[0]);
    uint64_t* directory = table(pdpt[0]);
    for_each_user_page(space, [](uint64_t, uint64_t entry) {
        physical_memory::free(mm::Pfn::from_address(arch::pte::leaf_address(entry, 0)));
    });
    for (unsigned d = kFirstUserDirectoryEntry; d < kEntriesPerTable; ++d)
        if (arch::pte::is_present(directory[d]))
            physical_memory::free(mm::Pfn::from_address(arch::pte::next_table(directory[d])));
    physical_memory::free(mm::Pfn::from_address(arch::pte::next_table(pdpt[0])));
    physical_memory::free(mm::Pfn::from_address(arch::pte::next_table(pml4[0])));
    pml4[0] = 0;  // what is left is the root and borrowed entries: destroy() frees just the root
    space.destroy();
    space = mm::AddressSpace();
}

uint64_t map_new_page(mm::AddressSpace& space, uint64_t virt, uint32_t flags) {
    auto frame = physical_memory::allocate(mm::PageState::User);
    if (!frame) return 0;
    const uint64_t phys = frame.value().address();
    __builtin_memset(phys_to_virt<uint8_t>(phys), 0, kPageSize);
    if (!space.map(kstd::VirtAddr{virt}, kstd::PhysAddr{phys}, kPageSize, flags | mm::kPageUser)) {
        physical_memory::free(frame.value());
        return 0;
    }
    return phys;
}

uint64_t unmap_pages(mm::AddressSpace& space, uint64_t virt, uint64_t size) {
    uint64_t freed = 0;
    for (uint64_t page = virt; page < virt + size; page += kPageSize) {
        auto found = space.translate(page);
        if (!found) continue;
        space.unmap(page, kPageSize);
        physical_memory::free(mm::Pfn::from_address(found.value().phys_addr));
        ++freed;
    }
    return freed;
}

bool copy_all(mm::AddressSpace& from, mm::AddressSpace& to, uint64_t& pages_copied) {
    bool ok = true;
    pages_copied = 0;
    for_each_user_page(from, [&](uint64_t virt, uint64_t entry) {
        if (!ok) return;
        auto frame = physical_memory::allocate(mm::PageState::User);
        if (!frame) {
            ok = false;
            return;
        }
        const uint64_t phys = frame.value().address();
        __builtin_memcpy(phys_to_virt<uint8_t>(phys), phys_to_virt<uint8_t>(arch::pte::leaf_address(entry, 0)), kPageSize);
        if (!to.map(kstd::VirtAddr{virt}, kstd::PhysAddr{phys}, kPageSize, flags_of(entry))) {
            physical_memory::free(frame.value());
            ok = false;
            return;
        }
        ++pages_copied;
    });
    return ok;
}

}  // namespace kernel::user_memory

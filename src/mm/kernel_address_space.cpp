// Builds and loads the kernel page tables (layout in kernel_address_space.hpp).
#include "mm/kernel_address_space.hpp"

#include "arch/arch.hpp"
#include "lib/console.hpp"
#include "lib/panic.hpp"
#include "mm/physical_memory.hpp"

namespace kernel {
namespace {

constexpr uint64_t kTwoMiB = 2ull << 20;

// Page-table frames come from the physical allocator. Until the new tables are loaded they are
// reached through the boot identity map (0..4 GiB), afterwards through the direct map.
void (*g_invalidate)(uint64_t virt_addr) = arch::invalidate_tlb_page;

void invalidate_ranges_here(const VirtualRange* ranges, unsigned count) {
    for (unsigned i = 0; i < count; ++i)
        for (uint64_t page = ranges[i].start; page < ranges[i].end; page += mm::kPageSize) arch::invalidate_tlb_page(page);
}
void (*g_invalidate_ranges)(const VirtualRange* ranges, unsigned count) = invalidate_ranges_here;

class KernelPageTableMemory final : public mm::PageTableMemory {
public:
    KernelPageTableMemory() { set_linear_offset(0); }  // the boot identity map, as table_entries
    kstd::Result<mm::Pfn, mm::AllocError> allocate_table() override {
        auto frame = physical_memory::allocate(mm::PageState::PageTable);
        if (frame && !m_direct_map_live && frame.value().address() >= kBootIdentityLimit)
            panic("mm: page-table frame 0x%lx is beyond the boot identity map", (frame.value().address()));
        return frame;
    }
    void free_table(mm::Pfn table) override { physical_memory::free(table); }
    uint64_t* table_entries(mm::Pfn table) override {
        return m_direct_map_live ? phys_to_virt<uint64_t>(table.address())
                                 : reinterpret_cast<uint64_t*>(table.address());
    }
    // The one TLB entry point: every CPU drops the entry (a shootdown once APs are online).
    void invalidate(uint64_t virt_addr) override { __atomic_load_n(&g_invalidate, __ATOMIC_ACQUIRE)(virt_addr); }
    bool no_execute_supported() const override { return m_no_execute; }
    bool huge_1g_supported() const override { return m_huge_1g; }

    void set_direct_map_live() {
        m_direct_map_live = true;
        set_linear_offset(kDirectMapBase);
    }
    void detect_cpu() {
        m_no_execute = arch::cpu_supports_no_execute();
        fix_no_execute(m_no_execute);
        m_huge_1g = arch::cpu_supports_1g_pages();
    }

private:
    bool m_direct_map_live = false;
    bool m_no_execute = false;
    bool m_huge_1g = false;
};

KernelPageTableMemory g_table_memory;
mm::AddressSpace g_kernel_space;

uint64_t align_down(uint64_t value, uint64_t alignment) { return value & ~(alignment - 1); }
uint64_t align_up(uint64_t value, uint64_t alignment) { return (value + alignment - 1) & ~(alignment - 1); }

void map_or_panic(uint64_t virt, uint64_t phys, uint64_t size, uint32_t flags, mm::PageSize page_size,
                  const char* what) {
    auto result = g_kernel_space.map(kstd::VirtAddr{virt}, kstd::PhysAddr{phys}, size, flags, page_size);
    if (!result)
        panic("mm: mapping %s (0x%lx, %lu KiB) failed: %s", what, virt, size >> 10, mm::describe(result.error()));
}

// Maps [base, end) with 4 KiB pages and the given flags, skipping nothing.
void map_kernel_pages(uint64_t base, uint64_t end, uint32_t flags, const char* what) {
    if (end > base) map_or_panic(base, base, end - base, flags, mm::PageSize::Size4K, what);
}

// Which memory-map regions get identity and direct mappings: RAM and ACPI tables; never MMIO
// holes, so no device memory is mapped cacheable by accident.
bool is_mapped_ram(boot::MemoryType type) {
    return type == boot::MemoryType::Available || type == boot::MemoryType::AcpiReclaimable ||
           type == boot::MemoryType::AcpiNvs;
}

}  // namespace

mm::AddressSpace& kernel_address_space() { return g_kernel_space; }
mm::PageTableMemory& kernel_page_table_memory() { return g_table_memory; }

void set_tlb_invalidator(void (*invalidate)(uint64_t virt_addr)) {
    __atomic_store_n(&g_invalidate, invalidate, __ATOMIC_RELEASE);
}

void set_tlb_range_invalidator(void (*invalidate)(const VirtualRange* ranges, unsigned count)) {
    __atomic_store_n(&g_invalidate_ranges, invalidate, __ATOMIC_RELEASE);
}

void invalidate_kernel_ranges(const VirtualRange* ranges, unsigned count) {
    __atomic_load_n(&g_invalidate_ranges, __ATOMIC_ACQUIRE)(ranges, count);
}

void init_kernel_address_space(const boot::BootInfo& info) {
    g_table_memory.detect_cpu();
    auto created = mm::AddressSpace::create(g_table_memory);
    if (!created) panic("mm: no frame for the kernel PML4");
    g_kernel_space = created.value();

    using namespace mm;
    const uint64_t kernel_start = reinterpret_cast<uint64_t>(__kernel_start);
    const uint64_t text_end = reinterpret_cast<uint64_t>(__text_end);
    const uint64_t rodata_end = reinterpret_cast<uint64_t>(__rodata_end);
    const uint64_t kernel_end = reinterpret_cast<uint64_t>(__kernel_end);
    const uint64_t guard = reinterpret_cast<uint64_t>(boot_stack_guard);
    const uint64_t split_base = align_down(kernel_start, kTwoMiB);
    const uint64_t split_end = align_up(kernel_end, kTwoMiB);

    // 1. The 2 MiB page(s) holding the kernel image, in 4 KiB pages with per-section rights.
    //    Below the image: VGA memory, EBDA, the ROM area, the AP trampoline page. Page 0 (the
    //    real-mode IVT and the BIOS data area) stays unmapped, so a kernel NULL dereference
    //    faults instead of reading it; the MP-table search reads the BDA through the direct map.
    map_kernel_pages(split_base == 0 ? kPageSize : split_base, kernel_start, kPageWritable, "low memory");
    map_kernel_pages(kernel_start, text_end, kPageExecutable | kPageGlobal, "kernel text");
    map_kernel_pages(text_end, rodata_end, kPageGlobal, "kernel rodata");
    map_kernel_pages(rodata_end, guard, kPageWritable | kPageGlobal, "kernel data");
    map_kernel_pages(guard + kPageSize, kernel_end, kPageWritable | kPageGlobal, "boot stack and bss");
    map_kernel_pages(kernel_end, split_end, kPageWritable, "rest of the kernel's 2 MiB page");

    // 2. The rest of the first 128 MiB: the seed's kernel memory, 2 MiB pages, data only.
    if (split_end < kKernelIdentityLimit)
        map_or_panic(split_end, split_end, kKernelIdentityLimit - split_end, kPageWritable,
                     PageSize::Size2M, "kernel identity memory");

    // 3. Every RAM region above 128 MiB, identity; 4. all RAM again at the direct map.
    for (size_t i = 0; i < info.memory_map.count(); ++i) {
        const boot::MemoryRegion region = info.memory_map[i];
        if (!is_mapped_ram(region.type)) continue;
        const uint64_t base = align_down(region.base, kPageSize);
        const uint64_t end = align_up(region.base + region.length, kPageSize);
        if (end > kDirectMapBase) panic("mm: RAM above 256 GiB does not fit the seed's direct map");
        const uint64_t identity_base = base < kKernelIdentityLimit ? kKernelIdentityLimit : base;
        if (end > identity_base)
            map_or_panic(identity_base, identity_base, end - identity_base, kPageWritable,
                         PageSize::Largest, "RAM identity");
    }
    // The direct map covers [0, 1 MiB) too, and everything the identity part covers.
    map_or_panic(kDirectMapBase, 0, 1ull << 20, kPageWritable, PageSize::Size4K, "direct map of low memory");
    for (size_t i = 0; i < info.memory_map.count(); ++i) {
        const boot::MemoryRegion region = info.memory_map[i];
        if (!is_mapped_ram(region.type)) continue;
        uint64_t base = align_down(region.base, kPageSize);
        const uint64_t end = align_up(region.base + region.length, kPageSize);
        if (base < (1ull << 20)) base = 1ull << 20;
        if (end > base)
            map_or_panic(kDirectMapBase + base, base, end - base, kPageWritable, PageSize::Largest, "direct map");
    }
    // Frames below 128 MiB that the memory map calls reserved (ACPI, firmware) are still
    // identity-mapped by step 2; the direct map only covers what step 3/4 name as RAM.

    arch::load_page_table_root(g_kernel_space.root().address());
    g_table_memory.set_direct_map_live();
    // A process's tables may sit above the low 128 MiB, which is all its identity map covers.
    arch::set_page_table_view_offset(kDirectMapBase);
    physical_memory::use_direct_map();
    klog("mm: kernel page tables loaded: PML4 at 0x%lx, %lu page-table frames, NX %s, 1 GiB pages %s",
         g_kernel_space.root().address(), physical_memory::count(PageState::PageTable),
         g_table_memory.no_execute_supported() ? "on" : "off", g_table_memory.huge_1g_supported() ? "on" : "off");
}

}  // namespace kernel

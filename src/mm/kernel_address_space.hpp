// The kernel's own page tables, in the seed's layout (docs/memory.md):
//   0 .. 128 MiB         identity, 2 MiB pages, except the 2 MiB page(s) holding the kernel image,
//                        split into 4 KiB pages so text is RX, rodata R, data/bss RW+NX
//   128 MiB .. top       every RAM region identity-mapped (largest pages that fit), RW+NX
//   0x4000000000 + phys  the direct map of all RAM again, RW+NX
// Every mapping is supervisor-only. Built from frames of the physical allocator, then loaded.
#pragma once

#include <stdint.h>

#include "boot/multiboot2.hpp"
#include "mm/address_space.hpp"

namespace kernel {

inline constexpr uint64_t kDirectMapBase = 0x4000000000ull;  // bit 38, as in the seed
inline constexpr uint64_t kKernelIdentityLimit = 128ull << 20;
// The boot stub identity-maps this much (docs/boot.md); until the kernel's tables are loaded,
// nothing above it is reachable.
inline constexpr uint64_t kBootIdentityLimit = 4ull << 30;

// Physical address -> pointer through the direct map (valid once the kernel tables are loaded).
template <typename T = void>
inline T* phys_to_virt(uint64_t phys_addr) {
    return reinterpret_cast<T*>(kDirectMapBase + phys_addr);
}

void init_kernel_address_space(const boot::BootInfo& info);
mm::AddressSpace& kernel_address_space();
mm::PageTableMemory& kernel_page_table_memory();
// How a kernel mapping's stale TLB entries are dropped: on this CPU only until the SMP layer
// installs its shootdown (every online CPU) here.
void set_tlb_invalidator(void (*invalidate)(uint64_t virt_addr));
// The same for whole ranges at once, after AddressSpace::unmap_leaving_tlb: one shootdown for
// all of them instead of one per page (the reaper frees many dead tasks' stacks together).
struct VirtualRange {
    uint64_t start, end;
};
void set_tlb_range_invalidator(void (*invalidate)(const VirtualRange* ranges, unsigned count));
void invalidate_kernel_ranges(const VirtualRange* ranges, unsigned count);

}  // namespace kernel

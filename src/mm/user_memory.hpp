// A process's address space (docs/userspace.md draws it). The kernel part is shared, never
// copied page by page: the process's PML4 borrows the kernel's entries 1..511, its own PDPT
// borrows the kernel's PDPT entries 1..511 (RAM above 1 GiB, MMIO, the direct map), and its own
// page directory borrows the kernel's entries 0..63 (the seed's first 128 MiB, all supervisor-only).
// The borrowed entries are copied when the process is created: a kernel mapping added later in a
// then-empty slot of those tables would not reach existing processes. Every kernel mapping
// there (identity, direct map, MMIO) is made at boot, before the first process.
// Page-directory entries 64..511 — 0x08000000 up to 1 GiB — are the process's alone:
//
//   0x08000000  program image (ELF segments), then the heap growing up from the image's end
//      ...      (brk), never past the guard page
//   0x3EBFF000  guard page: never mapped; touching it is a stack overflow
//   0x3EC00000  stack region, 20 MiB: pages committed on first touch (4 at start)
//   0x40000000  end of user space
#pragma once

#include <stdint.h>

#include <sable/abi.h>

#include "lib/result.hpp"
#include "mm/address_space.hpp"

namespace kernel::user_memory {

inline constexpr uint64_t kUserBase = SABLE_USER_BASE;
inline constexpr uint64_t kUserTop = SABLE_USER_TOP;
inline constexpr uint64_t kStackTop = SABLE_STACK_TOP;
inline constexpr uint64_t kStackBottom = SABLE_STACK_BOTTOM;
inline constexpr uint64_t kGuardPage = SABLE_GUARD_PAGE;
inline constexpr uint64_t kHeapLimit = SABLE_GUARD_PAGE;
inline constexpr unsigned kInitialStackPages = 4;

// A new address space with the kernel part in place and no user pages.
kstd::Result<mm::AddressSpace, mm::MapError> create();
// Returns every user page and page table, then the space's own tables (the caller runs on
// other page tables by now).
void destroy(mm::AddressSpace& space);

// A fresh zeroed page at `virt` (flags: mm::PageFlags, kPageUser implied). Returns its
// physical address, or 0 when memory ran out or `virt` is already mapped.
uint64_t map_new_page(mm::AddressSpace& space, uint64_t virt, uint32_t flags);
// Unmaps and frees the user pages in [virt, virt+size).
uint64_t unmap_pages(mm::AddressSpace& space, uint64_t virt, uint64_t size);
// Copies every user page of `from` into `to` (same addresses and rights). False: out of memory
// (what was copied stays in `to`, for the caller's destroy()).
bool copy_all(mm::AddressSpace& from, mm::AddressSpace& to, uint64_t& pages_copied);

// User pointers. A range is acceptable if it lies inside [kUserBase, kUserTop) without wrapping;
// copies run on the current (the process's) page tables and return false on any fault.
bool range_ok(uint64_t address, uint64_t size);
bool copy_from(void* destination, uint64_t user_source, uint64_t size);
bool copy_to(uint64_t user_destination, const void* source, uint64_t size);
// A NUL-terminated string of at most capacity-1 characters: its length, -1 on a bad pointer,
// -2 if it does not fit.
int64_t copy_string_from(char* destination, uint64_t capacity, uint64_t user_source);

}  // namespace kernel::user_memory

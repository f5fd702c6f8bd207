// A process's address space (docs/userspace.md draws it). The kernel part is shared, never
// copied page by page: the process's PML4 borrows the kernel's entries 256..511 (kernel stacks
// and the upper half), its own PDPT
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
//   0x40000000  end of the low user window
// PML4 entries 1..255 — 512 GiB up to 128 TiB — are the process's alone too: the high window.
//   0x0100_0000_0000  thread stack slots, 32 MiB each: guard page, then a 20 MiB stack region
//                     at the slot's top (threads other than the main one)
//   0x8000_0000_0000  end of user space
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
inline constexpr uint64_t kHighUserBase = SABLE_HIGH_USER_BASE;
inline constexpr uint64_t kHighUserTop = SABLE_HIGH_USER_TOP;
inline constexpr uint64_t kStackRegionBytes = SABLE_STACK_REGION_SIZE;
inline constexpr unsigned kInitialStackPages = 4;

// Where thread stack slot `slot` puts its stack region [bottom, top) and guard page.
struct StackRegion {
    uint64_t guard, bottom, top;
    bool contains(uint64_t address) const { return address >= bottom && address < top; }
};
inline constexpr StackRegion main_stack_region() { return {kGuardPage, kStackBottom, kStackTop}; }
inline constexpr StackRegion thread_stack_region(unsigned slot) {
    const uint64_t top = SABLE_THREAD_STACKS_BASE + (uint64_t{slot} + 1) * SABLE_THREAD_STACK_SLOT;
    return {top - kStackRegionBytes - 4096, top - kStackRegionBytes, top};
}
// The thread stack slot whose slot range (guard zone included) holds `address`, or -1.
inline constexpr int thread_stack_slot_of(uint64_t address) {
    if (address < SABLE_THREAD_STACKS_BASE) return -1;
    const uint64_t slot = (address - SABLE_THREAD_STACKS_BASE) / SABLE_THREAD_STACK_SLOT;
    return slot < SABLE_MAX_THREADS - 1 ? static_cast<int>(slot) : -1;
}

// Once the kernel's tables know the CPU (init_kernel_address_space), before any user space:
// user leaves then take their no-execute bit from a copy instead of asking the kernel's tables.
void init();
// A new address space with the kernel part in place and no user pages.
kstd::Result<mm::AddressSpace, mm::MapError> create();
// Returns every user page and page table, then the space's own tables (the caller runs on
// other page tables by now).
void destroy(mm::AddressSpace& space);

// A fresh zeroed page at `virt` (flags: mm::PageFlags, kPageUser implied). Returns its
// physical address, or 0 when memory ran out or `virt` is already mapped.
uint64_t map_new_page(mm::AddressSpace& space, uint64_t virt, uint32_t flags);
// The same, telling a page someone else mapped first (`already_mapped`: a thread of the process
// faulted on it too; nothing changed) from memory running out: a fault then just resumes, with
// no second walk to look. The race costs a frame allocated, zeroed and freed, which is rare.
// Returned in registers rather than through a pointer, which would cost the fault path a
// stack slot and its stack-protector check.
struct NewPage {
    uint64_t phys;  // 0: nothing mapped
    bool already_mapped;
};
// Under the lock that guards the space's tables (interrupts off).
NewPage map_new_page_or_find(mm::AddressSpace& space, uint64_t virt, uint32_t flags);
// map_new_page for a space no thread runs yet (spawn's image and stack), without zeroing
// [fill_begin, fill_end) of the page, which the caller fills at once.
uint64_t map_page_to_fill(mm::AddressSpace& space, uint64_t virt, uint32_t flags, uint64_t fill_begin,
                          uint64_t fill_end);
// Unmapping in two steps, so the frames are freed only after the other CPUs that run the space
// have dropped their TLB entries (the process layer's shootdown, which needs interrupts on and
// so cannot run under the lock that guards the tables): unmap_batch clears up to kCapacity
// present pages from [virt, end) (dropping this CPU's entries) and returns where it stopped;
// free_batch returns their frames.
struct FrameBatch {
    static constexpr unsigned kCapacity = 64;
    mm::Pfn frames[kCapacity];
    unsigned count = 0;
};
uint64_t unmap_batch(mm::AddressSpace& space, uint64_t virt, uint64_t end, FrameBatch& batch);
void free_batch(FrameBatch& batch);
// fork: maps every user page of `from` into `to` at the same address, sharing the frame (one
// more owner). A writable page becomes copy-on-write on both sides — unless is_shared(context,
// virt) says it belongs to shared memory, which stays writable on both. Read-only pages are
// shared as they are. `from`'s entries changed here are dropped from this CPU's TLB only: the
// caller shoots down the other CPUs running `from`. False: out of memory (what was mapped stays
// in `to`, for the caller's destroy()).
struct ShareCounts {
    uint64_t pages;            // mapped into `to`
    uint64_t write_protected;  // `from`'s entries made copy-on-write
};
bool share_all(mm::AddressSpace& from, mm::AddressSpace& to, bool (*is_shared)(void* context, uint64_t virt),
               void* context, ShareCounts& counts);

// A write fault on a present page at `virt`. Copied: the page now has a fresh frame with the
// same contents, writable; `replaced` is the old frame, whose owner reference the caller drops
// (after the other CPUs running the space forgot it). MadeWritable: its frame had no other
// owner left, so it just became writable. AlreadyWritable: another CPU of the space got there
// first. NotCopyOnWrite: a real protection fault.
enum class CopyResult { Copied, MadeWritable, AlreadyWritable, NotCopyOnWrite, OutOfMemory };
CopyResult copy_on_write(mm::AddressSpace& space, uint64_t virt, mm::Pfn& replaced);

// User pointers. A range is acceptable if it lies inside [kUserBase, kUserTop) or
// [kHighUserBase, kHighUserTop) without wrapping;
// copies run on the current (the process's) page tables and return false on any fault.
bool range_ok(uint64_t address, uint64_t size);
bool copy_from(void* destination, uint64_t user_source, uint64_t size);
bool copy_to(uint64_t user_destination, const void* source, uint64_t size);
// A NUL-terminated string of at most capacity-1 characters: its length, -1 on a bad pointer,
// -2 if it does not fit.
int64_t copy_string_from(char* destination, uint64_t capacity, uint64_t user_source);

}  // namespace kernel::user_memory

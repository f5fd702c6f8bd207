// The kernel's one physical page-frame allocator: built from the Multiboot2 memory map at boot,
// guarded by an IRQ-safe spinlock. Errors go back to the caller; bad frees are also logged.
#pragma once

#include "boot/multiboot2.hpp"
#include "mm/page_frame_allocator.hpp"

namespace kernel::physical_memory {

// Builds the allocator: every Available region is free, minus the first MiB (firmware, the AP
// trampoline later), the kernel image, the boot information, modules and the allocator's own
// metadata. Panics only if the metadata finds no home (the machine has almost no memory).
void init(const boot::BootInfo& info);

// Once the kernel's tables (with the direct map) are loaded: reach the metadata through the
// direct map, which user address spaces share, instead of the identity map, which they do not.
void use_direct_map();

kstd::Result<mm::Pfn, mm::AllocError> allocate(mm::PageState purpose);
// The same for a caller whose interrupts are off already and stay off (one holding an
// IrqSpinLock, an exception handler): no interrupt flag to save and restore.
kstd::Result<mm::Pfn, mm::AllocError> allocate_interrupts_off(mm::PageState purpose);
kstd::Result<mm::Pfn, mm::AllocError> allocate_run(uint64_t count, mm::PageState purpose,
                                                   uint64_t align_frames = 1);
kstd::Result<bool, mm::FreeError> free(mm::Pfn frame);
kstd::Result<bool, mm::FreeError> free_run(mm::Pfn first, uint64_t count);

// Owners of a user frame (copy-on-write and shared mappings; page_frame_allocator.hpp).
kstd::Result<uint32_t, mm::FreeError> share(mm::Pfn frame);
kstd::Result<uint32_t, mm::FreeError> release(mm::Pfn frame);  // frees it with the last owner
uint32_t owners(mm::Pfn frame);
uint64_t shared_count();
uint64_t count(mm::PageState state);
uint64_t frame_count();
bool check_consistency();
mm::PageState state(mm::Pfn frame);

// "mm: frames free=<n> kernel=<n> ..." (a fixed-shape line, docs/design.md) plus usable MiB; also the shell's `mem`.
void print_meminfo();

}  // namespace kernel::physical_memory

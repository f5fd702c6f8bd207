// Kernel stacks with guard pages. Each stack lives in its own 64 KiB slot of a dedicated virtual
// area (PML4 entry 256, 0xFFFF800000000000): its pages are mapped at the top of the slot and the
// page below them stays unmapped, so running off the bottom faults at once instead of corrupting
// a neighbour. Frames need not be contiguous, since only the virtual range is.
#pragma once

#include <stdint.h>

#include "arch/arch.hpp"  // arch::pte::kEntriesPerTable
#include "lib/addresses.hpp"
#include "lib/result.hpp"
#include "mm/page_frame_allocator.hpp"

namespace kernel {

inline constexpr uint64_t kKernelStackAreaBase = 0xFFFF800000000000ull;
inline constexpr uint64_t kKernelStackSlotBytes = 64 * 1024;
inline constexpr unsigned kKernelStackSlots = 4096;  // 256 MiB of virtual space
inline constexpr unsigned kKernelStackMaxPages = 15;  // one page of the slot is always the guard

struct KernelStack {
    uint64_t bottom;  // lowest mapped address; bottom - 4 KiB is the guard page
    uint64_t top;     // initial RSP (16-byte aligned)
    unsigned pages;
};

enum class StackError { OutOfMemory, OutOfSlots, BadSize };

kstd::Result<KernelStack, StackError> allocate_kernel_stack(unsigned pages);
// Unmaps (with a TLB shootdown on SMP) and frees the frames: call with interrupts enabled.
void free_kernel_stack(const KernelStack& stack);
// Many at once, with one TLB shootdown for every 32 (the reaper's way).
void free_kernel_stacks(const KernelStack* stacks, unsigned count);
uint64_t kernel_stacks_in_use();

// Page-table frames under the stack area. One maps 2 MiB (32 slots); it is made when a stack first
// lands in its 2 MiB and kept when those stacks are freed, so the count follows the high-water
// mark of concurrent stacks (tasks and IST stacks), never shrinks, and is bounded: at most
// kKernelStackPageTablesMax. Leak checks add its growth to the page-table count they expect.
inline constexpr uint64_t kPageTableSpan = arch::pte::kEntriesPerTable * mm::kPageSize;  // 2 MiB
inline constexpr uint64_t kKernelStackPageTablesMax = kKernelStackSlots * kKernelStackSlotBytes / kPageTableSpan;
uint64_t kernel_stack_page_tables();

// Maps or unmaps one page in the kernel address space under the same lock the stack code uses
// (interrupts stay on: an unmap shoots down other CPUs' TLB entries). For tests and drivers.
bool map_kernel_page(kstd::VirtAddr virt_addr, kstd::PhysAddr phys_addr, uint32_t flags);
void unmap_kernel_page(uint64_t virt_addr);

}  // namespace kernel

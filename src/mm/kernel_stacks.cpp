// Guarded kernel stacks (see kernel_stacks.hpp).
#include "mm/kernel_stacks.hpp"

#include "mm/kernel_address_space.hpp"
#include "mm/physical_memory.hpp"
#include "lib/spinlock.hpp"

namespace kernel {
namespace {

constexpr unsigned kSlots = 4096;  // 256 MiB of virtual space
uint64_t g_slot_used[kSlots / 64];
uint64_t g_in_use = 0;
IrqSpinLock g_lock;    // the slot bitmap
SpinLock g_map_lock;   // kernel page-table changes: interrupts stay on (unmap shoots down TLBs)

// Unmaps [bottom, bottom + pages), drops the TLB entries everywhere, then frees the frames.
// One shootdown for the whole stack: every task's end used to cost one IPI round per page.
void release_pages(uint64_t bottom, unsigned pages) {
    LockGuard guard(g_map_lock);
    mm::AddressSpace& space = kernel_address_space();
    mm::Pfn frames[kKernelStackMaxPages];
    unsigned count = 0;
    for (unsigned i = 0; i < pages; ++i) {
        auto found = space.translate(bottom + i * mm::kPageSize);
        if (found) frames[count++] = mm::Pfn::from_address(found.value().phys_addr);
    }
    if (count == 0) return;
    unmap_kernel_range(bottom, bottom + uint64_t{pages} * mm::kPageSize);
    for (unsigned i = 0; i < count; ++i) physical_memory::free(frames[i]);
}

}  // namespace

kstd::Result<KernelStack, StackError> allocate_kernel_stack(unsigned pages) {
    if (pages == 0 || pages > kKernelStackMaxPages) return kstd::fail(StackError::BadSize);
    unsigned slot = kSlots;
    {
        IrqLockGuard guard(g_lock);
        for (unsigned word = 0; word < kSlots / 64 && slot == kSlots; ++word) {
            if (g_slot_used[word] == ~0ull) continue;
            const unsigned bit = static_cast<unsigned>(__builtin_ctzll(~g_slot_used[word]));
            g_slot_used[word] |= 1ull << bit;
            slot = word * 64 + bit;
        }
        if (slot == kSlots) return kstd::fail(StackError::OutOfSlots);
        ++g_in_use;
    }
    const uint64_t slot_top = kKernelStackAreaBase + (uint64_t{slot} + 1) * kKernelStackSlotBytes;
    const uint64_t bottom = slot_top - uint64_t{pages} * mm::kPageSize;
    for (unsigned i = 0; i < pages; ++i) {
        auto frame = physical_memory::allocate(mm::PageState::Stack);
        bool mapped = false;
        if (frame) {
            LockGuard guard(g_map_lock);
            mapped = kernel_address_space()
                         .map(kstd::VirtAddr{bottom + i * mm::kPageSize}, kstd::PhysAddr{frame.value().address()}, mm::kPageSize,
                              mm::kPageWritable)
                         .ok();
        }
        if (!mapped) {
            if (frame) physical_memory::free(frame.value());
            release_pages(bottom, i);
            free_kernel_stack({bottom, slot_top, 0});
            return kstd::fail(StackError::OutOfMemory);
        }
    }
    return KernelStack{bottom, slot_top, pages};
}

void free_kernel_stack(const KernelStack& stack) {
    release_pages(stack.bottom, stack.pages);
    const unsigned slot = static_cast<unsigned>((stack.bottom - kKernelStackAreaBase) / kKernelStackSlotBytes);
    IrqLockGuard guard(g_lock);
    g_slot_used[slot / 64] &= ~(1ull << (slot % 64));
    --g_in_use;
}

bool map_kernel_page(kstd::VirtAddr virt_addr, kstd::PhysAddr phys_addr, uint32_t flags) {
    LockGuard guard(g_map_lock);
    return kernel_address_space().map(virt_addr, phys_addr, mm::kPageSize, flags).ok();
}

void unmap_kernel_page(uint64_t virt_addr) {
    LockGuard guard(g_map_lock);
    unmap_kernel_range(virt_addr, virt_addr + mm::kPageSize);
}

uint64_t kernel_stacks_in_use() {
    IrqLockGuard guard(g_lock);
    return g_in_use;
}

}  // namespace kernel

// Guarded kernel stacks (see kernel_stacks.hpp).
#include "mm/kernel_stacks.hpp"

#include "mm/kernel_address_space.hpp"
#include "mm/physical_memory.hpp"
#include "lib/spinlock.hpp"

namespace kernel {
namespace {

constexpr unsigned kSlots = kKernelStackSlots;
uint64_t g_slot_used[kSlots / 64];
uint64_t g_in_use = 0;
unsigned g_slots_reached = 0;  // one past the highest slot ever used
IrqSpinLock g_lock{LockLevel::KernelStackSlots};  // the slot bitmap
// Kernel page-table changes. Interrupts off while held (a holder preempted by its tick would keep
// every other CPU spinning); the shootdowns that wait for other CPUs come after it is released.
IrqSpinLock g_map_lock{LockLevel::KernelStackMap};

// Unmaps the stacks' pages, drops every CPU's TLB entries for all of them in one shootdown, and
// only then frees the frames. The shootdown waits for every other CPU, so it runs after the map
// lock is released; and it is one for many stacks, because the reaper frees them in batches.
// Once it was a shootdown per page under the lock: at -smp 8 on a busy host a spawn waited 23 s
// behind the reaper (the watchdog's report during the soak), and with that fixed but a
// shootdown per stack, creation outran the reaper until all 4 096 slots were dead stacks.
void release_stacks(const KernelStack* stacks, unsigned count) {
    // A batch is bounded by its pages too: the frames wait on the caller's (16 KiB) stack.
    constexpr unsigned kBatchStacks = 32, kBatchFrames = 128;
    static_assert(kKernelStackMaxPages <= kBatchFrames);
    for (unsigned first = 0, batch = 0; first < count; first += batch) {
        unsigned pages = 0;
        for (batch = 0; first + batch < count && batch < kBatchStacks &&
                        pages + stacks[first + batch].pages <= kBatchFrames;
             ++batch)
            pages += stacks[first + batch].pages;
        mm::Pfn frames[kBatchFrames];
        VirtualRange ranges[kBatchStacks];
        unsigned frame_count = 0, range_count = 0;
        {
            IrqLockGuard guard(g_map_lock);
            mm::AddressSpace& space = kernel_address_space();
            for (unsigned s = first; s < first + batch; ++s) {
                const KernelStack& stack = stacks[s];
                for (unsigned i = 0; i < stack.pages; ++i) {
                    auto found = space.translate(stack.bottom + i * mm::kPageSize);
                    if (!found) continue;
                    space.unmap_leaving_tlb(stack.bottom + i * mm::kPageSize, mm::kPageSize);
                    frames[frame_count++] = mm::Pfn::from_address(found.value().phys_addr);
                }
                if (stack.pages) ranges[range_count++] = {stack.bottom, stack.bottom + uint64_t{stack.pages} * mm::kPageSize};
            }
        }
        if (frame_count) invalidate_kernel_ranges(ranges, range_count);
        for (unsigned i = 0; i < frame_count; ++i) physical_memory::free(frames[i]);
        IrqLockGuard guard(g_lock);
        for (unsigned s = first; s < first + batch; ++s) {
            const unsigned slot = static_cast<unsigned>((stacks[s].bottom - kKernelStackAreaBase) / kKernelStackSlotBytes);
            g_slot_used[slot / 64] &= ~(1ull << (slot % 64));
            --g_in_use;
        }
    }
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
        if (slot + 1 > g_slots_reached) g_slots_reached = slot + 1;
    }
    const uint64_t slot_top = kKernelStackAreaBase + (uint64_t{slot} + 1) * kKernelStackSlotBytes;
    const uint64_t bottom = slot_top - uint64_t{pages} * mm::kPageSize;
    for (unsigned i = 0; i < pages; ++i) {
        auto frame = physical_memory::allocate(mm::PageState::Stack);
        bool mapped = false;
        if (frame) {
            IrqLockGuard guard(g_map_lock);
            mapped = kernel_address_space()
                         .map(kstd::VirtAddr{bottom + i * mm::kPageSize}, kstd::PhysAddr{frame.value().address()}, mm::kPageSize,
                              mm::kPageWritable)
                         .ok();
        }
        if (!mapped) {
            if (frame) physical_memory::free(frame.value());
            const KernelStack partial{bottom, slot_top, i};  // the pages mapped so far
            release_stacks(&partial, 1);
            return kstd::fail(StackError::OutOfMemory);
        }
    }
    return KernelStack{bottom, slot_top, pages};
}

void free_kernel_stack(const KernelStack& stack) { release_stacks(&stack, 1); }

void free_kernel_stacks(const KernelStack* stacks, unsigned count) { release_stacks(stacks, count); }

bool map_kernel_page(kstd::VirtAddr virt_addr, kstd::PhysAddr phys_addr, uint32_t flags) {
    IrqLockGuard guard(g_map_lock);
    return kernel_address_space().map(virt_addr, phys_addr, mm::kPageSize, flags).ok();
}

void unmap_kernel_page(uint64_t virt_addr) {
    {
        IrqLockGuard guard(g_map_lock);
        kernel_address_space().unmap_leaving_tlb(virt_addr, mm::kPageSize);
    }
    const VirtualRange page{virt_addr, virt_addr + mm::kPageSize};
    invalidate_kernel_ranges(&page, 1);
}

uint64_t kernel_stacks_in_use() {
    IrqLockGuard guard(g_lock);
    return g_in_use;
}

uint64_t kernel_stack_page_tables() {
    // The lowest free slot is always taken, so when slot k was taken every slot below it was in
    // use: every 2 MiB below the high-water slot has had a stack, hence a page table.
    constexpr uint64_t kSlotsPerTable = kPageTableSpan / kKernelStackSlotBytes;
    IrqLockGuard guard(g_lock);
    return (g_slots_reached + kSlotsPerTable - 1) / kSlotsPerTable;
}

}  // namespace kernel

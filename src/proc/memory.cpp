// Anonymous memory and copy-on-write (see process.hpp, region_list.hpp, docs/userspace.md).
//
// mmap only records a region; pages are committed on first touch by resolve_memory_fault. fork
// shares every page with the child copy-on-write (user_memory::share_all): the frame gains an
// owner and both sides' entries become read-only with the copy-on-write bit; the first write on
// either side copies (or, if the other side has let go meanwhile, just makes it writable again).
//
// TLB order for anything that takes a right away or replaces a frame: change the entry under
// the process lock (dropping this CPU's TLB entry), release the lock, shoot down the other CPUs
// that run the space (tlb::shootdown_user_range needs interrupts on), and only then drop the old
// frame's owner reference, so no thread can reach a frame through a stale entry once it is reused.
#include "arch/arch.hpp"
#include "lib/console.hpp"
#include "lib/panic.hpp"
#include "lib/spinlock.hpp"
#include "mm/kernel_heap.hpp"
#include "mm/physical_memory.hpp"
#include "mm/user_memory.hpp"
#include "proc/process.hpp"
#include "smp/tlb.hpp"

namespace kernel::process {
namespace {

constexpr uint64_t kPageSize = mm::kPageSize;
constexpr unsigned kRegionCapacity = 128;  // regions per process (merged neighbours count once)
constexpr uint32_t kAllProt = SABLE_PROT_READ | SABLE_PROT_WRITE | SABLE_PROT_EXEC;

uint64_t align_up(uint64_t value) { return (value + kPageSize - 1) & ~(kPageSize - 1); }

bool in_window(uint64_t start, uint64_t end) {
    return start >= SABLE_MMAP_BASE && end <= SABLE_MMAP_TOP && start < end;
}

uint32_t page_flags_for(uint32_t prot) {
    uint32_t flags = 0;
    if (prot & SABLE_PROT_WRITE) flags |= mm::kPageWritable;
    if (prot & SABLE_PROT_EXEC) flags |= mm::kPageExecutable;
    return flags;
}

bool valid_prot(uint32_t prot) {
    return (prot & ~kAllProt) == 0 && !((prot & SABLE_PROT_WRITE) && (prot & SABLE_PROT_EXEC));
}

// The region list's storage, made at the first mmap (most processes never call it).
bool ensure_regions(Process& process) {
    if (process.region_storage) return true;
    auto* storage = static_cast<Region*>(kmalloc(sizeof(Region) * kRegionCapacity));
    if (!storage) return false;
    IrqLockGuard guard(process.lock);
    if (process.region_storage) {  // another thread was first
        kfree(storage);
        return true;
    }
    process.region_storage = storage;
    process.regions = RegionList(storage, kRegionCapacity);
    return true;
}

// Whether the current CPU may wait for a shootdown: the faulting code ran with interrupts on.
void shoot_down_from_fault(Process& process, arch::TrapFrame* frame, uint64_t start, uint64_t end) {
    if (!arch::frame_interrupts_enabled(frame))
        panic("mm: copy-on-write fault with interrupts off at %p: the kernel wrote user memory under a spinlock",
              reinterpret_cast<void*>(arch::frame_instruction_pointer(frame)));
    arch::interrupts_on();
    tlb::shootdown_user_range(process.space_loaded_on, start, end);
    arch::save_and_disable_interrupts();  // back as the fault handler was entered
}

}  // namespace

void free_regions(Process& process) {
    kfree(process.region_storage);
    process.region_storage = nullptr;
    process.regions = RegionList();
}

int64_t mmap(uint64_t address, uint64_t length, uint32_t prot, uint32_t flags) {
    Process* self = current();
    const uint32_t sharing = flags & (SABLE_MAP_PRIVATE | SABLE_MAP_SHARED);
    if (length == 0 || length > SABLE_MMAP_TOP - SABLE_MMAP_BASE) return length == 0 ? -SABLE_EINVAL : -SABLE_ENOMEM;
    if ((flags & ~(SABLE_MAP_PRIVATE | SABLE_MAP_SHARED | SABLE_MAP_FIXED)) || sharing == 0 ||
        sharing == (SABLE_MAP_PRIVATE | SABLE_MAP_SHARED) || !valid_prot(prot))
        return -SABLE_EINVAL;
    const uint64_t size = align_up(length);
    const bool fixed = flags & SABLE_MAP_FIXED;
    if (fixed && ((address & (kPageSize - 1)) || !in_window(address, address + size) || address + size < address))
        return -SABLE_EINVAL;
    if (!ensure_regions(*self)) return -SABLE_ENOMEM;
    tasks::MutexGuard map_guard(self->map_lock);
    IrqLockGuard guard(self->lock);
    uint64_t start;
    if (fixed) {
        if (self->regions.overlaps(address, address + size)) return -SABLE_EINVAL;
        start = address;
    } else {
        const uint64_t hint = (address & (kPageSize - 1)) == 0 ? address : 0;
        start = self->regions.find_gap(size, SABLE_MMAP_BASE, SABLE_MMAP_TOP, hint);
        if (start == 0) return -SABLE_ENOMEM;
    }
    if (!self->regions.insert({start, start + size, prot, sharing})) return -SABLE_ENOMEM;
    return static_cast<int64_t>(start);
}

int64_t munmap(uint64_t address, uint64_t length) {
    Process* self = current();
    if ((address & (kPageSize - 1)) || length == 0) return -SABLE_EINVAL;
    const uint64_t end = address + align_up(length);
    if (end < address || !in_window(address, end)) return -SABLE_EINVAL;
    tasks::MutexGuard map_guard(self->map_lock);
    {
        IrqLockGuard guard(self->lock);
        if (!self->regions.remove(address, end)) return -SABLE_ENOMEM;
    }
    // A thread touching the range from here on finds no region and dies, as it should; pages it
    // committed just before are unmapped below like the rest.
    unmap_range(*self, address, end);
    return 0;
}

int64_t mprotect(uint64_t address, uint64_t length, uint32_t prot) {
    Process* self = current();
    if ((address & (kPageSize - 1)) || length == 0 || !valid_prot(prot)) return -SABLE_EINVAL;
    const uint64_t end = address + align_up(length);
    if (end < address || !in_window(address, end)) return -SABLE_ENOMEM;
    tasks::MutexGuard map_guard(self->map_lock);
    bool changed = false;
    {
        IrqLockGuard guard(self->lock);
        if (!self->regions.covers(address, end)) return -SABLE_ENOMEM;
        if (!self->regions.protect(address, end, prot)) return -SABLE_ENOMEM;
        const uint32_t wanted = page_flags_for(prot) | mm::kPageUser;
        // Only committed pages have entries to change. The range may be most of the 126 TiB
        // window (mmap only records a region): walked page by page, with interrupts off under
        // the lock, it held its CPU for hours; empty tables are skipped whole instead.
        for (uint64_t page = address; page < end; page += kPageSize) {
            const uint64_t next = self->space.skip_unmapped(page);
            if (next != page) {
                if (next == 0 || next >= end) break;
                page = next - kPageSize;  // the loop's step brings it to `next`
                continue;
            }
            auto found = self->space.translate(page);
            if (!found) continue;
            const bool shared = self->regions.find(page)->flags & SABLE_MAP_SHARED;
            uint32_t flags = wanted;
            if (prot == SABLE_PROT_NONE) {
                // No access: x86 has no present-but-inaccessible user page, so it becomes a
                // supervisor page — committed, its contents kept, unreachable from ring 3 until
                // rights come back.
                flags = 0;
            }
            // A private frame still shared with a fork relative stays copy-on-write when made
            // writable; MAP_SHARED memory is meant to be written by all its owners.
            if ((flags & mm::kPageWritable) && !shared &&
                physical_memory::owners(mm::Pfn::from_address(found.value().phys_addr)) > 1)
                flags = (flags & ~mm::kPageWritable) | mm::kPageCopyOnWrite;
            self->space.protect(page, kPageSize, flags);
            changed = true;
        }
    }
    if (changed) tlb::shootdown_user_range(self->space_loaded_on, address, end);
    return 0;
}

namespace {

// A first touch: a zeroed frame at `page`. Under the process lock. Another thread of the
// process may have committed it since its fault (map_new_page finds it mapped): the faulting
// instruction just runs again.
MemoryFault commit_page(Process& process, uint64_t page, uint32_t flags) {
    const user_memory::NewPage committed = user_memory::map_new_page_or_find(process.space, page, flags);
    if (committed.phys) {
        ++process.user_pages;
        return MemoryFault::Resolved;
    }
    return committed.already_mapped ? MemoryFault::Resolved : MemoryFault::OutOfMemory;
}

// A write to a present page: copy-on-write, or NotMine. Out of line: its frame number is
// passed by reference, which would give every first-touch fault a stack-protector check.
[[gnu::noinline]] MemoryFault resolve_write_to_present_page(Process& process, arch::TrapFrame* frame,
                                                             uint64_t page) {
    mm::Pfn replaced{0};
    user_memory::CopyResult result;
    {
        IrqLockGuard guard(process.lock);
        result = user_memory::copy_on_write(process.space, page, replaced);
    }
    switch (result) {
    case user_memory::CopyResult::Copied:
        shoot_down_from_fault(process, frame, page, page + kPageSize);
        physical_memory::release(replaced);
        return MemoryFault::Resolved;
    case user_memory::CopyResult::MadeWritable: return MemoryFault::Resolved;
    case user_memory::CopyResult::AlreadyWritable:
        // Another thread resolved it; this CPU still held the read-only entry.
        arch::invalidate_tlb_page(page);
        return MemoryFault::Resolved;
    case user_memory::CopyResult::OutOfMemory: return MemoryFault::OutOfMemory;
    case user_memory::CopyResult::NotCopyOnWrite: return MemoryFault::NotMine;
    }
    return MemoryFault::NotMine;
}

// A first touch outside the main stack: a thread's stack, the brk heap, an mmap region, or none
// of them. Out of line, so the main stack's growth (the common first touch) keeps a small frame.
// Interrupts are off (an exception handler's), so the lock need not save the flag.
[[gnu::noinline]] MemoryFault resolve_other_first_touch(Process& process, uint64_t address, uint64_t access) {
    const uint64_t page = address & ~(kPageSize - 1);
    if (!user_memory::range_ok(page, kPageSize)) return MemoryFault::NotMine;
    if (user_memory::thread_stack_slot_of(page) >= 0) {
        // A demand-grown thread stack: one lock for the check and the commit. The guard zone
        // and unused thread slots are NotMine: the kill report names the overflow.
        InterruptsOffLockGuard guard(process.lock);
        user_memory::StackRegion stack{};
        bool in_guard = false;
        if (!find_stack_region(process, address, stack, in_guard) || in_guard) return MemoryFault::NotMine;
        return commit_page(process, page, mm::kPageWritable);
    }
    if (page >= align_up(process.break_base) && page < user_memory::kHeapLimit) {
        // The brk heap: every page below the break commits at its first touch.
        InterruptsOffLockGuard guard(process.lock);
        if (page >= align_up(process.break_end)) return MemoryFault::NotMine;
        return commit_page(process, page, mm::kPageWritable);
    }
    if (!in_window(page, page + kPageSize)) return MemoryFault::NotMine;
    InterruptsOffLockGuard guard(process.lock);
    const Region* region = process.regions.find(address);
    if (!region) return MemoryFault::Denied;
    const uint32_t prot = region->prot;
    if (prot == SABLE_PROT_NONE || ((access & arch::kPageFaultWrite) && !(prot & SABLE_PROT_WRITE)) ||
        ((access & arch::kPageFaultFetch) && !(prot & SABLE_PROT_EXEC)))
        return MemoryFault::Denied;
    return commit_page(process, page, page_flags_for(prot));
}

// resolve_memory_fault's work, inlined into the ring-3 page-fault hook below: the checks that
// find a main-stack page come first and read nothing of the process.
[[gnu::always_inline]] inline MemoryFault resolve(Process& process, arch::TrapFrame* frame, uint64_t address,
                                                  uint64_t access) {
    const uint64_t page = address & ~(kPageSize - 1);
    if (access & arch::kPageFaultProtection) [[unlikely]] {
        if (!(access & arch::kPageFaultWrite) || !user_memory::range_ok(page, kPageSize)) return MemoryFault::NotMine;
        return resolve_write_to_present_page(process, frame, page);
    }
    // The main stack's region is the same in every process and its guard page lies below it,
    // outside this test: a page inside commits, under the lock the commit needs anyway.
    // Interrupts are off (the fault handler's), so the lock need not save the flag.
    constexpr user_memory::StackRegion kMainStack = user_memory::main_stack_region();
    if (page - kMainStack.bottom < kMainStack.top - kMainStack.bottom) [[likely]] {
        InterruptsOffLockGuard guard(process.lock);
        return commit_page(process, page, mm::kPageWritable);
    }
    return resolve_other_first_touch(process, address, access);
}

}  // namespace

bool find_stack_region(const Process& process, uint64_t address, user_memory::StackRegion& region, bool& in_guard) {
    const int slot = user_memory::thread_stack_slot_of(address);
    if (slot >= 0) {
        if (!((process.stack_slots[slot / 64] >> (slot % 64)) & 1)) return false;
        region = user_memory::thread_stack_region(static_cast<unsigned>(slot));
        in_guard = address < region.bottom;
        return true;
    }
    region = user_memory::main_stack_region();
    if (address >= region.guard && address < region.top) {
        in_guard = address < region.bottom;
        return true;
    }
    return false;
}

MemoryFault resolve_memory_fault(Process& process, arch::TrapFrame* frame, uint64_t address, uint64_t access) {
    return resolve(process, frame, address, access);
}

}  // namespace kernel::process

// The ring-3 page fault, straight from the exception entry (arch.hpp): the memory map first,
// the kill report only for what it does not resolve. One function down to the commit, with no
// array and no local whose address is taken (the kill report's are in on_unresolved_fault),
// hence no stack-protector canary and one set of saved registers.
extern "C" bool user_page_fault_hook(arch::TrapFrame* frame, uint64_t address, uint64_t access) {
    using namespace kernel::process;
    Process* process = current();
    if (!process) [[unlikely]] return false;
    const MemoryFault memory = resolve(*process, frame, address, access);
    if (memory == MemoryFault::Resolved) [[likely]] return true;
    return on_unresolved_page_fault(*process, frame, address, access, memory);
}

namespace kernel::process {

bool fork_memory(Process& parent, Process& child) {
    tasks::MutexGuard map_guard(parent.map_lock);
    if (parent.region_storage) {
        auto* storage = static_cast<Region*>(kmalloc(sizeof(Region) * kRegionCapacity));
        if (!storage) return false;
        child.region_storage = storage;
        child.regions = RegionList(storage, kRegionCapacity);
    }
    user_memory::ShareCounts counts{};
    bool shared;
    {
        // The other threads may change the space meanwhile: share one consistent state.
        IrqLockGuard guard(parent.lock);
        if (parent.region_storage) child.regions.copy_from(parent.regions);
        shared = user_memory::share_all(
            parent.space, child.space,
            [](void* context, uint64_t virt) {
                const Region* region = static_cast<const RegionList*>(context)->find(virt);
                return region && (region->flags & SABLE_MAP_SHARED);
            },
            &parent.regions, counts);
    }
    child.user_pages = counts.pages;
    // The parent's other threads may still hold writable entries for pages now copy-on-write.
    if (counts.write_protected) tlb::shootdown_user_range(parent.space_loaded_on, SABLE_USER_BASE, SABLE_HIGH_USER_TOP);
    return shared;
}

}  // namespace kernel::process

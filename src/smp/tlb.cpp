// TLB shootdown as a remote call (see tlb.hpp).
#include "smp/tlb.hpp"

#include "arch/arch.hpp"
#include "mm/kernel_address_space.hpp"
#include "sched/cpu_local.hpp"
#include "sched/tasks.hpp"
#include "smp/remote_call.hpp"

namespace kernel::tlb {
namespace {
uint64_t g_count = 0;

void invalidate_here(void* virt_addr) { arch::invalidate_tlb_page(reinterpret_cast<uint64_t>(virt_addr)); }
}  // namespace

void init() {
    remote_call::init();
    set_tlb_invalidator(shootdown);
    set_tlb_range_invalidator(shootdown_kernel_ranges);
}

void shootdown(uint64_t virt_addr) {
    arch::invalidate_tlb_page(virt_addr);
    remote_call::on_other_cpus(invalidate_here, reinterpret_cast<void*>(virt_addr));
    __atomic_fetch_add(&g_count, 1, __ATOMIC_RELAXED);
}

namespace {
uint64_t g_user_count = 0;
constexpr uint64_t kPageByPageLimit = 32;  // pages; beyond, reloading CR3 is cheaper

struct Range {
    kstd::CpuMask* loaded_on;
    uint64_t start, end;
};

void invalidate_range_here(void* argument) {
    const auto* range = static_cast<const Range*>(argument);
    // A CPU that switched to another space since stayed in the set lazily: it has nothing of
    // this space to drop, and leaves the set so the next shootdown skips it.
    if (tasks::drop_space_unless_loaded(*range->loaded_on)) return;
    if ((range->end - range->start) / mm::kPageSize > kPageByPageLimit) {
        arch::flush_tlb_non_global();
        return;
    }
    for (uint64_t page = range->start; page < range->end; page += mm::kPageSize) arch::invalidate_tlb_page(page);
}
}  // namespace

struct KernelRanges {
    const VirtualRange* ranges;
    unsigned count;
};

// Kernel pages are global (a CR3 reload keeps them): page by page, whatever the length.
void invalidate_kernel_pages_here(void* argument) {
    const auto* list = static_cast<const KernelRanges*>(argument);
    for (unsigned i = 0; i < list->count; ++i)
        for (uint64_t page = list->ranges[i].start; page < list->ranges[i].end; page += mm::kPageSize)
            arch::invalidate_tlb_page(page);
}

void shootdown_kernel_ranges(const VirtualRange* ranges, unsigned count) {
    KernelRanges list{ranges, count};
    invalidate_kernel_pages_here(&list);
    remote_call::on_other_cpus(invalidate_kernel_pages_here, &list);
    __atomic_fetch_add(&g_count, 1, __ATOMIC_RELAXED);
}

void shootdown_user_range(kstd::CpuMask& loaded_on, uint64_t start, uint64_t end) {
    // The tables changed before this fence; a CPU joining the set after the read below loads
    // them afterwards (tasks.cpp's switch), so it cannot cache the old entries.
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    const kstd::CpuMask targets = loaded_on.load_concurrently();
    const unsigned members = targets.count();
    if (members == 0) return;
    if (members == 1) {
        const bool were_enabled = arch::save_and_disable_interrupts();
        const bool only_here = targets.contains(this_cpu().index);
        arch::restore_interrupts(were_enabled);
        if (only_here) return;  // a single-threaded process, or its threads all on this CPU
    }
    Range range{&loaded_on, start, end};
    remote_call::on_cpus(targets, invalidate_range_here, &range);
    __atomic_fetch_add(&g_user_count, 1, __ATOMIC_RELAXED);
}

uint64_t user_shootdown_count() { return __atomic_load_n(&g_user_count, __ATOMIC_RELAXED); }

uint64_t shootdown_count() { return __atomic_load_n(&g_count, __ATOMIC_RELAXED); }

}  // namespace kernel::tlb

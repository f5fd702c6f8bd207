// sable.test=mm: the physical allocator, the kernel page tables, address spaces and the heap,
// checked on the real machine (run by ctest at -m 64M, 512M and 4G).
#include <arch/boot_layout.hpp>

#include "kernel/boot_context.hpp"
#include "mm/kernel_address_space.hpp"
#include "mm/kernel_heap.hpp"
#include "mm/kernel_stacks.hpp"
#include "mm/physical_memory.hpp"
#include "kernel/selftest/selftest.hpp"

namespace {

using kernel::physical_memory::count;
using mm::PageState;
using selftest::Context;

constexpr uint64_t kPatternKey = 0x5AB1E5AB1E000000ull;

uint64_t managed_frames() {
    uint64_t total = 0;
    for (unsigned s = 0; s < mm::kPageStateCount; ++s)
        if (static_cast<PageState>(s) != PageState::Absent) total += count(static_cast<PageState>(s));
    return total;
}

// Whole pages inside Available regions of the loader's memory map, computed here independently
// of the allocator's own range arithmetic.
uint64_t available_pages_in_memory_map() {
    const boot::BootInfo& info = kernel::g_boot.info;
    uint64_t pages = 0;
    for (size_t i = 0; i < info.memory_map.count(); ++i) {
        const boot::MemoryRegion region = info.memory_map[i];
        if (region.type != boot::MemoryType::Available) continue;
        uint64_t first = (region.base + mm::kPageSize - 1) / mm::kPageSize;
        uint64_t end = (region.base + region.length) / mm::kPageSize;
        if (end > kernel::physical_memory::frame_count()) end = kernel::physical_memory::frame_count();
        if (end > first) pages += end - first;
    }
    return pages;
}

void frames_suite(Context& t) {
    t.expect(kernel::physical_memory::check_consistency(), "allocator_consistent", "free list and states disagree");
    const uint64_t expected = available_pages_in_memory_map();
    t.expect(managed_frames() == expected, "frames_match_memory_map", "allocator manages %lu frames, map has %lu",
             managed_frames(), expected);

    // Take every free frame. Each one carries a pattern written through the direct map and read
    // back through the identity map, and links to the previous frame, so no side table is needed.
    const uint64_t baseline_free = count(PageState::Free);
    const uint64_t baseline_user = count(PageState::User);
    uint64_t taken = 0, bad_pattern = 0, last = 0;
    bool have_last = false;
    for (;;) {
        auto frame = kernel::physical_memory::allocate(PageState::User);
        if (!frame) {
            t.expect(frame.error() == mm::AllocError::OutOfMemory, "exhaustion_is_an_error",
                     "allocate failed with %s", mm::describe(frame.error()));
            break;
        }
        const uint64_t phys = frame.value().address();
        auto* direct = kernel::phys_to_virt<volatile uint64_t>(phys);
        direct[0] = have_last ? last : ~0ull;
        direct[1] = phys ^ kPatternKey;
        direct[511] = ~phys;
        const auto* identity = reinterpret_cast<volatile uint64_t*>(phys);
        if (identity[1] != (phys ^ kPatternKey) || identity[511] != ~phys) ++bad_pattern;
        last = phys;
        have_last = true;
        ++taken;
    }
    t.expect(taken == baseline_free, "allocate_every_free_frame", "took %lu frames, %lu were free", taken,
             baseline_free);
    t.expect(bad_pattern == 0, "pattern_direct_and_identity_map", "%lu frames read back wrong", bad_pattern);
    t.expect(!kernel::physical_memory::allocate_run(2, PageState::Stack), "run_fails_when_full",
             "allocate_run succeeded with no free frame");

    uint64_t freed = 0, corrupted = 0;
    while (have_last) {
        auto* direct = kernel::phys_to_virt<volatile uint64_t>(last);
        if (direct[1] != (last ^ kPatternKey)) ++corrupted;
        const uint64_t previous = direct[0];
        kernel::physical_memory::free(mm::Pfn::from_address(last));
        ++freed;
        have_last = previous != ~0ull;
        last = previous;
    }
    t.expect(freed == taken && corrupted == 0, "patterns_survive_until_free", "%lu of %lu frames corrupted", corrupted,
             freed);
    t.expect(count(PageState::Free) == baseline_free && count(PageState::User) == baseline_user,
             "counts_back_to_baseline", "free %lu, baseline %lu", count(PageState::Free), baseline_free);

    auto frame = kernel::physical_memory::allocate(PageState::Kernel);
    kernel::physical_memory::free(frame.value());
    auto twice = kernel::physical_memory::free(frame.value());
    t.expect(!twice && twice.error() == mm::FreeError::DoubleFree, "double_free_detected", "second free accepted");
    auto firmware = kernel::physical_memory::free(mm::Pfn{0});
    t.expect(!firmware && firmware.error() == mm::FreeError::NotManaged, "free_of_firmware_frame_refused",
             "freeing frame 0 was accepted");

    const uint64_t stack_frames_before = count(PageState::Stack);
    auto run = kernel::physical_memory::allocate_run(4, PageState::Stack, 4);
    t.expect(run && run.value().value % 4 == 0 && count(PageState::Stack) == stack_frames_before + 4,
             "contiguous_aligned_run", "no aligned run of 4 frames");
    if (run) kernel::physical_memory::free_run(run.value(), 4);
    t.expect(kernel::physical_memory::check_consistency(), "allocator_consistent_after", "free list and states disagree");
}

void page_tables_suite(Context& t) {
    const mm::AddressSpace& space = kernel::kernel_address_space();
    uint64_t user_leaves = 0, writable_text = 0, executable_data = 0, leaves = 0;
    const uint64_t text_begin = reinterpret_cast<uint64_t>(__kernel_start);
    const uint64_t text_end = reinterpret_cast<uint64_t>(__text_end);
    space.for_each_leaf([&](uint64_t virt, uint64_t entry, unsigned) {
        ++leaves;
        if (entry & arch::pte::kUser) ++user_leaves;
        const bool in_text = virt >= text_begin && virt < text_end;
        if (in_text && (entry & arch::pte::kWritable)) ++writable_text;
        if (!in_text && !(entry & arch::pte::kNoExecute)) ++executable_data;
    });
    t.expect(leaves > 0 && user_leaves == 0, "kernel_mappings_supervisor_only", "%lu of %lu leaves user-accessible",
             user_leaves, leaves);
    t.expect(writable_text == 0, "kernel_text_read_only", "%lu text pages writable", writable_text);
    t.expect(!kernel::kernel_page_table_memory().no_execute_supported() || executable_data == 0,
             "everything_but_text_no_execute", "%lu non-text leaves executable", executable_data);

    auto direct = space.translate(kernel::kDirectMapBase + 0x200000);
    t.expect(direct && direct.value().phys_addr == 0x200000, "direct_map_at_0x4000000000", "direct map wrong");
    auto rodata = space.translate(text_end);
    t.expect(rodata && !(rodata.value().flags & mm::kPageWritable) && !(rodata.value().flags & mm::kPageExecutable),
             "rodata_read_only_no_execute", "rodata page has the wrong rights");

    // A fresh address space gives back every page-table page it took.
    const uint64_t tables_before = count(PageState::PageTable);
    auto created = mm::AddressSpace::create(kernel::kernel_page_table_memory());
    bool ok = created.ok();
    if (ok) {
        mm::AddressSpace scratch = created.value();
        auto frame = kernel::physical_memory::allocate(PageState::User);
        ok = frame.ok() && scratch.map(kstd::VirtAddr{0x08000000}, kstd::PhysAddr{frame.value().address()}, mm::kPageSize,
                                       mm::kPageUser | mm::kPageWritable).ok();
        auto found = scratch.translate(0x08000000);
        ok = ok && found && found.value().phys_addr == frame.value().address() && (found.value().flags & mm::kPageUser);
        ok = ok && scratch.unmap(0x08000000, mm::kPageSize).ok() && !scratch.translate(0x08000000);
        scratch.destroy();
        if (frame) kernel::physical_memory::free(frame.value());
    }
    t.expect(ok, "address_space_map_translate_unmap", "scratch address space misbehaved");
    t.expect(count(PageState::PageTable) == tables_before, "address_space_destroy_frees_tables",
             "%lu page-table frames leaked", (count(PageState::PageTable) - tables_before));
}

void heap_suite(Context& t) {
    const mm::HeapStats before = kernel::heap_stats();
    const uint64_t heap_frames_before = count(PageState::Heap);
    constexpr size_t kSizes[] = {1, 16, 17, 100, 512, 2048, 2049, 10000, 100000};
    void* blocks[sizeof(kSizes) / sizeof(kSizes[0])];
    bool ok = true;
    for (size_t i = 0; i < sizeof(kSizes) / sizeof(kSizes[0]); ++i) {
        blocks[i] = kernel::kmalloc(kSizes[i]);
        ok &= blocks[i] != nullptr && reinterpret_cast<uintptr_t>(blocks[i]) % 16 == 0;
        if (blocks[i]) __builtin_memset(blocks[i], static_cast<int>(i + 1), kSizes[i]);
    }
    for (size_t i = 0; i < sizeof(kSizes) / sizeof(kSizes[0]); ++i) {
        const auto* bytes = static_cast<const uint8_t*>(blocks[i]);
        ok &= bytes && bytes[0] == i + 1 && bytes[kSizes[i] - 1] == i + 1;
    }
    t.expect(ok, "kmalloc_sizes_aligned_and_distinct", "a block was null, misaligned or overwritten");
    for (void* block : blocks) kernel::kfree(block);

    struct Node {
        Node* next;
        uint64_t payload[5];
    };
    Node* list = nullptr;
    for (int i = 0; i < 1000; ++i) {
        Node* node = new (kstd::nothrow) Node{list, {}};
        if (!node) break;
        list = node;
    }
    int nodes = 0;
    while (list) {
        Node* next = list->next;
        delete list;
        list = next;
        ++nodes;
    }
    t.expect(nodes == 1000, "operator_new_delete", "only %d of 1000 nodes allocated", nodes);

    void* block = kernel::kmalloc(64);
    kernel::kfree(block);
    mm::HeapStats after_free = kernel::heap_stats();
    kernel::kfree(block);  // logged and refused
    const mm::HeapStats after = kernel::heap_stats();
    t.expect(after.objects_in_use[2] == after_free.objects_in_use[2], "double_kfree_refused",
             "a double free changed the heap");
    uint64_t live = after.large_allocations - before.large_allocations;
    for (size_t c = 0; c < mm::Heap::kClassCount; ++c) live += after.objects_in_use[c] - before.objects_in_use[c];
    t.expect(live == 0, "heap_balanced", "%lu objects still live", live);
    // Each class may keep one empty slab; nothing else may stay.
    t.expect(count(PageState::Heap) <= heap_frames_before + mm::Heap::kClassCount * mm::Heap::kBlockPages,
             "heap_returns_pages", "heap holds %lu frames", count(PageState::Heap));
}

// The stack area's page tables stay at their high-water mark (kernel_stacks.hpp): a burst of
// stacks past it adds tables that freeing the stacks keeps, the count says so exactly, and the
// next burst of the same size reuses them.
void kernel_stack_tables_suite(Context& t) {
    constexpr unsigned kMaxBurst = 256;  // at boot a few dozen stacks are in use
    auto* stacks = static_cast<kernel::KernelStack*>(kernel::kmalloc(sizeof(kernel::KernelStack) * kMaxBurst));
    if (!stacks) {
        t.expect(false, "kernel_stack_tables_kept", "no heap for the test");
        return;
    }
    const uint64_t tables_before = count(PageState::PageTable), stack_frames_before = count(PageState::Stack);
    const uint64_t kept_before = kernel::kernel_stack_page_tables();
    uint64_t kept_at_peak = 0, tables_at_peak = 0;
    bool reused = true;
    unsigned burst = 0;
    for (unsigned round = 0; round < 2; ++round) {
        unsigned made = 0;
        // First round: until a new table appears; second: the same number again.
        while (made < kMaxBurst && (round == 0 ? kernel::kernel_stack_page_tables() == kept_before : made < burst)) {
            auto stack = kernel::allocate_kernel_stack(4);
            if (!stack) break;
            stacks[made++] = stack.value();
        }
        if (round == 0) {
            burst = made;
            kept_at_peak = kernel::kernel_stack_page_tables();
            tables_at_peak = count(PageState::PageTable);
        } else {
            reused = made == burst && count(PageState::PageTable) == tables_at_peak &&
                     kernel::kernel_stack_page_tables() == kept_at_peak;
        }
        for (unsigned i = 0; i < made; ++i) kernel::free_kernel_stack(stacks[i]);
    }
    kernel::kfree(stacks);
    const uint64_t grown = kept_at_peak - kept_before;
    t.expect(grown >= 1 && tables_at_peak - tables_before == grown, "kernel_stack_tables_counted",
             "%u stacks: %lu tables counted, %lu page-table frames added", burst, grown, tables_at_peak - tables_before);
    t.expect(count(PageState::PageTable) == tables_before + grown && count(PageState::Stack) == stack_frames_before &&
                 kept_at_peak <= kernel::kKernelStackPageTablesMax,
             "kernel_stack_tables_kept", "page tables %lu -> %lu (expected +%lu), stack frames %lu -> %lu",
             tables_before, count(PageState::PageTable), grown, stack_frames_before, count(PageState::Stack));
    t.expect(reused, "kernel_stack_tables_reused", "a second burst of %u stacks added page tables", burst);
}

}  // namespace

namespace selftest {
void mm_suite(Context& t) {
    frames_suite(t);
    page_tables_suite(t);
    heap_suite(t);
    kernel_stack_tables_suite(t);
}
}  // namespace selftest

// Kernel heap glue (see kernel_heap.hpp).
#include "mm/kernel_heap.hpp"

#include "lib/console.hpp"
#include "mm/kernel_address_space.hpp"
#include "lib/panic.hpp"
#include "mm/physical_memory.hpp"
#include "lib/spinlock.hpp"

namespace kernel {
namespace {

class FramePageSource final : public mm::PageSource {
public:
    void* allocate_pages(size_t count, size_t align_pages) override {
        auto first = physical_memory::allocate_run(count, mm::PageState::Heap, align_pages);
        return first ? phys_to_virt(first.value().address()) : nullptr;
    }
    void free_pages(void* first, size_t count) override {
        physical_memory::free_run(mm::Pfn::from_address(reinterpret_cast<uint64_t>(first) - kDirectMapBase), count);
    }
};

FramePageSource g_page_source;
mm::Heap g_heap(g_page_source);
IrqSpinLock g_heap_lock{LockLevel::KernelHeap};

}  // namespace

void* kmalloc(size_t size_bytes) {
    IrqLockGuard guard(g_heap_lock);
    return g_heap.allocate(size_bytes);
}

void kfree(void* pointer) {
    mm::HeapFreeResult result;
    {
        IrqLockGuard guard(g_heap_lock);
        result = g_heap.free(pointer);
    }
    if (result == mm::HeapFreeResult::DoubleFree || result == mm::HeapFreeResult::BadPointer)
        klog("heap: kfree(%p) refused: %s", pointer, mm::describe(result));
}

mm::HeapStats heap_stats() {
    IrqLockGuard guard(g_heap_lock);
    return g_heap.stats();
}

}  // namespace kernel

void* operator new(size_t size_bytes) {
    void* pointer = kernel::kmalloc(size_bytes);
    if (!pointer) panic("operator new: out of memory for %zu bytes", size_bytes);
    return pointer;
}
void* operator new[](size_t size_bytes) { return operator new(size_bytes); }
void* operator new(size_t size_bytes, const kstd::NoThrow&) noexcept { return kernel::kmalloc(size_bytes); }
void* operator new[](size_t size_bytes, const kstd::NoThrow&) noexcept { return kernel::kmalloc(size_bytes); }
void operator delete(void* pointer) noexcept { kernel::kfree(pointer); }
void operator delete[](void* pointer) noexcept { kernel::kfree(pointer); }
void operator delete(void* pointer, size_t) noexcept { kernel::kfree(pointer); }
void operator delete[](void* pointer, size_t) noexcept { kernel::kfree(pointer); }

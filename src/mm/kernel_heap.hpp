// kmalloc/kfree and operator new/delete for kernel objects, on mm::Heap with pages from the
// physical allocator (reached through the direct map), behind an IRQ-safe lock.
#pragma once

#include <stddef.h>

#include "mm/heap.hpp"

namespace kernel {

void* kmalloc(size_t size_bytes);      // nullptr when memory runs out
void kfree(void* pointer);             // nullptr is fine; bad and double frees are logged
mm::HeapStats heap_stats();

}  // namespace kernel

namespace kstd {
struct NoThrow {};
inline constexpr NoThrow nothrow{};
}  // namespace kstd

// `new (kstd::nothrow) T` returns nullptr on exhaustion; plain `new` panics (kernel code that can
// recover from running out uses the nothrow form or kmalloc).
void* operator new(size_t size_bytes, const kstd::NoThrow&) noexcept;
void* operator new[](size_t size_bytes, const kstd::NoThrow&) noexcept;

// Kernel glue around mm::PageFrameAllocator (see physical_memory.hpp).
#include "mm/physical_memory.hpp"

#include "arch/arch.hpp"
#include "lib/console.hpp"
#include "lib/cpu_mask.hpp"
#include "mm/kernel_address_space.hpp"
#include "lib/panic.hpp"
#include "lib/spinlock.hpp"

namespace kernel::physical_memory {
namespace {

using mm::PageState;

mm::PageFrameAllocator g_frames;
IrqSpinLock g_lock{LockLevel::PhysicalMemory};
uint64_t g_metadata_phys = 0;
// One per CPU index: single frames are taken and given back there without g_lock.
mm::FrameCache g_caches[kstd::kMaxCpus];

// The running CPU's cache; interrupts must be off so the task stays on this CPU while it uses it.
// The index is the per-CPU block's 32-bit word (sched's CpuLocal::index), in place from the first
// line of kernel_main.
mm::FrameCache& this_cpu_cache() {
    const auto index = static_cast<uint32_t>(reinterpret_cast<uintptr_t>(arch::cpu_local_word<PERCPU_CPU_INDEX>()));
    return g_caches[index];
}

// The boot page tables identity-map 0..4 GiB: the metadata must sit there to be reachable
// before the kernel's own tables exist.
constexpr uint64_t kBootMappedLimit = 4ull << 30;
constexpr uint64_t kFirmwareLowLimit = 1ull << 20;

bool overlaps(uint64_t a_base, uint64_t a_end, uint64_t b_base, uint64_t b_end) {
    return a_base < b_end && b_base < a_end;
}

// First page-aligned spot of `bytes` in an Available region, below 4 GiB, above 1 MiB, clear
// of the kernel image, the boot information and every module.
uint64_t find_metadata_home(const boot::BootInfo& info, uint64_t bytes) {
    const uint64_t kernel_base = reinterpret_cast<uint64_t>(__kernel_start);
    const uint64_t kernel_end = reinterpret_cast<uint64_t>(__kernel_end);
    const uint64_t info_base = reinterpret_cast<uint64_t>(info.raw.data());
    const uint64_t info_end = info_base + info.raw.size();
    for (size_t i = 0; i < info.memory_map.count(); ++i) {
        const boot::MemoryRegion region = info.memory_map[i];
        if (region.type != boot::MemoryType::Available) continue;
        uint64_t candidate = region.base < kFirmwareLowLimit ? kFirmwareLowLimit : region.base;
        candidate = (candidate + mm::kPageSize - 1) & ~(mm::kPageSize - 1);
        const uint64_t region_end = region.base + region.length;
        // Step past each obstacle until the candidate is clear of all of them.
        for (bool moved = true; moved;) {
            moved = false;
            auto avoid = [&](uint64_t base, uint64_t end) {
                if (overlaps(candidate, candidate + bytes, base, end)) {
                    candidate = (end + mm::kPageSize - 1) & ~(mm::kPageSize - 1);
                    moved = true;
                }
            };
            avoid(kernel_base, kernel_end);
            avoid(info_base, info_end);
            for (size_t m = 0; m < info.module_count; ++m) avoid(info.module(m).start, info.module(m).end);
        }
        if (candidate + bytes <= region_end && candidate + bytes <= kBootMappedLimit) return candidate;
    }
    return 0;
}

}  // namespace

void init(const boot::BootInfo& info) {
    uint64_t top = 0;
    for (size_t i = 0; i < info.memory_map.count(); ++i) {
        const boot::MemoryRegion region = info.memory_map[i];
        if (region.type == boot::MemoryType::Available && region.base + region.length > top)
            top = region.base + region.length;
    }
    uint64_t frames = top >> mm::kPageShift;
    if (frames > mm::PageFrameAllocator::kMaxFrames) frames = mm::PageFrameAllocator::kMaxFrames;

    const uint64_t metadata_bytes = mm::PageFrameAllocator::metadata_bytes(frames);
    const uint64_t metadata = find_metadata_home(info, metadata_bytes);
    if (metadata == 0) panic("mm: no room below 4 GiB for %lu bytes of frame metadata", metadata_bytes);
    g_frames.init(frames, {reinterpret_cast<uint8_t*>(metadata), metadata_bytes});
    g_frames.attach_caches(g_caches, kstd::kMaxCpus);
    g_metadata_phys = metadata;

    // Fresh frames are handed out lowest first, so the kernel's page tables, built next through
    // the boot map (0..4 GiB), land low.
    for (size_t i = info.memory_map.count(); i-- > 0;) {
        const boot::MemoryRegion region = info.memory_map[i];
        if (region.type == boot::MemoryType::Available) g_frames.add_free_range({region.base, region.length});
    }
    // Real-mode IVT, BIOS data area and EBDA live below 1 MiB; the SMP trampoline will too.
    g_frames.reserve_range({0, kFirmwareLowLimit}, PageState::Firmware);
    const uint64_t kernel_base = reinterpret_cast<uint64_t>(__kernel_start);
    g_frames.reserve_range({kernel_base, reinterpret_cast<uint64_t>(__kernel_end) - kernel_base},
                           PageState::Kernel);
    g_frames.reserve_range({metadata, metadata_bytes}, PageState::Kernel);
    g_frames.reserve_range({reinterpret_cast<uint64_t>(info.raw.data()), info.raw.size()}, PageState::Firmware);
    for (size_t m = 0; m < info.module_count; ++m) {
        const boot::Module module = info.module(m);
        g_frames.reserve_range({module.start, module.end - module.start}, PageState::Firmware);
    }
    klog("mm: %lu frames tracked, metadata %lu KiB at 0x%lx", frames, metadata_bytes >> 10, metadata);
}

void use_direct_map() {
    IrqLockGuard guard(g_lock);
    g_frames.relocate_metadata(phys_to_virt<uint8_t>(g_metadata_phys));
}

namespace {

// The cache could not serve the call lock-free: the same call under g_lock, which also hands
// interrupts back. Out of line, so the common path stays a few instructions and inlines.
[[gnu::noinline]] kstd::Result<mm::Pfn, mm::AllocError> allocate_locked(mm::FrameCache& cache, PageState purpose,
                                                                         bool were_enabled) {
    kstd::Result<mm::Pfn, mm::AllocError> result = [&] {
        IrqLockGuard guard(g_lock);
        return g_frames.allocate_cached_locked(cache, purpose);
    }();
    arch::restore_interrupts(were_enabled);
    return result;
}

[[gnu::noinline]] kstd::Result<bool, mm::FreeError> free_locked(mm::FrameCache& cache, mm::Pfn frame,
                                                                 bool were_enabled) {
    kstd::Result<bool, mm::FreeError> result = [&] {
        IrqLockGuard guard(g_lock);
        return g_frames.free_cached_locked(cache, frame);
    }();
    arch::restore_interrupts(were_enabled);
    if (!result) klog("mm: refused to free frame 0x%lx: %s", frame.address(), mm::describe(result.error()));
    return result;
}

}  // namespace

kstd::Result<mm::Pfn, mm::AllocError> allocate(PageState purpose) {
    const bool were_enabled = arch::save_and_disable_interrupts();
    mm::FrameCache& cache = this_cpu_cache();
    mm::Pfn frame{0};
    if (!g_frames.try_allocate_cached(cache, purpose, frame)) [[unlikely]]
        return allocate_locked(cache, purpose, were_enabled);
    arch::restore_interrupts(were_enabled);
    return frame;
}

// What allocate() does once it has turned interrupts off, for a caller that runs with them off
// already: the flag is neither read nor written.
kstd::Result<mm::Pfn, mm::AllocError> allocate_interrupts_off(PageState purpose) {
    mm::FrameCache& cache = this_cpu_cache();
    mm::Pfn frame{0};
    if (!g_frames.try_allocate_cached(cache, purpose, frame)) [[unlikely]]
        return allocate_locked(cache, purpose, false);
    return frame;
}

kstd::Result<mm::Pfn, mm::AllocError> allocate_run(uint64_t count, PageState purpose, uint64_t align_frames) {
    IrqLockGuard guard(g_lock);
    return g_frames.allocate_run(count, purpose, align_frames);
}

// Into this CPU's cache; under g_lock only when the cache cannot take it lock-free (full, or a
// frame that needs the checks and their error).
kstd::Result<bool, mm::FreeError> free(mm::Pfn frame) {
    const bool were_enabled = arch::save_and_disable_interrupts();
    mm::FrameCache& cache = this_cpu_cache();
    if (!g_frames.try_free_cached(cache, frame)) [[unlikely]]
        return free_locked(cache, frame, were_enabled);
    arch::restore_interrupts(were_enabled);
    return true;
}

kstd::Result<bool, mm::FreeError> free_run(mm::Pfn first, uint64_t count) {
    kstd::Result<bool, mm::FreeError> result = [&] {
        IrqLockGuard guard(g_lock);
        return g_frames.free_run(first, count);
    }();
    if (!result) {
        klog("mm: refused to free %lu frame(s) at 0x%lx: %s", count, first.address(), mm::describe(result.error()));
    }
    return result;
}

kstd::Result<uint32_t, mm::FreeError> share(mm::Pfn frame) {
    IrqLockGuard guard(g_lock);
    return g_frames.share(frame);
}

kstd::Result<uint32_t, mm::FreeError> release(mm::Pfn frame) {
    // A frame with one owner (no fork relative shares it) goes to the cache like a free; a shared
    // one, or an error, takes the lock, which keeps the owner counts.
    const bool were_enabled = arch::save_and_disable_interrupts();
    if (g_frames.try_free_cached(this_cpu_cache(), frame)) {
        arch::restore_interrupts(were_enabled);
        return 0u;
    }
    kstd::Result<uint32_t, mm::FreeError> result = [&] {
        IrqLockGuard guard(g_lock);
        return g_frames.release(frame);
    }();
    arch::restore_interrupts(were_enabled);
    if (!result) klog("mm: refused to release frame 0x%lx: %s", frame.address(), mm::describe(result.error()));
    return result;
}

uint32_t owners(mm::Pfn frame) {
    IrqLockGuard guard(g_lock);
    return g_frames.owners(frame);
}

uint64_t shared_count() {
    IrqLockGuard guard(g_lock);
    return g_frames.shared_count();
}

uint64_t count(PageState state) {
    IrqLockGuard guard(g_lock);
    return g_frames.count(state);
}

uint64_t frame_count() { return g_frames.frame_count(); }

bool check_consistency() {
    // Another CPU part-way through a cached allocate or free (which takes no lock) can show a
    // frame or a count in passing: a disagreement that a later look does not repeat is that,
    // corruption repeats.
    constexpr int kLooks = 8;
    for (int look = 0; look < kLooks; ++look) {
        {
            IrqLockGuard guard(g_lock);
            if (g_frames.check_consistency()) return true;
        }
        for (int spin = 0; spin < 1000; ++spin) arch::cpu_relax();
    }
    return false;
}

PageState state(mm::Pfn frame) {
    IrqLockGuard guard(g_lock);
    return g_frames.state(frame);
}

void print_meminfo() {
    uint64_t counts[mm::kPageStateCount];
    {
        IrqLockGuard guard(g_lock);
        for (unsigned s = 0; s < mm::kPageStateCount; ++s) counts[s] = g_frames.count(static_cast<PageState>(s));
    }
    // Order fixed for the tools that read it (docs/design.md): free, kernel, stack, heap first.
    constexpr PageState kOrder[] = {PageState::Free,      PageState::Kernel, PageState::Stack,
                                    PageState::Heap,      PageState::PageTable, PageState::User,
                                    PageState::Firmware,  PageState::Absent};
    console::Hold one_line;
    console::print("mm: frames");
    for (PageState s : kOrder) console::print(" %s=%lu", mm::page_state_name(s), (counts[static_cast<unsigned>(s)]));
    const uint64_t usable = counts[0] + counts[1] + counts[2] + counts[3] + counts[4] + counts[5];
    console::print(" usable=%luMiB free=%luMiB\n", usable >> 8, counts[0] >> 8);
}

}  // namespace kernel::physical_memory

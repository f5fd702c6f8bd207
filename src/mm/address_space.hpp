// Portable address-space API: map, unmap, protect, translate and destroy over 4-level page
// tables. The arch layer (<arch/pte.hpp>) encodes entries; the owner of the address space supplies
// page-table frames, a way to reach them, and the single TLB-invalidation entry point
// (PageTableMemory), so host tests run this code over a fake physical-memory arena.
#pragma once

#include <stdint.h>

#include "arch/arch.hpp"  // arch::pte, the entry encoding (the contract's data side)
#include "lib/addresses.hpp"

#include "lib/result.hpp"
#include "mm/page_frame_allocator.hpp"

namespace mm {

// Permissions of a mapping. Absent bits mean: read-only, supervisor-only, not executable.
enum PageFlags : uint32_t {
    kPageWritable = 1u << 0,
    kPageUser = 1u << 1,
    kPageExecutable = 1u << 2,
    kPageGlobal = 1u << 3,
    kPageUncached = 1u << 4,  // device memory
    // Writes gather in the CPU's write-combining buffers and reach memory in bursts, reads are
    // uncached: for framebuffers, which are written in long runs and never read back.
    kPageWriteCombining = 1u << 5,
    kPageCopyOnWrite = 1u << 6,  // read-only in the tables; a write fault copies (user pages)
};

enum class PageSize : unsigned { Size4K = 0, Size2M = 1, Size1G = 2, Largest = 3 };

enum class MapError { OutOfMemory, AlreadyMapped, NotMapped, Misaligned, BadRange };
const char* describe(MapError error);

class PageTableMemory {
public:
    virtual kstd::Result<Pfn, AllocError> allocate_table() = 0;  // a frame for one table
    virtual void free_table(Pfn table) = 0;
    virtual uint64_t* table_entries(Pfn table) = 0;  // the table's 512 entries, readable and writable
    virtual void invalidate(uint64_t virt_addr) = 0;  // drop one stale TLB entry (all CPUs later)
    virtual bool no_execute_supported() const = 0;
    virtual bool huge_1g_supported() const = 0;

    // What the walks use: a memory that reaches every table at its physical address plus one
    // fixed offset (the kernel's direct map) says so with set_linear_offset, and a walk then
    // computes each level's pointer itself instead of making a virtual call per level.
    uint64_t* entries_of(Pfn table) {
        if (m_linear) return reinterpret_cast<uint64_t*>(m_linear_offset + table.address());
        return table_entries(table);
    }
    bool linear() const { return m_linear; }
    uintptr_t linear_offset() const { return m_linear_offset; }
    // What a non-executable leaf carries: the no-execute bit where the CPU has it, else nothing
    // (bit 63 is reserved without EFER.NXE). Read from a copy once the memory has fixed it
    // (fix_no_execute), so a map costs no virtual call for it.
    uint64_t no_execute_bit() const {
        if (m_no_execute_fixed) return m_no_execute_bit;
        return no_execute_supported() ? arch::pte::kNoExecute : 0;
    }

protected:
    ~PageTableMemory() = default;
    // From now on table_entries(t) is (uint64_t*)(offset + t.address()) for every table t.
    void set_linear_offset(uintptr_t offset) {
        m_linear_offset = offset;
        m_linear = true;
    }
    // From now on no_execute_supported() answers `supported`: called once, before any CPU maps.
    void fix_no_execute(bool supported) {
        m_no_execute_bit = supported ? arch::pte::kNoExecute : 0;
        m_no_execute_fixed = true;
    }

private:
    uintptr_t m_linear_offset = 0;
    bool m_linear = false;
    uint64_t m_no_execute_bit = 0;
    bool m_no_execute_fixed = false;
};

struct Translation {
    uint64_t phys_addr;
    uint32_t flags;  // PageFlags
    PageSize page_size;
};

class AddressSpace {
public:
    AddressSpace() = default;
    // Allocates an empty top-level table.
    static kstd::Result<AddressSpace, MapError> create(PageTableMemory& memory);

    Pfn root() const { return m_root; }
    bool valid() const { return m_memory != nullptr; }

    // Maps [virt, virt+size) to [phys, phys+size). Addresses and size must be 4 KiB aligned.
    // page_size Largest picks, piece by piece, the biggest page both addresses' alignment and
    // the remaining size allow. Fails with AlreadyMapped if any page is mapped, and then maps
    // nothing. Page-table pages it needed stay (they are freed by destroy()).
    kstd::Result<bool, MapError> map(kstd::VirtAddr virt, kstd::PhysAddr phys, uint64_t size, uint32_t flags,
                                     PageSize page_size = PageSize::Size4K);
    // map() of one 4 KiB page (map() itself comes here for a one-page range): one walk down,
    // creating the tables it lacks, and AlreadyMapped, with nothing changed, if a page or a huge
    // page covers `virt`. The path of every demand-zero, stack-growth and copy-on-write fault.
    kstd::Result<bool, MapError> map_page(kstd::VirtAddr virt, kstd::PhysAddr phys, uint32_t flags);
    // Removes every mapping in the range (a huge page must be covered whole, else Misaligned).
    kstd::Result<bool, MapError> unmap(uint64_t virt, uint64_t size);
    // The same, but stale TLB entries are the caller's to drop (one flush for a whole range, and
    // after any lock it holds: a shootdown waits for every other CPU).
    kstd::Result<bool, MapError> unmap_leaving_tlb(uint64_t virt, uint64_t size);
    // Changes flags of every mapped page in the range; unmapped pages are an error.
    kstd::Result<bool, MapError> protect(uint64_t virt, uint64_t size, uint32_t flags);
    kstd::Result<Translation, MapError> translate(uint64_t virt) const;
    // The first address at or above `virt` that may be mapped: `virt` itself if it is, else
    // the end of the empty entry (at whatever level) that covers it, so a walk over a sparse
    // range skips whole empty tables. 0 if that end wraps past the top.
    uint64_t skip_unmapped(uint64_t virt) const;

    // Shares top-level entries [first, first+count) with `other` (the kernel half of a process):
    // destroy() leaves shared subtrees alone.
    void share_top_level(const AddressSpace& other, unsigned first, unsigned count);
    // Frees every page-table page this space owns (never the mapped frames), then the root.
    void destroy();

    // Calls visit(virt, entry, level) for every present leaf entry (tests, audits).
    template <typename Visitor>
    void for_each_leaf(Visitor&& visit) const;

private:
    uint64_t* entries(Pfn table) const { return m_memory->entries_of(table); }
    uint64_t encode_leaf(uint64_t phys, uint32_t flags, unsigned level) const;
    uint32_t decode_flags(uint64_t entry, unsigned level) const;
    // Walks to the table at `level` covering virt, creating tables on the way when asked.
    kstd::Result<uint64_t*, MapError> walk(uint64_t virt, unsigned level, bool create, bool user);
    // Points an empty `entry` at a new, zeroed table (walk and map_page share it).
    kstd::Result<bool, MapError> add_table(uint64_t& entry, bool user);
    kstd::Result<bool, MapError> remove(uint64_t virt, uint64_t size, bool invalidate);
    // The level whose entry for `virt` is a present leaf (mapped) or absent (not mapped): lets
    // range operations skip a whole empty table in one step instead of 512 lookups.
    struct Probe {
        bool mapped;
        unsigned level;
        const uint64_t* entry;  // where the walk stopped: the leaf, or the empty entry
    };
    Probe probe(uint64_t virt) const;
    void destroy_table(Pfn table, unsigned level);
    template <typename Visitor>
    void visit_table(Pfn table, unsigned level, uint64_t base, Visitor& visit) const;

    PageTableMemory* m_memory = nullptr;
    Pfn m_root{0};
    uint64_t m_shared_top[8] = {};  // bitmap of borrowed top-level entries (512 bits)
};

template <typename Visitor>
void AddressSpace::visit_table(Pfn table, unsigned level, uint64_t base, Visitor& visit) const {
    const uint64_t* e = entries(table);
    for (unsigned i = 0; i < arch::pte::kEntriesPerTable; ++i) {
        if (!arch::pte::is_present(e[i])) continue;
        const uint64_t virt = arch::pte::canonical(base + (uint64_t{i} << arch::pte::level_shift(level)));
        if (arch::pte::is_leaf(e[i], level)) visit(virt, e[i], level);
        else visit_table(Pfn::from_address(arch::pte::next_table(e[i])), level - 1, virt, visit);
    }
}

template <typename Visitor>
void AddressSpace::for_each_leaf(Visitor&& visit) const {
    if (valid()) visit_table(m_root, arch::pte::kLevels - 1, 0, visit);
}

}  // namespace mm

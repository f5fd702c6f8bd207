// Checks mm::Heap on pages from aligned_alloc: size classes, alignment and disjointness of
// blocks, slab growth and return, page-backed large blocks, exhaustion, every free error, and a
// long random allocate/free sequence after which every object and page must be accounted for.
#include "mm/heap.hpp"

#include <gtest/gtest.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <algorithm>
#include <iterator>
#include <map>
#include <optional>
#include <ostream>
#include <random>
#include <utility>
#include <vector>

namespace mm {

// GoogleTest prints these in failure messages.
void PrintTo(const HeapFreeResult& result, std::ostream* out) { *out << describe(result); }

}  // namespace mm

namespace {

using mm::Heap;
using mm::HeapFreeResult;

constexpr size_t kPage = Heap::kPageBytes;
constexpr size_t kBlock = Heap::kBlockBytes;
constexpr size_t kHeader = 256;  // header room at the start of every block (heap.cpp)
// No sane request from the heap is bigger than this; a bigger one means its size arithmetic broke.
constexpr size_t kMaxSanePages = size_t{1} << 20;

// Pages from aligned_alloc. Tracks every outstanding allocation so a free of the wrong pointer or
// count fails the test, and can refuse requests past a page budget to simulate exhaustion.
class FakePageSource final : public mm::PageSource {
public:
    FakePageSource() = default;
    FakePageSource(const FakePageSource&) = delete;
    FakePageSource& operator=(const FakePageSource&) = delete;
    ~FakePageSource() {
        for (auto& [first, count] : m_outstanding) std::free(first);
        for (void* block : m_quarantine) std::free(block);
    }

    void* allocate_pages(size_t count, size_t align_pages) override {
        ++m_calls;
        if (count == 0 || count > kMaxSanePages || align_pages == 0 || (align_pages & (align_pages - 1))) {
            ADD_FAILURE() << "allocate_pages(" << count << ", " << align_pages << ")";
            return nullptr;
        }
        if (m_budget && m_outstanding_pages + count > *m_budget) return nullptr;
        const size_t alignment = align_pages * kPage;
        const size_t bytes = (count * kPage + alignment - 1) / alignment * alignment;  // aligned_alloc's rule
        void* first = std::aligned_alloc(alignment, bytes);
        if (!first) return nullptr;
        memset(first, 0xCB, bytes);  // the heap must initialise what it uses
        m_outstanding[first] = count;
        m_outstanding_pages += count;
        return first;
    }

    void free_pages(void* first, size_t count) override {
        auto it = m_outstanding.find(first);
        if (it == m_outstanding.end() || it->second != count) {
            ADD_FAILURE() << "free_pages(" << first << ", " << count << ") matches no outstanding allocation";
            return;
        }
        m_outstanding.erase(it);
        m_outstanding_pages -= count;
        if (m_keep_freed) m_quarantine.push_back(first);  // stays readable: stale-header tests
        else std::free(first);
    }

    void set_budget(size_t pages) { m_budget = pages; }
    // Freed blocks stay allocated until destruction, so reading a freed header is defined.
    void keep_freed_blocks() { m_keep_freed = true; }

    size_t outstanding_pages() const { return m_outstanding_pages; }
    size_t outstanding_blocks() const { return m_outstanding.size(); }
    size_t calls() const { return m_calls; }

private:
    std::map<void*, size_t> m_outstanding;  // first page -> count, handed out and not yet freed
    size_t m_outstanding_pages = 0;
    size_t m_calls = 0;                     // allocate_pages calls, granted or not
    std::optional<size_t> m_budget;         // max outstanding pages, unlimited if empty
    bool m_keep_freed = false;
    std::vector<void*> m_quarantine;        // freed blocks kept alive (keep_freed_blocks)
};

bool stats_equal(const mm::HeapStats& a, const mm::HeapStats& b) { return memcmp(&a, &b, sizeof a) == 0; }

uint64_t total_objects(const mm::HeapStats& stats) {
    uint64_t total = 0;
    for (uint64_t n : stats.objects_in_use) total += n;
    return total;
}

uintptr_t block_of(const void* pointer) { return reinterpret_cast<uintptr_t>(pointer) & ~uintptr_t{kBlock - 1}; }

class HeapTest : public ::testing::Test {
protected:
    // The heap's page count must always agree with what the page source has handed out, and
    // a test that says what should remain gets that checked too.
    void TearDown() override {
        EXPECT_EQ(heap.stats().pages_held, pages.outstanding_pages());
        if (m_expected_pages_at_end) {
            EXPECT_EQ(pages.outstanding_pages(), *m_expected_pages_at_end);
        }
    }
    void expect_pages_at_end(size_t count) { m_expected_pages_at_end = count; }

    void* allocate_ok(size_t size_bytes) {
        void* pointer = heap.allocate(size_bytes);
        EXPECT_NE(pointer, nullptr) << "allocate(" << size_bytes << ")";
        return pointer;
    }
    void free_ok(void* pointer) { EXPECT_EQ(heap.free(pointer), HeapFreeResult::Freed) << pointer; }

    FakePageSource pages;
    Heap heap{pages};

private:
    std::optional<size_t> m_expected_pages_at_end;
};

// --- size classes -----------------------------------------------------------------------------

TEST(HeapClasses, ClassIndexRoundsUpToTheNextPowerOfTwoFrom16) {
    // sizes:  0..16 | 17..32 | 33..64 | ... | 1025..2048
    // class:    0   |   1    |   2    | ... |     7
    EXPECT_EQ(Heap::class_index(0), 0u);
    for (size_t size = 1; size <= 16; ++size) EXPECT_EQ(Heap::class_index(size), 0u) << size;
    EXPECT_EQ(Heap::class_index(17), 1u);
    EXPECT_EQ(Heap::class_index(32), 1u);
    EXPECT_EQ(Heap::class_index(33), 2u);
    EXPECT_EQ(Heap::class_index(256), 4u);
    EXPECT_EQ(Heap::class_index(1024), 6u);
    EXPECT_EQ(Heap::class_index(1025), 7u);
    EXPECT_EQ(Heap::class_index(2048), 7u);
}

TEST(HeapClasses, ClassSizeDoublesFrom16To2048) {
    for (size_t index = 0; index < Heap::kClassCount; ++index) EXPECT_EQ(Heap::class_size(index), size_t{16} << index);
    EXPECT_EQ(Heap::class_size(0), Heap::kSmallestClass);
    EXPECT_EQ(Heap::class_size(Heap::kClassCount - 1), Heap::kLargestClass);
}

TEST(HeapClasses, EveryClassServesItsOwnSize) {
    for (size_t index = 0; index < Heap::kClassCount; ++index) {
        EXPECT_EQ(Heap::class_index(Heap::class_size(index)), index);
        if (index > 0) {
            EXPECT_EQ(Heap::class_index(Heap::class_size(index - 1) + 1), index);
        }
    }
}

// --- allocate ---------------------------------------------------------------------------------

TEST_F(HeapTest, BlocksAreAlignedDisjointAndWritable) {
    struct Block {
        uint8_t* data;
        size_t size_bytes;
        uint8_t fill;
    };
    std::vector<Block> blocks;
    // Every class, at its bottom and top size, plus large ones; 20 of each spills over slabs.
    std::vector<size_t> sizes;
    for (size_t index = 0; index < Heap::kClassCount; ++index) {
        sizes.push_back(index == 0 ? 1 : Heap::class_size(index - 1) + 1);
        sizes.push_back(Heap::class_size(index));
    }
    sizes.insert(sizes.end(), {2049, 4096, 20000});
    for (int round = 0; round < 20; ++round) {
        for (size_t size : sizes) {
            auto* data = static_cast<uint8_t*>(allocate_ok(size));
            ASSERT_NE(data, nullptr);
            EXPECT_EQ(reinterpret_cast<uintptr_t>(data) % 16, 0u) << "allocate(" << size << ")";
            const auto fill = static_cast<uint8_t>(1 + blocks.size() % 255);
            memset(data, fill, size);
            blocks.push_back({data, size, fill});
        }
    }
    std::vector<std::pair<uintptr_t, uintptr_t>> spans;
    for (const Block& block : blocks)
        spans.emplace_back(reinterpret_cast<uintptr_t>(block.data),
                           reinterpret_cast<uintptr_t>(block.data) + block.size_bytes);
    std::sort(spans.begin(), spans.end());
    for (size_t i = 1; i < spans.size(); ++i) EXPECT_LE(spans[i - 1].second, spans[i].first) << "overlap at " << i;

    for (const Block& block : blocks) {
        for (size_t i = 0; i < block.size_bytes; ++i)
            if (block.data[i] != block.fill) {
                ADD_FAILURE() << "block of " << block.size_bytes << " bytes overwritten at " << i;
                break;
            }
    }
    for (const Block& block : blocks) free_ok(block.data);
}

TEST_F(HeapTest, UsableSizeOfASmallBlockIsItsClassSize) {
    for (size_t size : {1, 16, 17, 100, 500, 1000, 2048}) {
        void* pointer = allocate_ok(size);
        EXPECT_EQ(heap.usable_size(pointer), Heap::class_size(Heap::class_index(size))) << size;
        EXPECT_GE(heap.usable_size(pointer), size);
        free_ok(pointer);
    }
}

TEST_F(HeapTest, UsableSizeOfALargeBlockIsItsPagesLessTheHeader) {
    // 2049 + 256 header -> 1 page; 4096 + 256 -> 2 pages; 100000 + 256 -> 25 pages
    const std::pair<size_t, size_t> kSizeToPages[] = {{2049, 1}, {3840, 1}, {3841, 2}, {4096, 2}, {100000, 25}};
    for (const auto& [size, page_count] : kSizeToPages) {
        void* pointer = allocate_ok(size);
        EXPECT_EQ(heap.usable_size(pointer), page_count * kPage - kHeader) << size;
        EXPECT_GE(heap.usable_size(pointer), size);
        free_ok(pointer);
    }
}

TEST_F(HeapTest, UsableSizeOfNullIsZero) { EXPECT_EQ(heap.usable_size(nullptr), 0u); }

TEST_F(HeapTest, FreedObjectIsTheNextOneHandedOut) {
    // free list of class 32: [a b c ...] -> free b, then a -> [a b c ...] again, LIFO
    void* a = allocate_ok(24);
    void* b = allocate_ok(24);
    free_ok(b);
    free_ok(a);
    EXPECT_EQ(heap.allocate(32), a);
    EXPECT_EQ(heap.allocate(17), b);
    free_ok(a);
    free_ok(b);
}

TEST_F(HeapTest, ObjectsOfOneSlabComeInAddressOrder) {
    uint8_t* previous = static_cast<uint8_t*>(allocate_ok(64));
    for (int i = 0; i < 20; ++i) {
        auto* next = static_cast<uint8_t*>(allocate_ok(64));
        EXPECT_EQ(next, previous + 64);
        previous = next;
    }
}

TEST_F(HeapTest, FirstSmallAllocationTakesOneAlignedBlock) {
    void* pointer = allocate_ok(40);
    EXPECT_EQ(pages.calls(), 1u);
    EXPECT_EQ(pages.outstanding_pages(), Heap::kBlockPages);
    EXPECT_EQ(heap.stats().slabs[Heap::class_index(40)], 1u);
    EXPECT_EQ(heap.stats().objects_in_use[Heap::class_index(40)], 1u);
    EXPECT_EQ(heap.stats().pages_held, Heap::kBlockPages);
    // The object lies past the header of its own 16 KiB block.
    const uintptr_t offset = reinterpret_cast<uintptr_t>(pointer) - block_of(pointer);
    EXPECT_GE(offset, 48u);  // at least the fixed header fields
    EXPECT_LT(offset, kHeader + 64);
}

// --- slabs ------------------------------------------------------------------------------------

TEST_F(HeapTest, FillingOneSlabOf16ByteObjectsTakesASecond) {
    // slab 1: [hdr|o o o ... o] full  ->  slab 2: [hdr|o . . ... .]
    std::vector<void*> objects;
    while (heap.stats().slabs[0] < 2) {
        objects.push_back(allocate_ok(16));
        ASSERT_LT(objects.size(), kBlock / 16) << "a slab of 16-byte objects never filled";
    }
    const size_t per_slab = objects.size() - 1;
    EXPECT_GT(per_slab, (kBlock - kHeader) / 16 - 1);
    EXPECT_LT(per_slab, kBlock / 16);
    // The first per_slab objects share one block, the last one starts another.
    for (size_t i = 0; i < per_slab; ++i) EXPECT_EQ(block_of(objects[i]), block_of(objects[0])) << i;
    EXPECT_NE(block_of(objects.back()), block_of(objects[0]));
    EXPECT_EQ(heap.stats().pages_held, 2 * Heap::kBlockPages);
    EXPECT_EQ(pages.outstanding_pages(), 2 * Heap::kBlockPages);
    for (void* object : objects) free_ok(object);
}

TEST_F(HeapTest, FreeingEverythingKeepsOneSlabPerUsedClass) {
    // class 0: 3 slabs, class 7: 4 slabs  ->  free all (shuffled)  ->  class 0: 1, class 7: 1
    std::vector<void*> objects;
    while (heap.stats().slabs[0] < 3) objects.push_back(allocate_ok(10));
    while (heap.stats().slabs[7] < 4) objects.push_back(allocate_ok(2000));
    EXPECT_EQ(pages.outstanding_pages(), 7 * Heap::kBlockPages);
    std::shuffle(objects.begin(), objects.end(), std::mt19937(7));
    for (void* object : objects) free_ok(object);

    const mm::HeapStats stats = heap.stats();
    EXPECT_EQ(stats.slabs[0], 1u);
    EXPECT_EQ(stats.slabs[7], 1u);
    for (size_t index = 1; index < 7; ++index) EXPECT_EQ(stats.slabs[index], 0u) << index;
    EXPECT_EQ(total_objects(stats), 0u);
    EXPECT_EQ(stats.pages_held, 2 * Heap::kBlockPages);
    expect_pages_at_end(2 * Heap::kBlockPages);
}

TEST_F(HeapTest, FreeingInAllocationOrderKeepsOneSlab) {
    std::vector<void*> objects;
    while (heap.stats().slabs[3] < 3) objects.push_back(allocate_ok(128));
    for (void* object : objects) free_ok(object);
    EXPECT_EQ(heap.stats().slabs[3], 1u);
    expect_pages_at_end(Heap::kBlockPages);
}

TEST_F(HeapTest, TheOnlySlabOfAClassStaysWhenItEmpties) {
    // one slab, one object: allocate/free/allocate must not churn pages
    free_ok(allocate_ok(16));
    EXPECT_EQ(heap.stats().slabs[0], 1u);
    EXPECT_EQ(pages.outstanding_pages(), Heap::kBlockPages);
    const size_t calls = pages.calls();
    free_ok(allocate_ok(16));
    EXPECT_EQ(pages.calls(), calls);
    expect_pages_at_end(Heap::kBlockPages);
}

TEST_F(HeapTest, AnEmptiedSlabIsReusedAfterOthersAreReturned) {
    // After a full cycle the kept slab must still serve allocations correctly.
    std::vector<void*> objects;
    while (heap.stats().slabs[5] < 3) objects.push_back(allocate_ok(512));
    for (void* object : objects) free_ok(object);
    objects.clear();
    for (int i = 0; i < 100; ++i) objects.push_back(allocate_ok(512));
    std::sort(objects.begin(), objects.end());
    EXPECT_EQ(std::adjacent_find(objects.begin(), objects.end()), objects.end());
    for (void* object : objects) free_ok(object);
}

// --- large blocks -----------------------------------------------------------------------------

TEST_F(HeapTest, LargeBlocksComeFromPagesAndGoStraightBack) {
    for (size_t size : {2049, 4096, 100000}) {
        const size_t before = pages.outstanding_pages();
        void* pointer = allocate_ok(size);
        EXPECT_EQ(pages.outstanding_pages(), before + (size + kHeader + kPage - 1) / kPage) << size;
        EXPECT_EQ(heap.stats().large_allocations, 1u);
        EXPECT_EQ(reinterpret_cast<uintptr_t>(pointer) - block_of(pointer), kHeader);
        memset(pointer, 0x5A, size);
        free_ok(pointer);
        EXPECT_EQ(pages.outstanding_pages(), before) << size;
        EXPECT_EQ(heap.stats().large_allocations, 0u);
    }
    expect_pages_at_end(0);
}

TEST_F(HeapTest, NonsenseSizeIsNullWithoutAskingForPages) {
    EXPECT_EQ(heap.allocate(SIZE_MAX / 2), nullptr);
    EXPECT_EQ(heap.allocate(SIZE_MAX), nullptr);
    EXPECT_EQ(heap.allocate(SIZE_MAX - kHeader + 1), nullptr);  // would wrap the page count to 0
    EXPECT_EQ(pages.calls(), 0u);
    EXPECT_EQ(heap.stats().large_allocations, 0u);
    expect_pages_at_end(0);
}

// --- exhaustion -------------------------------------------------------------------------------

TEST_F(HeapTest, ExhaustionReturnsNullAndFreeingOneObjectLetsTheNextAllocationIn) {
    // budget 3 blocks: 3 slabs of 2048-byte objects, then nothing
    pages.set_budget(3 * Heap::kBlockPages);
    std::vector<void*> objects;
    for (;;) {
        void* object = heap.allocate(2048);
        if (!object) break;
        objects.push_back(object);
        ASSERT_LT(objects.size(), 1000u);
    }
    EXPECT_EQ(heap.stats().slabs[7], 3u);
    EXPECT_EQ(objects.size(), 3 * (kBlock / 2048 - 1));
    EXPECT_EQ(heap.allocate(1), nullptr);       // another class needs a new slab too
    EXPECT_EQ(heap.allocate(5000), nullptr);    // and so does a large block

    void* victim = objects[objects.size() / 2];
    free_ok(victim);
    EXPECT_EQ(heap.allocate(2048), victim);
    EXPECT_EQ(heap.allocate(2048), nullptr);
    for (void* object : objects) free_ok(object);
}

TEST_F(HeapTest, ExhaustedLargeAllocationLeavesNoTrace) {
    pages.set_budget(4);
    const mm::HeapStats before = heap.stats();
    EXPECT_EQ(heap.allocate(5 * kPage), nullptr);
    EXPECT_TRUE(stats_equal(heap.stats(), before));
    void* fits = allocate_ok(3 * kPage);
    free_ok(fits);
    expect_pages_at_end(0);
}

// --- free errors ------------------------------------------------------------------------------

TEST_F(HeapTest, FreeOfNullIsNull) { EXPECT_EQ(heap.free(nullptr), HeapFreeResult::Null); }

TEST_F(HeapTest, DoubleFreeOfASmallObjectIsReportedAndChangesNothing) {
    void* a = allocate_ok(48);
    void* keep = allocate_ok(48);  // keeps the slab non-empty
    free_ok(a);
    const mm::HeapStats before = heap.stats();
    EXPECT_EQ(heap.free(a), HeapFreeResult::DoubleFree);
    EXPECT_TRUE(stats_equal(heap.stats(), before));
    // The free list holds `a` once: the next two allocations differ.
    void* first = allocate_ok(48);
    void* second = allocate_ok(48);
    EXPECT_EQ(first, a);
    EXPECT_NE(second, a);
    free_ok(first);
    free_ok(second);
    free_ok(keep);
}

TEST_F(HeapTest, FreeOfANeverAllocatedObjectIsDoubleFree) {
    // [a .] : the slot after `a` is a valid object address that was never handed out
    auto* a = static_cast<uint8_t*>(allocate_ok(64));
    EXPECT_EQ(heap.free(a + 64), HeapFreeResult::DoubleFree);
    free_ok(a);
}

TEST_F(HeapTest, DoubleFreeOfALargeBlockIsBadPointer) {
    pages.keep_freed_blocks();  // the second free reads the old header: keep it readable
    void* block = allocate_ok(10000);
    free_ok(block);
    const mm::HeapStats before = heap.stats();
    EXPECT_EQ(heap.free(block), HeapFreeResult::BadPointer);
    EXPECT_TRUE(stats_equal(heap.stats(), before));
    EXPECT_EQ(heap.usable_size(block), 0u);  // header magic cleared
    expect_pages_at_end(0);
}

TEST_F(HeapTest, PointerIntoTheMiddleOfAnObjectIsBadPointer) {
    auto* small = static_cast<uint8_t*>(allocate_ok(64));
    auto* large = static_cast<uint8_t*>(allocate_ok(10000));
    const mm::HeapStats before = heap.stats();
    EXPECT_EQ(heap.free(small + 8), HeapFreeResult::BadPointer);
    EXPECT_EQ(heap.free(small + 16), HeapFreeResult::BadPointer);
    EXPECT_EQ(heap.free(small + 63), HeapFreeResult::BadPointer);
    EXPECT_EQ(heap.free(large + 16), HeapFreeResult::BadPointer);
    EXPECT_EQ(heap.free(large + 4096), HeapFreeResult::BadPointer);
    EXPECT_EQ(heap.free(large - 16), HeapFreeResult::BadPointer);  // inside its header
    EXPECT_TRUE(stats_equal(heap.stats(), before));
    free_ok(small);
    free_ok(large);
}

TEST_F(HeapTest, PointerIntoTheSlabHeaderIsBadPointer) {
    // block: [header ......|obj obj obj ...] : every header address is refused
    for (size_t size : {16, 64, 256, 2048}) {
        void* object = allocate_ok(size);
        auto* block = reinterpret_cast<uint8_t*>(block_of(object));
        const mm::HeapStats before = heap.stats();
        for (size_t offset = 0; offset < static_cast<size_t>(static_cast<uint8_t*>(object) - block); offset += 16)
            EXPECT_EQ(heap.free(block + offset), HeapFreeResult::BadPointer) << "class " << size << ", +" << offset;
        EXPECT_TRUE(stats_equal(heap.stats(), before));
        free_ok(object);
    }
}

TEST_F(HeapTest, ForeignPointerIsBadPointerAndHasNoUsableSize) {
    // A 16 KiB-aligned zeroed buffer of our own: its "header" reads as no magic.
    void* foreign = std::aligned_alloc(kBlock, kBlock);
    ASSERT_NE(foreign, nullptr);
    memset(foreign, 0, kBlock);
    auto* bytes = static_cast<uint8_t*>(foreign);
    for (size_t offset : {size_t{0}, kHeader, size_t{4096}, kBlock - 16}) {
        EXPECT_EQ(heap.free(bytes + offset), HeapFreeResult::BadPointer) << offset;
        EXPECT_EQ(heap.usable_size(bytes + offset), 0u) << offset;
    }
    EXPECT_EQ(pages.calls(), 0u);
    std::free(foreign);
}

TEST_F(HeapTest, ReturnedSlabNoLongerAcceptsFrees) {
    // slab 1: [x x x x x x x] full, slab 2: [x . . . . . .]
    // free slab 1's first object  -> partial list: slab 1, slab 2
    // free slab 2's only object   -> slab 2 empty and not alone: returned to the page source
    pages.keep_freed_blocks();  // the stale free below reads the returned block: keep it readable
    std::vector<void*> objects;
    while (heap.stats().slabs[7] < 2) objects.push_back(allocate_ok(2048));
    void* stale = objects.back();
    objects.pop_back();
    free_ok(objects.front());
    free_ok(stale);
    ASSERT_EQ(heap.stats().slabs[7], 1u);
    ASSERT_EQ(pages.outstanding_pages(), Heap::kBlockPages);

    const mm::HeapStats before = heap.stats();
    EXPECT_EQ(heap.free(stale), HeapFreeResult::BadPointer);
    EXPECT_EQ(heap.usable_size(stale), 0u);
    EXPECT_TRUE(stats_equal(heap.stats(), before));
    for (size_t i = 1; i < objects.size(); ++i) free_ok(objects[i]);
    expect_pages_at_end(Heap::kBlockPages);
}

// --- random sequence against a model ----------------------------------------------------------

TEST_F(HeapTest, RandomAllocateFreeKeepsContentsAndEndsEmpty) {
    struct Live {
        size_t size_bytes;
        uint8_t fill;
    };
    std::map<uint8_t*, Live> live;  // the model: what each pointer holds
    std::mt19937 rng(424242);
    auto check_and_free = [&](std::map<uint8_t*, Live>::iterator it) {
        uint8_t* data = it->first;
        for (size_t i = 0; i < it->second.size_bytes; ++i)
            if (data[i] != it->second.fill) {
                ADD_FAILURE() << "block of " << it->second.size_bytes << " bytes changed at " << i;
                break;
            }
        EXPECT_EQ(heap.free(data), HeapFreeResult::Freed);
        live.erase(it);
    };

    for (int step = 0; step < 20000; ++step) {
        if (live.empty() || rng() % 100 < 55) {
            // Mostly small, sometimes large: 1..5000 with a bias to small sizes.
            const size_t size = rng() % 4 == 0 ? 1 + rng() % 5000 : 1 + rng() % 256;
            auto* data = static_cast<uint8_t*>(heap.allocate(size));
            ASSERT_NE(data, nullptr) << "step " << step;
            ASSERT_EQ(reinterpret_cast<uintptr_t>(data) % 16, 0u);
            ASSERT_GE(heap.usable_size(data), size);
            ASSERT_EQ(live.count(data), 0u) << "step " << step << ": handed out twice";
            auto after = live.upper_bound(data);
            if (after != live.end()) {
                ASSERT_LE(data + size, after->first) << "step " << step << ": overlaps next";
            }
            if (after != live.begin()) {
                auto before = std::prev(after);
                ASSERT_LE(before->first + before->second.size_bytes, data) << "step " << step << ": overlaps previous";
            }
            const auto fill = static_cast<uint8_t>(rng());
            memset(data, fill, size);
            live[data] = {size, fill};
        } else {
            auto it = live.begin();
            std::advance(it, rng() % live.size());
            check_and_free(it);
        }
        ASSERT_EQ(heap.stats().pages_held, pages.outstanding_pages()) << "step " << step;
    }
    while (!live.empty()) check_and_free(live.begin());

    const mm::HeapStats stats = heap.stats();
    for (size_t index = 0; index < Heap::kClassCount; ++index) {
        EXPECT_EQ(stats.objects_in_use[index], 0u) << index;
        EXPECT_LE(stats.slabs[index], 1u) << index;
    }
    EXPECT_EQ(stats.large_allocations, 0u);
    uint64_t slabs = 0;
    for (uint64_t n : stats.slabs) slabs += n;
    EXPECT_EQ(stats.pages_held, slabs * Heap::kBlockPages);
    expect_pages_at_end(slabs * Heap::kBlockPages);
}

}  // namespace

// Checks mm::PageFrameAllocator on metadata held in a std::vector: state counts, memory-map
// ranges with holes, reservations, exhaustion, free errors, contiguous runs, and a long random
// alloc/free sequence after which every frame must be accounted for.
#include "mm/page_frame_allocator.hpp"

#include <gtest/gtest.h>

#include <stdint.h>

#include <algorithm>
#include <ostream>
#include <random>
#include <set>
#include <string>
#include <utility>
#include <vector>

namespace mm {

// GoogleTest prints these in failure messages.
void PrintTo(const Pfn& frame, std::ostream* out) { *out << "Pfn{" << frame.value << "}"; }
void PrintTo(const PageState& state, std::ostream* out) { *out << page_state_name(state); }
void PrintTo(const AllocError& error, std::ostream* out) { *out << describe(error); }
void PrintTo(const FreeError& error, std::ostream* out) { *out << describe(error); }

}  // namespace mm

namespace {

using mm::AllocError;
using mm::FreeError;
using mm::PageFrameAllocator;
using mm::PageState;
using mm::Pfn;
using mm::PhysRange;

constexpr uint64_t kKiB = 1024;
constexpr uint64_t kMiB = 1024 * kKiB;
constexpr uint64_t kGiB = 1024 * kMiB;

// An allocator over `frame_count` frames, its metadata in a vector (data() is 16-aligned).
struct Frames {
    explicit Frames(uint64_t frame_count) : metadata(PageFrameAllocator::metadata_bytes(frame_count)) {
        initialised = alloc.init(frame_count, {metadata.data(), metadata.size()});
    }
    // A move keeps the vector's buffer, so the allocator's pointers stay valid; a copy would not.
    Frames(Frames&&) = default;
    Frames(const Frames&) = delete;
    std::vector<uint8_t> metadata;
    PageFrameAllocator alloc;
    bool initialised = false;
};

// `frame_count` frames, every one of them free.
Frames all_free(uint64_t frame_count) {
    Frames frames(frame_count);
    frames.alloc.add_free_range({0, frame_count * mm::kPageSize});
    return frames;
}

std::vector<uint64_t> counts_of(const PageFrameAllocator& alloc) {
    std::vector<uint64_t> counts;
    for (unsigned s = 0; s < mm::kPageStateCount; ++s) counts.push_back(alloc.count(static_cast<PageState>(s)));
    return counts;
}

// The states of frames [0, n) as a string, one letter per frame (f free, s stack, k kernel,
// h heap, p page table, u user, w firmware, . absent), to compare against a drawing.
std::string draw(const PageFrameAllocator& alloc, uint64_t n) {
    static const char kLetters[] = "fskhpuw.";
    std::string picture;
    for (uint64_t i = 0; i < n; ++i) picture += kLetters[static_cast<unsigned>(alloc.state(Pfn{i}))];
    return picture;
}

Pfn take(PageFrameAllocator& alloc, PageState purpose = PageState::Kernel) {
    auto result = alloc.allocate(purpose);
    EXPECT_TRUE(result.ok()) << mm::describe(result.error());
    return result.ok() ? result.value() : Pfn{~uint64_t{0}};
}

// The QEMU q35 map for 4 GiB of RAM, shortened above 4 GiB: low memory up to the EBDA, the
// ISA hole, RAM up to the PCI hole, and 512 MiB above 4 GiB.
const std::vector<PhysRange> kQemuUsable = {
    {0, 0x9fc00},
    {0x100000, 0x7fe0000 - 0x100000},
    {0x100000000, 512 * kMiB},
};
constexpr uint64_t kQemuFrames = (0x100000000 + 512 * kMiB) / mm::kPageSize;
// 0x9f (the page at 0x9f000 is cut by the EBDA) + (0x7fe0 - 0x100) + 512 MiB / 4 KiB.
constexpr uint64_t kQemuUsableFrames = 0x9f + (0x7fe0 - 0x100) + 0x20000;

bool inside_any(const std::vector<PhysRange>& ranges, Pfn frame) {
    for (const PhysRange& r : ranges)
        if (frame.address() >= r.base && frame.address() + mm::kPageSize <= r.base + r.length) return true;
    return false;
}

// --- init -------------------------------------------------------------------------------------

TEST(PageFrameAllocator, InitMarksEveryFrameAbsent) {
    Frames frames(8);
    ASSERT_TRUE(frames.initialised);
    // frames: [.... ....]  (. = absent)
    EXPECT_EQ(draw(frames.alloc, 8), "........");
    EXPECT_EQ(frames.alloc.count(PageState::Absent), 8u);
    EXPECT_EQ(frames.alloc.count(PageState::Free), 0u);
    EXPECT_EQ(frames.alloc.allocate(PageState::Kernel).error(), AllocError::OutOfMemory);
    EXPECT_TRUE(frames.alloc.check_consistency());
}

TEST(PageFrameAllocator, InitRejectsTooLittleMetadata) {
    std::vector<uint8_t> metadata(PageFrameAllocator::metadata_bytes(8) - 1);
    PageFrameAllocator alloc;
    EXPECT_FALSE(alloc.init(8, {metadata.data(), metadata.size()}));
}

TEST(PageFrameAllocator, InitRejectsMisalignedMetadata) {
    std::vector<uint8_t> metadata(PageFrameAllocator::metadata_bytes(8) + 1);
    PageFrameAllocator alloc;
    EXPECT_FALSE(alloc.init(8, {metadata.data() + 1, metadata.size() - 1}));
}

TEST(PageFrameAllocator, InitRejectsMoreFramesThanLinksCanName) {
    uint8_t metadata[16];
    PageFrameAllocator alloc;
    EXPECT_FALSE(alloc.init(PageFrameAllocator::kMaxFrames + 1, {metadata, sizeof metadata}));
}

// --- tiny map ---------------------------------------------------------------------------------

TEST(PageFrameAllocator, AllocateReturnsLowFramesFirst) {
    Frames frames = all_free(8);
    // frames: [ffff ffff] -> allocate x8 -> [kkkk kkkk]; the list was pushed top-down.
    for (uint64_t expected = 0; expected < 8; ++expected) EXPECT_EQ(take(frames.alloc), Pfn{expected});
    EXPECT_EQ(draw(frames.alloc, 8), "kkkkkkkk");
    EXPECT_TRUE(frames.alloc.check_consistency());
}

TEST(PageFrameAllocator, CountsFollowEachStateChange) {
    Frames frames = all_free(8);
    EXPECT_EQ(frames.alloc.count(PageState::Free), 8u);
    EXPECT_EQ(frames.alloc.count(PageState::Absent), 0u);

    take(frames.alloc, PageState::Kernel);
    take(frames.alloc, PageState::Stack);
    take(frames.alloc, PageState::Stack);
    const Pfn heap = take(frames.alloc, PageState::Heap);
    take(frames.alloc, PageState::PageTable);
    take(frames.alloc, PageState::User);
    // frames: [kssh puff]
    EXPECT_EQ(draw(frames.alloc, 8), "ksshpuff");
    EXPECT_EQ(counts_of(frames.alloc), (std::vector<uint64_t>{2, 2, 1, 1, 1, 1, 0, 0}));

    ASSERT_TRUE(frames.alloc.free(heap).ok());
    // frames: [kssf puff]
    EXPECT_EQ(counts_of(frames.alloc), (std::vector<uint64_t>{3, 2, 1, 0, 1, 1, 0, 0}));
    EXPECT_TRUE(frames.alloc.check_consistency());
}

TEST(PageFrameAllocator, StateOfFramePastTheEndIsAbsent) {
    Frames frames = all_free(8);
    EXPECT_EQ(frames.alloc.state(Pfn{7}), PageState::Free);
    EXPECT_EQ(frames.alloc.state(Pfn{8}), PageState::Absent);
    EXPECT_EQ(frames.alloc.state(Pfn{~uint64_t{0}}), PageState::Absent);
}

// --- add_free_range ---------------------------------------------------------------------------

TEST(PageFrameAllocator, AddFreeRangeShrinksInwardToWholePages) {
    Frames frames(8);
    // [0x1800, 0x4800): frame 1 is cut at 0x1800 and frame 4 at 0x4800, so only 2 and 3 are whole.
    frames.alloc.add_free_range({0x1800, 0x3000});
    EXPECT_EQ(draw(frames.alloc, 8), "..ff....");
    EXPECT_EQ(frames.alloc.count(PageState::Free), 2u);
    EXPECT_EQ(take(frames.alloc), Pfn{2});
    EXPECT_EQ(take(frames.alloc), Pfn{3});
    EXPECT_TRUE(frames.alloc.check_consistency());
}

TEST(PageFrameAllocator, AddFreeRangeWithoutAWholePageAddsNothing) {
    Frames frames(8);
    frames.alloc.add_free_range({0x1000, 0xfff});  // aligned start, short end
    frames.alloc.add_free_range({0x2001, 0xfff});  // [0x2001, 0x3000): short start
    frames.alloc.add_free_range({0x3800, 0x1000});  // straddles frames 3 and 4
    frames.alloc.add_free_range({0x5000, 0});
    EXPECT_EQ(draw(frames.alloc, 8), "........");
    EXPECT_EQ(frames.alloc.count(PageState::Free), 0u);
    EXPECT_TRUE(frames.alloc.check_consistency());
}

TEST(PageFrameAllocator, AddFreeRangeIgnoresFramesPastFrameCount) {
    Frames frames(8);
    frames.alloc.add_free_range({0x6000, 1 * kGiB});
    frames.alloc.add_free_range({0x100000, 0x100000});  // wholly past the end
    // frames: [.... ..ff]
    EXPECT_EQ(draw(frames.alloc, 8), "......ff");
    EXPECT_EQ(frames.alloc.count(PageState::Free), 2u);
    EXPECT_EQ(frames.alloc.count(PageState::Absent), 6u);
    EXPECT_TRUE(frames.alloc.check_consistency());
}

TEST(PageFrameAllocator, AddFreeRangeReachingTheTopOfAddressSpaceIsClipped) {
    Frames frames(8);
    frames.alloc.add_free_range({0x5000, ~uint64_t{0} - 0x5000 + 1});  // ends exactly at 2^64
    frames.alloc.add_free_range({0x3000, ~uint64_t{0}});               // end wraps past 2^64
    EXPECT_EQ(draw(frames.alloc, 8), "...fffff");
    EXPECT_TRUE(frames.alloc.check_consistency());
}

TEST(PageFrameAllocator, OverlappingFreeRangesInsertEachFrameOnce) {
    Frames frames(8);
    frames.alloc.add_free_range({0x0000, 0x5000});
    frames.alloc.add_free_range({0x3000, 0x5000});
    frames.alloc.add_free_range({0x0000, 0x8000});
    EXPECT_EQ(frames.alloc.count(PageState::Free), 8u);
    EXPECT_TRUE(frames.alloc.check_consistency());
    std::set<uint64_t> seen;
    for (int i = 0; i < 8; ++i) EXPECT_TRUE(seen.insert(take(frames.alloc).value).second);
    EXPECT_EQ(frames.alloc.allocate(PageState::Kernel).error(), AllocError::OutOfMemory);
}

// A range over earlier ones adds only the frames between them, whatever became of the earlier
// frames since (here: allocated), without reading their state bytes.
TEST(PageFrameAllocator, RangeOverSeveralEarlierOnesAddsOnlyTheGaps) {
    Frames frames(12);
    frames.alloc.add_free_range({0x0000, 0x2000});  // frames 0-1
    frames.alloc.add_free_range({0x4000, 0x2000});  // 4-5
    frames.alloc.add_free_range({0x8000, 0x2000});  // 8-9
    const Pfn first = take(frames.alloc, PageState::Heap);
    frames.alloc.add_free_range({0x1000, 0x9000});  // 1-9: adds 2-3 and 6-7
    EXPECT_EQ(frames.alloc.count(PageState::Free), 9u);
    EXPECT_EQ(frames.alloc.state(first), PageState::Heap);
    EXPECT_EQ(frames.alloc.state(Pfn{10}), PageState::Absent);
    EXPECT_TRUE(frames.alloc.check_consistency());
    std::set<uint64_t> seen{first.value};
    for (int i = 0; i < 9; ++i) EXPECT_TRUE(seen.insert(take(frames.alloc).value).second);
    EXPECT_EQ(frames.alloc.allocate(PageState::Kernel).error(), AllocError::OutOfMemory);
}

// Past kMaxAddedRanges remembered ranges, overlaps are found by reading the state bytes: still
// every frame once.
TEST(PageFrameAllocator, MoreRangesThanRememberedStillInsertEachFrameOnce) {
    constexpr uint64_t kRanges = PageFrameAllocator::kMaxAddedRanges + 8;
    Frames frames(2 * kRanges + 2);
    for (uint64_t i = 0; i < kRanges; ++i) frames.alloc.add_free_range({2 * i * mm::kPageSize, mm::kPageSize});
    EXPECT_EQ(frames.alloc.count(PageState::Free), kRanges);
    frames.alloc.add_free_range({0, (2 * kRanges + 2) * mm::kPageSize});
    EXPECT_EQ(frames.alloc.count(PageState::Free), 2 * kRanges + 2);
    EXPECT_TRUE(frames.alloc.check_consistency());
    std::set<uint64_t> seen;
    for (uint64_t i = 0; i < 2 * kRanges + 2; ++i) EXPECT_TRUE(seen.insert(take(frames.alloc).value).second);
    EXPECT_EQ(frames.alloc.allocate(PageState::Kernel).error(), AllocError::OutOfMemory);
}

TEST(PageFrameAllocator, AddFreeRangeLeavesAllocatedFramesAllocated) {
    Frames frames = all_free(8);
    take(frames.alloc, PageState::Heap);
    // frames: [hfff ffff] -> add [0, 0x8000) again -> unchanged
    frames.alloc.add_free_range({0, 0x8000});
    EXPECT_EQ(draw(frames.alloc, 8), "hfffffff");
    EXPECT_EQ(frames.alloc.count(PageState::Free), 7u);
    EXPECT_TRUE(frames.alloc.check_consistency());
}

// Disabled: fails today. add_free_range rounds the base up with `base + kPageSize - 1`, which
// wraps to 0 for a base in the last page of the address space, so the whole map becomes free.
TEST(PageFrameAllocator, AddFreeRangeInTheLastPageOfAddressSpaceAddsNothing) {
    Frames frames(8);
    frames.alloc.add_free_range({0xFFFFFFFFFFFFF001, 0x10});
    EXPECT_EQ(draw(frames.alloc, 8), "........");
    EXPECT_EQ(frames.alloc.count(PageState::Free), 0u);
}

// --- holes ------------------------------------------------------------------------------------

TEST(PageFrameAllocator, QemuLikeMapCountsOnlyUsablePages) {
    Frames frames(kQemuFrames);
    for (const PhysRange& range : kQemuUsable) frames.alloc.add_free_range(range);
    EXPECT_EQ(frames.alloc.count(PageState::Free), kQemuUsableFrames);
    EXPECT_EQ(frames.alloc.count(PageState::Absent), kQemuFrames - kQemuUsableFrames);
    // frames 0x9e..0xa0: [f . .]: the page at 0x9f000 ends past 0x9fc00, the ISA hole follows.
    EXPECT_EQ(frames.alloc.state(Pfn{0x9e}), PageState::Free);
    EXPECT_EQ(frames.alloc.state(Pfn{0x9f}), PageState::Absent);
    EXPECT_EQ(frames.alloc.state(Pfn{0xff}), PageState::Absent);
    EXPECT_EQ(frames.alloc.state(Pfn{0x100}), PageState::Free);
    EXPECT_EQ(frames.alloc.state(Pfn{0x7fdf}), PageState::Free);
    EXPECT_EQ(frames.alloc.state(Pfn{0x7fe0}), PageState::Absent);
    EXPECT_EQ(frames.alloc.state(Pfn{0xfffff}), PageState::Absent);
    EXPECT_EQ(frames.alloc.state(Pfn{0x100000}), PageState::Free);
    EXPECT_TRUE(frames.alloc.check_consistency());
}

TEST(PageFrameAllocator, FramesInHolesAreNeverAllocated) {
    Frames frames(kQemuFrames);
    for (const PhysRange& range : kQemuUsable) frames.alloc.add_free_range(range);
    std::vector<bool> taken(kQemuFrames);
    for (uint64_t i = 0; i < kQemuUsableFrames; ++i) {
        const Pfn frame = take(frames.alloc, PageState::User);
        ASSERT_TRUE(inside_any(kQemuUsable, frame)) << frame.value;
        ASSERT_FALSE(taken[frame.value]) << frame.value;
        taken[frame.value] = true;
    }
    EXPECT_EQ(frames.alloc.allocate(PageState::User).error(), AllocError::OutOfMemory);
    EXPECT_EQ(frames.alloc.count(PageState::User), kQemuUsableFrames);
    EXPECT_EQ(frames.alloc.count(PageState::Absent), kQemuFrames - kQemuUsableFrames);
    EXPECT_TRUE(frames.alloc.check_consistency());
}

// The only 256 GiB test: 67108864 frames, 604 MB of metadata, 4 MiB of it usable.
TEST(PageFrameAllocator, Sparse256GiBMapHandsOutOnlyItsFewUsableFrames) {
    constexpr uint64_t kFrames = 256 * kGiB / mm::kPageSize;
    ASSERT_EQ(kFrames, 67108864u);
    ASSERT_EQ(PageFrameAllocator::metadata_bytes(kFrames), 603979776u);
    const std::vector<PhysRange> usable = {
        {0, 1 * kMiB}, {64 * kGiB, 1 * kMiB}, {128 * kGiB, 1 * kMiB}, {255 * kGiB, 1 * kMiB}};
    Frames frames(kFrames);
    ASSERT_TRUE(frames.initialised);
    for (const PhysRange& range : usable) frames.alloc.add_free_range(range);
    EXPECT_EQ(frames.alloc.count(PageState::Free), 4 * 256u);

    std::set<uint64_t> seen;
    for (int i = 0; i < 4 * 256; ++i) {
        const Pfn frame = take(frames.alloc);
        ASSERT_TRUE(inside_any(usable, frame)) << frame.value;
        ASSERT_TRUE(seen.insert(frame.value).second) << frame.value;
    }
    EXPECT_EQ(frames.alloc.allocate(PageState::Kernel).error(), AllocError::OutOfMemory);
    EXPECT_EQ(frames.alloc.count(PageState::Kernel), 1024u);
    EXPECT_EQ(frames.alloc.count(PageState::Absent), kFrames - 1024);
    EXPECT_TRUE(frames.alloc.check_consistency());
}

// --- reserve_range ----------------------------------------------------------------------------

TEST(PageFrameAllocator, ReservedFramesAreNeverAllocated) {
    Frames frames = all_free(8);
    frames.alloc.reserve_range({0x2000, 0x2000}, PageState::Kernel);
    // frames: [ffkk ffff]
    EXPECT_EQ(draw(frames.alloc, 8), "ffkkffff");
    EXPECT_EQ(frames.alloc.count(PageState::Free), 6u);
    EXPECT_EQ(frames.alloc.count(PageState::Kernel), 2u);
    EXPECT_TRUE(frames.alloc.check_consistency());
    for (uint64_t expected : {0, 1, 4, 5, 6, 7}) EXPECT_EQ(take(frames.alloc, PageState::Heap), Pfn{expected});
    EXPECT_EQ(frames.alloc.allocate(PageState::Heap).error(), AllocError::OutOfMemory);
}

TEST(PageFrameAllocator, ReserveRangeGrowsOutwardToWholePages) {
    Frames frames = all_free(8);
    // [0x2800, 0x3801) touches frames 2, 3.
    frames.alloc.reserve_range({0x2800, 0x1001}, PageState::Firmware);
    EXPECT_EQ(draw(frames.alloc, 8), "ffwwffff");
    // One byte still takes its whole page.
    frames.alloc.reserve_range({0x6fff, 1}, PageState::Kernel);
    EXPECT_EQ(draw(frames.alloc, 8), "ffwwffkf");
    EXPECT_TRUE(frames.alloc.check_consistency());
}

TEST(PageFrameAllocator, ReserveRangeLeavesAbsentFramesAbsent) {
    Frames frames(8);
    frames.alloc.add_free_range({0, 0x4000});
    // frames: [ffff ....] -> reserve [0x2000, 0x6000) -> [ffww ....]
    frames.alloc.reserve_range({0x2000, 0x4000}, PageState::Firmware);
    EXPECT_EQ(draw(frames.alloc, 8), "ffww....");
    EXPECT_EQ(frames.alloc.count(PageState::Absent), 4u);
    EXPECT_TRUE(frames.alloc.check_consistency());
}

TEST(PageFrameAllocator, OverlappingReservationsKeepTheFirstState) {
    Frames frames = all_free(8);
    frames.alloc.reserve_range({0x0000, 0x4000}, PageState::Kernel);
    frames.alloc.reserve_range({0x2000, 0x4000}, PageState::Firmware);
    // frames: [kkkk wwff]
    EXPECT_EQ(draw(frames.alloc, 8), "kkkkwwff");
    EXPECT_EQ(frames.alloc.count(PageState::Kernel), 4u);
    EXPECT_EQ(frames.alloc.count(PageState::Firmware), 2u);
    EXPECT_TRUE(frames.alloc.check_consistency());
}

TEST(PageFrameAllocator, ReserveRangeLeavesAllocatedFramesAlone) {
    Frames frames = all_free(8);
    take(frames.alloc, PageState::User);
    frames.alloc.reserve_range({0, 0x2000}, PageState::Firmware);
    EXPECT_EQ(draw(frames.alloc, 8), "uwffffff");
    EXPECT_TRUE(frames.alloc.check_consistency());
}

TEST(PageFrameAllocator, ReserveRangePastFrameCountIsClipped) {
    Frames frames = all_free(8);
    frames.alloc.reserve_range({0x6000, 1 * kGiB}, PageState::Kernel);
    frames.alloc.reserve_range({0x100000, 0x1000}, PageState::Kernel);  // wholly past the end
    EXPECT_EQ(draw(frames.alloc, 8), "ffffffkk");
    EXPECT_TRUE(frames.alloc.check_consistency());
}

TEST(PageFrameAllocator, ReserveRangeAsFreeOrOfZeroLengthDoesNothing) {
    Frames frames = all_free(8);
    frames.alloc.reserve_range({0x1000, 0x1000}, PageState::Free);
    frames.alloc.reserve_range({0x2000, 0}, PageState::Kernel);
    EXPECT_EQ(draw(frames.alloc, 8), "ffffffff");
    EXPECT_TRUE(frames.alloc.check_consistency());
}

// Disabled: fails today. reserve_range rounds the end up with `base + length + kPageSize - 1`,
// which wraps for a range reaching the top of the address space, so nothing is reserved.
TEST(PageFrameAllocator, ReserveRangeReachingTheTopOfAddressSpaceReservesToTheEnd) {
    Frames frames = all_free(8);
    frames.alloc.reserve_range({0x2000, ~uint64_t{0} - 0x2000 + 1}, PageState::Firmware);
    EXPECT_EQ(draw(frames.alloc, 8), "ffwwwwww");
    frames.alloc.reserve_range({0, ~uint64_t{0}}, PageState::Kernel);
    EXPECT_EQ(draw(frames.alloc, 8), "kkwwwwww");
}

// --- exhaustion -------------------------------------------------------------------------------

TEST(PageFrameAllocator, AllocateReportsOutOfMemoryWhenNoFrameIsFree) {
    Frames frames = all_free(4);
    for (int i = 0; i < 4; ++i) take(frames.alloc);
    // frames: [kkkk]
    auto result = frames.alloc.allocate(PageState::Kernel);
    ASSERT_FALSE(result.ok());
    EXPECT_EQ(result.error(), AllocError::OutOfMemory);
}

TEST(PageFrameAllocator, AllocatingPastExhaustionChangesNothing) {
    Frames frames = all_free(4);
    for (int i = 0; i < 4; ++i) take(frames.alloc);
    const auto before = counts_of(frames.alloc);
    for (int i = 0; i < 100; ++i) EXPECT_EQ(frames.alloc.allocate(PageState::Heap).error(), AllocError::OutOfMemory);
    EXPECT_EQ(counts_of(frames.alloc), before);
    EXPECT_TRUE(frames.alloc.check_consistency());
}

TEST(PageFrameAllocator, FrameFreedAfterExhaustionIsTheNextOneAllocated) {
    Frames frames = all_free(8);
    for (int i = 0; i < 8; ++i) take(frames.alloc);
    // frames: [kkkk kkkk] -> free 5 -> [kkkk kfkk] -> allocate -> 5
    ASSERT_TRUE(frames.alloc.free(Pfn{5}).ok());
    EXPECT_EQ(take(frames.alloc, PageState::Stack), Pfn{5});
    EXPECT_EQ(frames.alloc.allocate(PageState::Kernel).error(), AllocError::OutOfMemory);
    EXPECT_TRUE(frames.alloc.check_consistency());
}

TEST(PageFrameAllocator, MostRecentlyFreedFrameIsReusedFirst) {
    Frames frames = all_free(8);
    for (int i = 0; i < 4; ++i) take(frames.alloc);
    // frames: [kkkk ffff] -> free 1, then 3 -> [kfkf ffff]: 3 is reused first, then 1, then 4.
    ASSERT_TRUE(frames.alloc.free(Pfn{1}).ok());
    ASSERT_TRUE(frames.alloc.free(Pfn{3}).ok());
    EXPECT_EQ(take(frames.alloc), Pfn{3});
    EXPECT_EQ(take(frames.alloc), Pfn{1});
    EXPECT_EQ(take(frames.alloc), Pfn{4});
    EXPECT_TRUE(frames.alloc.check_consistency());
}

// --- free errors ------------------------------------------------------------------------------

TEST(PageFrameAllocator, DoubleFreeIsDetected) {
    Frames frames = all_free(8);
    const Pfn frame = take(frames.alloc);
    ASSERT_TRUE(frames.alloc.free(frame).ok());
    // frames: [ffff ffff], frame 0 at the head of the list
    const auto before = counts_of(frames.alloc);
    auto result = frames.alloc.free(frame);
    ASSERT_FALSE(result.ok());
    EXPECT_EQ(result.error(), FreeError::DoubleFree);
    EXPECT_EQ(counts_of(frames.alloc), before);
    EXPECT_TRUE(frames.alloc.check_consistency());
    EXPECT_EQ(take(frames.alloc), Pfn{0});
    EXPECT_EQ(take(frames.alloc), Pfn{1});
}

TEST(PageFrameAllocator, FreeingANeverAllocatedFrameIsADoubleFree) {
    Frames frames = all_free(8);
    EXPECT_EQ(frames.alloc.free(Pfn{6}).error(), FreeError::DoubleFree);
    EXPECT_EQ(frames.alloc.count(PageState::Free), 8u);
    EXPECT_TRUE(frames.alloc.check_consistency());
}

TEST(PageFrameAllocator, FreeingAnAbsentFrameIsNotManaged) {
    Frames frames(8);
    frames.alloc.add_free_range({0, 0x4000});
    // frames: [ffff ....]
    EXPECT_EQ(frames.alloc.free(Pfn{5}).error(), FreeError::NotManaged);
    EXPECT_EQ(frames.alloc.state(Pfn{5}), PageState::Absent);
    EXPECT_EQ(frames.alloc.count(PageState::Free), 4u);
    EXPECT_TRUE(frames.alloc.check_consistency());
}

TEST(PageFrameAllocator, FreeingAFirmwareFrameIsNotManaged) {
    Frames frames = all_free(8);
    frames.alloc.reserve_range({0, 0x1000}, PageState::Firmware);
    // frames: [wfff ffff]
    EXPECT_EQ(frames.alloc.free(Pfn{0}).error(), FreeError::NotManaged);
    EXPECT_EQ(frames.alloc.state(Pfn{0}), PageState::Firmware);
    EXPECT_EQ(frames.alloc.count(PageState::Free), 7u);
    EXPECT_TRUE(frames.alloc.check_consistency());
}

TEST(PageFrameAllocator, FreeingAFramePastTheEndIsNotManaged) {
    Frames frames = all_free(8);
    EXPECT_EQ(frames.alloc.free(Pfn{8}).error(), FreeError::NotManaged);
    EXPECT_EQ(frames.alloc.free(Pfn{~uint64_t{0}}).error(), FreeError::NotManaged);
    EXPECT_EQ(frames.alloc.count(PageState::Free), 8u);
    EXPECT_TRUE(frames.alloc.check_consistency());
}

TEST(PageFrameAllocator, FreeingAReservedKernelFrameMakesItAllocatable) {
    Frames frames = all_free(8);
    frames.alloc.reserve_range({0x3000, 0x1000}, PageState::Kernel);
    for (int i = 0; i < 7; ++i) take(frames.alloc, PageState::Heap);
    // frames: [hhhk hhhh]: boot data in frame 3 is released once the kernel is done with it.
    ASSERT_TRUE(frames.alloc.free(Pfn{3}).ok());
    EXPECT_EQ(take(frames.alloc, PageState::Heap), Pfn{3});
    EXPECT_TRUE(frames.alloc.check_consistency());
}

// --- bad requests -----------------------------------------------------------------------------

TEST(PageFrameAllocator, AllocatingAsFreeOrAbsentIsABadRequest) {
    Frames frames = all_free(8);
    EXPECT_EQ(frames.alloc.allocate(PageState::Free).error(), AllocError::BadRequest);
    EXPECT_EQ(frames.alloc.allocate(PageState::Absent).error(), AllocError::BadRequest);
    EXPECT_EQ(frames.alloc.allocate_run(2, PageState::Free).error(), AllocError::BadRequest);
    EXPECT_EQ(frames.alloc.allocate_run(2, PageState::Absent).error(), AllocError::BadRequest);
    EXPECT_EQ(frames.alloc.count(PageState::Free), 8u);
    EXPECT_TRUE(frames.alloc.check_consistency());
}

// Firmware frames are only ever reserved; free() refuses them, so allocating one would leak it.
TEST(PageFrameAllocator, AllocatingAsFirmwareOrAnUnknownStateIsABadRequest) {
    Frames frames = all_free(8);
    EXPECT_EQ(frames.alloc.allocate(PageState::Firmware).error(), AllocError::BadRequest);
    EXPECT_EQ(frames.alloc.allocate_run(2, PageState::Firmware).error(), AllocError::BadRequest);
    EXPECT_EQ(frames.alloc.allocate(static_cast<PageState>(9)).error(), AllocError::BadRequest);
    EXPECT_EQ(frames.alloc.count(PageState::Free), 8u);
    EXPECT_TRUE(frames.alloc.check_consistency());
}

TEST(PageFrameAllocator, RunOfZeroFramesOrZeroAlignmentIsABadRequest) {
    Frames frames = all_free(8);
    EXPECT_EQ(frames.alloc.allocate_run(0, PageState::Stack).error(), AllocError::BadRequest);
    EXPECT_EQ(frames.alloc.allocate_run(2, PageState::Stack, 0).error(), AllocError::BadRequest);
    EXPECT_EQ(frames.alloc.count(PageState::Free), 8u);
}

// --- allocate_run / free_run ------------------------------------------------------------------

TEST(PageFrameAllocator, AllocateRunReturnsContiguousFrames) {
    Frames frames = all_free(16);
    auto run = frames.alloc.allocate_run(4, PageState::Stack);
    ASSERT_TRUE(run.ok());
    EXPECT_EQ(run.value(), Pfn{0});
    // frames: [ssss ffff ffff ffff]
    EXPECT_EQ(draw(frames.alloc, 16), "ssssffffffffffff");
    EXPECT_EQ(frames.alloc.count(PageState::Stack), 4u);
    EXPECT_EQ(frames.alloc.count(PageState::Free), 12u);
    EXPECT_TRUE(frames.alloc.check_consistency());
}

TEST(PageFrameAllocator, AllocateRunStartsOnTheRequestedAlignment) {
    Frames frames = all_free(16);
    take(frames.alloc);
    // frames: [kfff ffff ...] -> run of 4 aligned to 4 -> [kfff ssss ...]
    auto run = frames.alloc.allocate_run(4, PageState::Stack, 4);
    ASSERT_TRUE(run.ok());
    EXPECT_EQ(run.value(), Pfn{4});
    EXPECT_EQ(run.value().value % 4, 0u);
    EXPECT_EQ(draw(frames.alloc, 16), "kfffssssffffffff");
    EXPECT_TRUE(frames.alloc.check_consistency());
}

TEST(PageFrameAllocator, AllocateRunSkipsAFragmentedRegion) {
    Frames frames = all_free(16);
    for (int i = 0; i < 4; ++i) take(frames.alloc);
    ASSERT_TRUE(frames.alloc.free(Pfn{1}).ok());
    ASSERT_TRUE(frames.alloc.free(Pfn{3}).ok());
    // frames: [1010 0000 0000 0000]  (1 = allocated): 1 is a lone free frame, 3 starts a run.
    EXPECT_EQ(draw(frames.alloc, 16), "kfkfffffffffffff");
    auto run = frames.alloc.allocate_run(3, PageState::Stack);
    ASSERT_TRUE(run.ok());
    EXPECT_EQ(run.value(), Pfn{3});
    // frames: [1011 1100 0000 0000]
    EXPECT_EQ(draw(frames.alloc, 16), "kfksssffffffffff");
    EXPECT_TRUE(frames.alloc.check_consistency());
}

TEST(PageFrameAllocator, AlignedRunSkipsAFreeStretchThatStartsOffAlignment) {
    Frames frames = all_free(16);
    for (int i = 0; i < 4; ++i) take(frames.alloc);
    ASSERT_TRUE(frames.alloc.free(Pfn{1}).ok());
    ASSERT_TRUE(frames.alloc.free(Pfn{3}).ok());
    // frames: [1010 0000 0000 0000]: frames 3..6 are free, but 3 is not a multiple of 4.
    auto run = frames.alloc.allocate_run(4, PageState::Stack, 4);
    ASSERT_TRUE(run.ok());
    EXPECT_EQ(run.value(), Pfn{4});
    EXPECT_EQ(draw(frames.alloc, 16), "kfkfssssffffffff");
    EXPECT_TRUE(frames.alloc.check_consistency());
}

TEST(PageFrameAllocator, FragmentationGivesNoContiguousRunEvenWithEnoughFreeFrames) {
    Frames frames = all_free(8);
    for (int i = 0; i < 8; ++i) take(frames.alloc);
    for (uint64_t odd : {1, 3, 5, 7}) ASSERT_TRUE(frames.alloc.free(Pfn{odd}).ok());
    // frames: [1010 1010]: four frames free, no two adjacent.
    const auto before = counts_of(frames.alloc);
    EXPECT_EQ(frames.alloc.allocate_run(2, PageState::Stack).error(), AllocError::NoContiguousRun);
    EXPECT_EQ(counts_of(frames.alloc), before);
    EXPECT_TRUE(frames.alloc.check_consistency());
}

TEST(PageFrameAllocator, RunLongerThanTheFreeFramesIsOutOfMemory) {
    Frames frames = all_free(8);
    for (int i = 0; i < 5; ++i) take(frames.alloc);
    // frames: [1111 1000]
    EXPECT_EQ(frames.alloc.allocate_run(4, PageState::Stack).error(), AllocError::OutOfMemory);
    EXPECT_EQ(frames.alloc.count(PageState::Free), 3u);
}

TEST(PageFrameAllocator, RunAlignmentThatFitsNowhereGivesNoContiguousRun) {
    Frames frames = all_free(8);
    take(frames.alloc);
    // frames: [1000 0000]: a 16-aligned start exists only at 0, which is taken.
    EXPECT_EQ(frames.alloc.allocate_run(2, PageState::Stack, 16).error(), AllocError::NoContiguousRun);
    EXPECT_EQ(frames.alloc.allocate_run(2, PageState::Stack, ~uint64_t{0}).error(), AllocError::NoContiguousRun);
    EXPECT_EQ(frames.alloc.count(PageState::Free), 7u);
    EXPECT_TRUE(frames.alloc.check_consistency());
}

TEST(PageFrameAllocator, FramesOfARunAreNotHandedOutByAllocate) {
    Frames frames = all_free(8);
    ASSERT_EQ(frames.alloc.allocate_run(4, PageState::Stack).value(), Pfn{0});
    // frames: [ssss ffff]: the run was unlinked from the middle of the free list.
    for (uint64_t expected : {4, 5, 6, 7}) EXPECT_EQ(take(frames.alloc), Pfn{expected});
    EXPECT_EQ(frames.alloc.allocate(PageState::Kernel).error(), AllocError::OutOfMemory);
    EXPECT_TRUE(frames.alloc.check_consistency());
}

TEST(PageFrameAllocator, FreeRunReturnsEveryFrameOfTheRun) {
    Frames frames = all_free(8);
    ASSERT_EQ(frames.alloc.allocate_run(4, PageState::Stack, 4).value(), Pfn{0});
    ASSERT_TRUE(frames.alloc.free_run(Pfn{0}, 4).ok());
    // frames: [ffff ffff], the run's first frame at the head of the list
    EXPECT_EQ(frames.alloc.count(PageState::Free), 8u);
    EXPECT_EQ(frames.alloc.count(PageState::Stack), 0u);
    EXPECT_TRUE(frames.alloc.check_consistency());
    EXPECT_EQ(take(frames.alloc), Pfn{0});
}

TEST(PageFrameAllocator, FreeRunWithOneFreeFrameInsideFreesNothing) {
    Frames frames = all_free(8);
    ASSERT_EQ(frames.alloc.allocate_run(4, PageState::Stack).value(), Pfn{0});
    ASSERT_TRUE(frames.alloc.free(Pfn{2}).ok());
    // frames: [ssfs ffff]
    const auto before = counts_of(frames.alloc);
    EXPECT_EQ(frames.alloc.free_run(Pfn{0}, 4).error(), FreeError::DoubleFree);
    EXPECT_EQ(draw(frames.alloc, 8), "ssfsffff");
    EXPECT_EQ(counts_of(frames.alloc), before);
    EXPECT_TRUE(frames.alloc.check_consistency());
}

TEST(PageFrameAllocator, FreeRunWithOneAbsentFrameInsideFreesNothing) {
    Frames frames(8);
    frames.alloc.add_free_range({0, 0x2000});
    frames.alloc.add_free_range({0x3000, 0x2000});
    for (int i = 0; i < 4; ++i) take(frames.alloc);
    // frames: [kk.k k...]
    EXPECT_EQ(draw(frames.alloc, 8), "kk.kk...");
    EXPECT_EQ(frames.alloc.free_run(Pfn{0}, 5).error(), FreeError::NotManaged);
    EXPECT_EQ(frames.alloc.count(PageState::Kernel), 4u);
    EXPECT_EQ(frames.alloc.count(PageState::Free), 0u);
    EXPECT_TRUE(frames.alloc.check_consistency());
}

TEST(PageFrameAllocator, FreeRunPastTheEndIsNotManaged) {
    Frames frames = all_free(8);
    for (int i = 0; i < 8; ++i) take(frames.alloc);
    EXPECT_EQ(frames.alloc.free_run(Pfn{6}, 3).error(), FreeError::NotManaged);
    EXPECT_EQ(frames.alloc.free_run(Pfn{6}, ~uint64_t{0}).error(), FreeError::NotManaged);
    EXPECT_EQ(frames.alloc.count(PageState::Free), 0u);
    EXPECT_TRUE(frames.alloc.check_consistency());
}

TEST(PageFrameAllocator, AllocateRunWrapsAroundToFramesBeforeTheLastRun) {
    Frames frames = all_free(8);
    ASSERT_EQ(frames.alloc.allocate_run(4, PageState::Stack).value(), Pfn{0});
    ASSERT_EQ(frames.alloc.allocate_run(4, PageState::Stack).value(), Pfn{4});
    ASSERT_TRUE(frames.alloc.free_run(Pfn{0}, 4).ok());
    // frames: [ffff ssss], next-fit cursor at 8: the search wraps to 0.
    EXPECT_EQ(frames.alloc.allocate_run(4, PageState::Stack).value(), Pfn{0});
    EXPECT_TRUE(frames.alloc.check_consistency());
}

TEST(PageFrameAllocator, RunOfOneUnalignedFrameIsAPlainAllocate) {
    Frames frames = all_free(8);
    for (int i = 0; i < 6; ++i) take(frames.alloc);
    ASSERT_TRUE(frames.alloc.free(Pfn{2}).ok());
    // frames: [kkfk kkff], 2 at the head of the list
    EXPECT_EQ(frames.alloc.allocate_run(1, PageState::Stack).value(), Pfn{2});
    EXPECT_TRUE(frames.alloc.check_consistency());
}

// --- check_consistency ------------------------------------------------------------------------

// Reaches into the metadata layout (links, then one state byte per frame; see init()).
TEST(PageFrameAllocator, CheckConsistencyCatchesAStateByteChangedBehindItsBack) {
    Frames frames = all_free(8);
    ASSERT_TRUE(frames.alloc.check_consistency());
    uint8_t* states = frames.metadata.data() + 8 * 2 * sizeof(uint32_t);
    ASSERT_EQ(states[5], static_cast<uint8_t>(PageState::Free));
    states[5] = static_cast<uint8_t>(PageState::Kernel);
    EXPECT_FALSE(frames.alloc.check_consistency());
}

// --- random sequence --------------------------------------------------------------------------

TEST(PageFrameAllocator, RandomAllocFreeSequenceAccountsForEveryFrame) {
    constexpr uint64_t kFrames = 4096;
    Frames frames(kFrames);
    PageFrameAllocator& alloc = frames.alloc;
    // Usable frames 0..158, 256..1791 and 2048..4095; the kernel image and a firmware table
    // are reserved inside them, as at boot.
    alloc.add_free_range({0, 0x9fc00});
    alloc.add_free_range({0x100000, 0x600000});
    alloc.add_free_range({0x800000, 0x800000});
    alloc.reserve_range({0x100000, 0x80000}, PageState::Kernel);
    alloc.reserve_range({0x200000, 0x10000}, PageState::Firmware);
    ASSERT_TRUE(alloc.check_consistency());
    const uint64_t usable = alloc.count(PageState::Free);
    ASSERT_EQ(usable, 159u + 1536u + 2048u - 128u - 16u);
    std::vector<bool> allocatable(kFrames);
    for (uint64_t i = 0; i < kFrames; ++i) allocatable[i] = alloc.state(Pfn{i}) == PageState::Free;

    const PageState kPurposes[] = {PageState::Stack, PageState::Kernel, PageState::Heap, PageState::PageTable,
                                   PageState::User};
    std::mt19937 rng(12345);
    std::vector<bool> held(kFrames);
    std::vector<uint64_t> singles;
    std::vector<std::pair<uint64_t, uint64_t>> runs;  // first frame, count
    uint64_t held_count = 0;
    uint64_t held_by_purpose[mm::kPageStateCount] = {};
    std::vector<PageState> purpose_of(kFrames, PageState::Free);
    // How often each outcome happened: the sequence must reach every one of them.
    struct {
        int allocated, out_of_memory, freed, runs, run_out_of_memory, no_contiguous_run, runs_freed, refused;
    } seen = {};

    auto claim = [&](uint64_t frame, PageState purpose) {
        ASSERT_LT(frame, kFrames);
        ASSERT_TRUE(allocatable[frame]) << "frame " << frame << " was never usable";
        ASSERT_FALSE(held[frame]) << "frame " << frame << " handed out twice";
        ASSERT_EQ(alloc.state(Pfn{frame}), purpose);
        held[frame] = true;
        purpose_of[frame] = purpose;
        ++held_count;
        ++held_by_purpose[static_cast<unsigned>(purpose)];
    };
    auto release = [&](uint64_t frame) {
        ASSERT_EQ(alloc.state(Pfn{frame}), PageState::Free);
        held[frame] = false;
        --held_count;
        --held_by_purpose[static_cast<unsigned>(purpose_of[frame])];
    };

    for (int op = 0; op < 100000; ++op) {
        // Alternate allocation-heavy and free-heavy phases so the map both fills up and drains.
        const bool filling = (op / 10000) % 2 == 0;
        const unsigned roll = rng() % 100;
        const unsigned alloc_below = filling ? 60 : 30;
        const PageState purpose = kPurposes[rng() % 5];
        if (roll < alloc_below) {
            auto result = alloc.allocate(purpose);
            if (result.ok()) {
                claim(result.value().value, purpose);
                singles.push_back(result.value().value);
                ++seen.allocated;
            } else {
                ++seen.out_of_memory;
                ASSERT_EQ(result.error(), AllocError::OutOfMemory);
                ASSERT_EQ(alloc.count(PageState::Free), 0u);
            }
        } else if (roll < 90) {
            if (singles.empty()) continue;
            const size_t pick = rng() % singles.size();
            const uint64_t frame = singles[pick];
            singles[pick] = singles.back();
            singles.pop_back();
            ASSERT_TRUE(alloc.free(Pfn{frame}).ok());
            release(frame);
            ++seen.freed;
        } else if (roll < 96) {
            const uint64_t count = 1 + rng() % 8;
            const uint64_t align = uint64_t{1} << (rng() % 3);
            auto result = alloc.allocate_run(count, purpose, align);
            if (result.ok()) {
                const uint64_t first = result.value().value;
                ASSERT_EQ(first % align, 0u);
                for (uint64_t i = 0; i < count; ++i) claim(first + i, purpose);
                runs.emplace_back(first, count);
                ++seen.runs;
            } else if (result.error() == AllocError::OutOfMemory) {
                ++seen.run_out_of_memory;
                ASSERT_LT(alloc.count(PageState::Free), count);
            } else {
                ++seen.no_contiguous_run;
                ASSERT_EQ(result.error(), AllocError::NoContiguousRun);
                ASSERT_GE(alloc.count(PageState::Free), count);
            }
        } else if (roll < 99) {
            if (runs.empty()) continue;
            const size_t pick = rng() % runs.size();
            const auto [first, count] = runs[pick];
            runs[pick] = runs.back();
            runs.pop_back();
            ASSERT_TRUE(alloc.free_run(Pfn{first}, count).ok());
            for (uint64_t i = 0; i < count; ++i) release(first + i);
            ++seen.runs_freed;
        } else {
            // A free, absent or firmware frame cannot be freed, and trying changes nothing. (The
            // reserved kernel image could be, so it is left out.)
            const uint64_t frame = rng() % kFrames;
            if (held[frame] || alloc.state(Pfn{frame}) == PageState::Kernel) continue;
            const auto before = counts_of(alloc);
            auto result = alloc.free(Pfn{frame});
            ASSERT_FALSE(result.ok());
            ASSERT_EQ(result.error(), allocatable[frame] ? FreeError::DoubleFree : FreeError::NotManaged);
            ASSERT_EQ(counts_of(alloc), before);
            ++seen.refused;
        }
        if (HasFatalFailure()) return;
        if (op % 1000 == 0) {
            ASSERT_TRUE(alloc.check_consistency()) << "after op " << op;
            ASSERT_EQ(alloc.count(PageState::Free) + held_count, usable) << "after op " << op;
        }
    }

    ASSERT_TRUE(alloc.check_consistency());
    EXPECT_EQ(alloc.count(PageState::Free) + held_count, usable);
    for (int outcome : {seen.allocated, seen.out_of_memory, seen.freed, seen.runs, seen.run_out_of_memory,
                        seen.no_contiguous_run, seen.runs_freed, seen.refused})
        EXPECT_GT(outcome, 0);
    for (PageState purpose : kPurposes) {
        const uint64_t reserved = purpose == PageState::Kernel ? 128 : 0;
        EXPECT_EQ(alloc.count(purpose), held_by_purpose[static_cast<unsigned>(purpose)] + reserved)
            << page_state_name(purpose);
    }
    uint64_t held_in_lists = singles.size();
    for (const auto& run : runs) held_in_lists += run.second;
    EXPECT_EQ(held_in_lists, held_count);

    for (uint64_t frame : singles) {
        ASSERT_TRUE(alloc.free(Pfn{frame}).ok());
        release(frame);
    }
    for (const auto& [first, count] : runs) {
        ASSERT_TRUE(alloc.free_run(Pfn{first}, count).ok());
        for (uint64_t i = 0; i < count; ++i) release(first + i);
    }
    if (HasFatalFailure()) return;
    EXPECT_EQ(held_count, 0u);
    EXPECT_EQ(alloc.count(PageState::Free), usable);
    EXPECT_EQ(alloc.count(PageState::Kernel), 128u);
    EXPECT_EQ(alloc.count(PageState::Firmware), 16u);
    EXPECT_TRUE(alloc.check_consistency());
    for (uint64_t i = 0; i < kFrames; ++i)
        ASSERT_EQ(alloc.state(Pfn{i}) == PageState::Free, static_cast<bool>(allocatable[i])) << i;
}

}  // namespace

// --- owners (copy-on-write sharing) -------------------------------------------------------------

TEST(PageFrameAllocator, AFrameStartsWithOneOwnerAndReleaseFreesIt) {
    Frames frames = all_free(4);
    const Pfn page = take(frames.alloc, PageState::User);
    EXPECT_EQ(frames.alloc.owners(page), 1u);
    EXPECT_EQ(frames.alloc.shared_count(), 0u);
    auto left = frames.alloc.release(page);
    ASSERT_TRUE(left.ok());
    EXPECT_EQ(left.value(), 0u);
    EXPECT_EQ(frames.alloc.state(page), PageState::Free);
    EXPECT_EQ(frames.alloc.owners(page), 0u);
    EXPECT_TRUE(frames.alloc.check_consistency());
}

TEST(PageFrameAllocator, ASharedFrameIsFreedWithItsLastOwner) {
    Frames frames = all_free(4);
    const Pfn page = take(frames.alloc, PageState::User);
    EXPECT_EQ(frames.alloc.share(page).value(), 2u);
    EXPECT_EQ(frames.alloc.share(page).value(), 3u);
    EXPECT_EQ(frames.alloc.shared_count(), 1u);
    EXPECT_EQ(frames.alloc.release(page).value(), 2u);
    EXPECT_EQ(frames.alloc.shared_count(), 1u);
    EXPECT_EQ(frames.alloc.release(page).value(), 1u);
    EXPECT_EQ(frames.alloc.shared_count(), 0u);  // one owner left: not shared any more
    EXPECT_EQ(frames.alloc.state(page), PageState::User);
    EXPECT_EQ(frames.alloc.count(PageState::Free), 3u);
    EXPECT_EQ(frames.alloc.release(page).value(), 0u);
    EXPECT_EQ(frames.alloc.count(PageState::Free), 4u);
    EXPECT_TRUE(frames.alloc.check_consistency());
}

TEST(PageFrameAllocator, OwnersSurviveTheFreeListReusingTheFrame) {
    // The count shares storage with the free-list link: a frame freed and allocated again starts
    // over at one owner, whatever the list wrote there meanwhile.
    Frames frames = all_free(4);
    const Pfn a = take(frames.alloc, PageState::User);
    frames.alloc.share(a);
    frames.alloc.release(a);
    frames.alloc.release(a);
    const Pfn again = take(frames.alloc, PageState::User);
    EXPECT_EQ(again, a);  // most recently freed first
    EXPECT_EQ(frames.alloc.owners(again), 1u);
    EXPECT_EQ(frames.alloc.shared_count(), 0u);
}

TEST(PageFrameAllocator, SharingOrReleasingAFreeOrForeignFrameFails) {
    Frames frames = all_free(4);
    EXPECT_EQ(frames.alloc.share(Pfn{1}).error(), mm::FreeError::DoubleFree);
    EXPECT_EQ(frames.alloc.release(Pfn{1}).error(), mm::FreeError::DoubleFree);
    EXPECT_EQ(frames.alloc.share(Pfn{99}).error(), mm::FreeError::NotManaged);
    EXPECT_EQ(frames.alloc.release(Pfn{99}).error(), mm::FreeError::NotManaged);
    EXPECT_EQ(frames.alloc.count(PageState::Free), 4u);
}

TEST(PageFrameAllocator, FreeingASharedFrameOutrightKeepsTheSharedCountTrue) {
    Frames frames = all_free(4);
    const Pfn page = take(frames.alloc, PageState::User);
    frames.alloc.share(page);
    ASSERT_TRUE(frames.alloc.free(page).ok());
    EXPECT_EQ(frames.alloc.shared_count(), 0u);
    EXPECT_TRUE(frames.alloc.check_consistency());
}

// --- moving the metadata, names -----------------------------------------------------------------

TEST(PageFrameAllocator, MetadataMovedElsewhereKeepsEveryFrameAndTheFreeList) {
    // The kernel copies nothing: the same bytes are reached at a new address. Here the bytes are
    // copied to a second buffer and the first one is wiped, so any use of the old address shows.
    Frames frames = all_free(8);
    const Pfn kernel = take(frames.alloc, PageState::Kernel);
    const Pfn user = take(frames.alloc, PageState::User);
    // frames: [ku ff ffff]
    std::vector<uint8_t> moved(frames.metadata);
    frames.alloc.relocate_metadata(moved.data());
    std::fill(frames.metadata.begin(), frames.metadata.end(), 0xA5);
    EXPECT_EQ(frames.alloc.frame_count(), 8u);
    EXPECT_EQ(draw(frames.alloc, 8), "kuffffff");
    EXPECT_TRUE(frames.alloc.check_consistency());
    ASSERT_TRUE(frames.alloc.free(kernel).ok());
    for (unsigned i = 0; i < 7; ++i) take(frames.alloc);
    EXPECT_EQ(frames.alloc.allocate(PageState::Kernel).error(), AllocError::OutOfMemory);
    EXPECT_EQ(frames.alloc.state(user), PageState::User);
}

TEST(PageFrameAllocator, FrameStatesHaveTheNamesTheMemorySummaryLineUses) {
    // `mm: frames free=<n> kernel=<n> stack=<n> heap=<n> ...` (the log format); three bits each.
    const std::pair<PageState, std::string> names[] = {
        {PageState::Free, "free"},           {PageState::Stack, "stack"},
        {PageState::Kernel, "kernel"},       {PageState::Heap, "heap"},
        {PageState::PageTable, "pagetable"}, {PageState::User, "user"},
        {PageState::Firmware, "firmware"},   {PageState::Absent, "absent"},
    };
    ASSERT_EQ(std::size(names), mm::kPageStateCount);
    for (const auto& [state, name] : names) EXPECT_EQ(mm::page_state_name(state), name);
}

TEST(PageFrameAllocator, EveryErrorHasItsOwnDescription) {
    std::set<std::string> seen;
    for (AllocError error : {AllocError::OutOfMemory, AllocError::NoContiguousRun, AllocError::BadRequest})
        seen.insert(mm::describe(error));
    for (FreeError error : {FreeError::DoubleFree, FreeError::NotManaged}) seen.insert(mm::describe(error));
    EXPECT_EQ(seen.size(), 5u);
    EXPECT_EQ(seen.count("?"), 0u);
}

TEST(Pfn, ConvertsToAndFromPhysicalAddresses) {
    EXPECT_EQ(Pfn::from_address(0x12345678).address(), 0x12345000u);
    EXPECT_EQ(Pfn::from_address(0x12345fff), Pfn{0x12345});
    EXPECT_NE(Pfn::from_address(0x12346000), Pfn{0x12345});
}

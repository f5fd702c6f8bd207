// Checks the frame allocator's fresh runs (the free pool built per region, not per frame) and its
// per-CPU caches: lock-free allocate and free by the owner, refills and drains in batches,
// frames in caches counted as free, stealing from other caches before out of memory, and owners
// and a thief racing on real threads without a frame ever handed out twice.
#include "mm/page_frame_allocator.hpp"

#include <gtest/gtest.h>

#include <stdint.h>

#include <atomic>
#include <mutex>
#include <thread>
#include <vector>

namespace {

using mm::AllocError;
using mm::FrameCache;
using mm::FreeError;
using mm::PageFrameAllocator;
using mm::PageState;
using mm::Pfn;

struct Frames {
    explicit Frames(uint64_t frame_count, unsigned cpus = 0)
        : metadata(PageFrameAllocator::metadata_bytes(frame_count)), caches(cpus) {
        initialised = alloc.init(frame_count, {metadata.data(), metadata.size()});
        if (cpus) alloc.attach_caches(caches.data(), cpus);
    }
    std::vector<uint8_t> metadata;
    std::vector<FrameCache> caches;
    PageFrameAllocator alloc;
    bool initialised = false;
};

void add_frames(PageFrameAllocator& alloc, uint64_t first, uint64_t end) {
    alloc.add_free_range({first * mm::kPageSize, (end - first) * mm::kPageSize});
}

// The owner's path as the kernel takes it: lock-free first, else under the lock.
Pfn allocate_on(PageFrameAllocator& alloc, FrameCache& cache, PageState purpose = PageState::Kernel) {
    Pfn frame{0};
    if (alloc.try_allocate_cached(cache, purpose, frame)) return frame;
    auto result = alloc.allocate_cached_locked(cache, purpose);
    EXPECT_TRUE(result.ok());
    return result.ok() ? result.value() : Pfn{~0ull};
}

void free_on(PageFrameAllocator& alloc, FrameCache& cache, Pfn frame) {
    if (alloc.try_free_cached(cache, frame)) return;
    EXPECT_TRUE(alloc.free_cached_locked(cache, frame).ok());
}

// --- fresh runs ---------------------------------------------------------------------------------

TEST(FreshRuns, BuildingTheFreePoolWritesNoLinks) {
    Frames frames(4096);
    const size_t links_bytes = 4096 * 8;  // the links come first in the metadata
    std::fill_n(frames.metadata.begin(), links_bytes, 0xEE);
    add_frames(frames.alloc, 16, 4096);
    for (size_t i = 0; i < links_bytes; ++i) ASSERT_EQ(frames.metadata[i], 0xEE) << "byte " << i;
    EXPECT_EQ(frames.alloc.count(PageState::Free), 4096u - 16);
    EXPECT_TRUE(frames.alloc.check_consistency());
}

TEST(FreshRuns, LowestFrameOfTheLowestRegionComesFirst) {
    Frames frames(64);
    add_frames(frames.alloc, 40, 64);
    add_frames(frames.alloc, 8, 20);
    EXPECT_EQ(frames.alloc.allocate(PageState::Kernel).value(), Pfn{8});
    EXPECT_EQ(frames.alloc.allocate(PageState::Kernel).value(), Pfn{9});
}

TEST(FreshRuns, FreedFrameIsReusedBeforeAFreshOne) {
    Frames frames(64);
    add_frames(frames.alloc, 0, 64);
    const Pfn first = frames.alloc.allocate(PageState::Kernel).value();
    (void)frames.alloc.allocate(PageState::Kernel);
    ASSERT_TRUE(frames.alloc.free(first).ok());
    EXPECT_EQ(frames.alloc.allocate(PageState::Kernel).value(), first);
}

TEST(FreshRuns, ReservationInsideARunSplitsIt) {
    Frames frames(64);
    add_frames(frames.alloc, 0, 64);
    frames.alloc.reserve_range({10 * mm::kPageSize, 4 * mm::kPageSize}, PageState::Kernel);
    EXPECT_TRUE(frames.alloc.check_consistency());
    EXPECT_EQ(frames.alloc.count(PageState::Free), 60u);
    for (int i = 0; i < 60; ++i) {
        const Pfn frame = frames.alloc.allocate(PageState::User).value();
        EXPECT_TRUE(frame.value < 10 || frame.value >= 14) << frame.value;
    }
    EXPECT_EQ(frames.alloc.allocate(PageState::User).error(), AllocError::OutOfMemory);
}

TEST(FreshRuns, MoreSplitsThanRunSlotsStillKeepEveryFrame) {
    Frames frames(1024);
    add_frames(frames.alloc, 0, 1024);
    // Every fourth frame reserved: far more pieces than kMaxFreshRuns slots.
    for (uint64_t pfn = 2; pfn < 1024; pfn += 4)
        frames.alloc.reserve_range({pfn * mm::kPageSize, mm::kPageSize}, PageState::Firmware);
    ASSERT_TRUE(frames.alloc.check_consistency());
    const uint64_t free_frames = frames.alloc.count(PageState::Free);
    EXPECT_EQ(free_frames, 1024u - 256);
    std::vector<bool> seen(1024);
    for (uint64_t i = 0; i < free_frames; ++i) {
        const Pfn frame = frames.alloc.allocate(PageState::User).value();
        ASSERT_FALSE(seen[frame.value]) << "frame " << frame.value << " handed out twice";
        ASSERT_NE(frame.value % 4, 2u) << "reserved frame " << frame.value << " handed out";
        seen[frame.value] = true;
    }
    EXPECT_EQ(frames.alloc.allocate(PageState::User).error(), AllocError::OutOfMemory);
}

TEST(FreshRuns, ContiguousRunIsCarvedOutOfAFreshRun) {
    Frames frames(256);
    add_frames(frames.alloc, 0, 256);
    auto run = frames.alloc.allocate_run(8, PageState::Stack, 8);
    ASSERT_TRUE(run.ok());
    EXPECT_EQ(frames.alloc.count(PageState::Stack), 8u);
    EXPECT_TRUE(frames.alloc.check_consistency());
}

// --- per-CPU caches -----------------------------------------------------------------------------

TEST(FrameCache, EmptyCacheSendsTheCallToTheLockThenServesLockFree) {
    Frames frames(256, 1);
    add_frames(frames.alloc, 0, 256);
    Pfn frame{0};
    EXPECT_FALSE(frames.alloc.try_allocate_cached(frames.caches[0], PageState::Kernel, frame));
    ASSERT_TRUE(frames.alloc.allocate_cached_locked(frames.caches[0], PageState::Kernel).ok());
    EXPECT_TRUE(frames.alloc.try_allocate_cached(frames.caches[0], PageState::Kernel, frame));
    EXPECT_EQ(frames.alloc.state(frame), PageState::Kernel);
    EXPECT_EQ(frames.alloc.owners(frame), 1u);
}

TEST(FrameCache, FirstFreeIntoAnUnusedCacheTakesTheLockSoTheCacheIsCounted) {
    Frames frames(64, 2);
    add_frames(frames.alloc, 0, 64);
    const Pfn frame = frames.alloc.allocate(PageState::Kernel).value();
    EXPECT_FALSE(frames.alloc.try_free_cached(frames.caches[1], frame));
    ASSERT_TRUE(frames.alloc.free_cached_locked(frames.caches[1], frame).ok());
    EXPECT_EQ(frames.alloc.cached_count(), 1u);
    EXPECT_EQ(frames.alloc.count(PageState::Free), 64u);
    EXPECT_TRUE(frames.alloc.check_consistency());
}

TEST(FrameCache, RefillMovesABatchAndTheLastFrameStaysForTheLock) {
    Frames frames(256, 1);
    add_frames(frames.alloc, 0, 256);
    FrameCache& cache = frames.caches[0];
    ASSERT_TRUE(frames.alloc.allocate_cached_locked(cache, PageState::Kernel).ok());
    EXPECT_EQ(frames.alloc.cached_count(), FrameCache::kBatch - 1);
    Pfn frame{0};
    unsigned lock_free = 0;
    while (frames.alloc.try_allocate_cached(cache, PageState::Kernel, frame)) ++lock_free;
    EXPECT_EQ(lock_free, FrameCache::kBatch - 2);
    EXPECT_EQ(frames.alloc.cached_count(), 1u);
}

TEST(FrameCache, CachedFramesCountAsFreeAndAllocationsMoveTheCounts) {
    Frames frames(256, 1);
    add_frames(frames.alloc, 0, 256);
    FrameCache& cache = frames.caches[0];
    const Pfn a = allocate_on(frames.alloc, cache, PageState::User);
    const Pfn b = allocate_on(frames.alloc, cache, PageState::PageTable);
    EXPECT_EQ(frames.alloc.count(PageState::Free), 254u);
    EXPECT_EQ(frames.alloc.count(PageState::User), 1u);
    EXPECT_EQ(frames.alloc.count(PageState::PageTable), 1u);
    EXPECT_TRUE(frames.alloc.check_consistency());
    free_on(frames.alloc, cache, a);
    free_on(frames.alloc, cache, b);
    EXPECT_EQ(frames.alloc.count(PageState::Free), 256u);
    EXPECT_EQ(frames.alloc.count(PageState::User), 0u);
    EXPECT_TRUE(frames.alloc.check_consistency());
}

TEST(FrameCache, FreedFrameIsTheNextOneTheOwnerGets) {
    Frames frames(256, 1);
    add_frames(frames.alloc, 0, 256);
    FrameCache& cache = frames.caches[0];
    (void)allocate_on(frames.alloc, cache);
    const Pfn frame = allocate_on(frames.alloc, cache);
    ASSERT_TRUE(frames.alloc.try_free_cached(cache, frame));
    EXPECT_EQ(allocate_on(frames.alloc, cache), frame);
}

TEST(FrameCache, DoubleFreeIsRefusedByTheLockedPath) {
    Frames frames(256, 1);
    add_frames(frames.alloc, 0, 256);
    FrameCache& cache = frames.caches[0];
    const Pfn frame = allocate_on(frames.alloc, cache);
    free_on(frames.alloc, cache, frame);
    EXPECT_FALSE(frames.alloc.try_free_cached(cache, frame));
    auto again = frames.alloc.free_cached_locked(cache, frame);
    ASSERT_FALSE(again.ok());
    EXPECT_EQ(again.error(), FreeError::DoubleFree);
}

TEST(FrameCache, FreeOfAForeignOrFirmwareFrameIsNotManaged) {
    Frames frames(256, 1);
    add_frames(frames.alloc, 16, 256);
    frames.alloc.reserve_range({16 * mm::kPageSize, mm::kPageSize}, PageState::Firmware);
    FrameCache& cache = frames.caches[0];
    for (Pfn frame : {Pfn{3}, Pfn{16}, Pfn{999}}) {
        EXPECT_FALSE(frames.alloc.try_free_cached(cache, frame));
        EXPECT_EQ(frames.alloc.free_cached_locked(cache, frame).error(), FreeError::NotManaged) << frame.value;
    }
}

TEST(FrameCache, SharedFrameIsLeftToTheLockWhichKeepsItsOwners) {
    Frames frames(256, 1);
    add_frames(frames.alloc, 0, 256);
    FrameCache& cache = frames.caches[0];
    const Pfn frame = allocate_on(frames.alloc, cache, PageState::User);
    ASSERT_EQ(frames.alloc.share(frame).value(), 2u);
    EXPECT_FALSE(frames.alloc.try_free_cached(cache, frame));
    EXPECT_EQ(frames.alloc.release(frame).value(), 1u);
    EXPECT_EQ(frames.alloc.shared_count(), 0u);
    EXPECT_TRUE(frames.alloc.try_free_cached(cache, frame));  // one owner again
    EXPECT_TRUE(frames.alloc.check_consistency());
}

TEST(FrameCache, FreeingASharedFrameOutrightKeepsTheSharedCountTrue) {
    Frames frames(256, 1);
    add_frames(frames.alloc, 0, 256);
    FrameCache& cache = frames.caches[0];
    const Pfn frame = allocate_on(frames.alloc, cache, PageState::User);
    ASSERT_TRUE(frames.alloc.share(frame).ok());
    ASSERT_TRUE(frames.alloc.free_cached_locked(cache, frame).ok());
    EXPECT_EQ(frames.alloc.shared_count(), 0u);
    EXPECT_EQ(frames.alloc.state(frame), PageState::Free);
    EXPECT_TRUE(frames.alloc.check_consistency());
}

TEST(FrameCache, FullCacheDrainsHalfToTheListUnderTheLock) {
    Frames frames(256, 1);
    add_frames(frames.alloc, 0, 256);
    FrameCache& cache = frames.caches[0];
    std::vector<Pfn> taken;
    for (unsigned i = 0; i < 2 * FrameCache::kCapacity; ++i) taken.push_back(frames.alloc.allocate(PageState::Kernel).value());
    unsigned lock_free = 0;
    for (Pfn frame : taken) {
        if (frames.alloc.try_free_cached(cache, frame)) {
            ++lock_free;
            continue;
        }
        const uint64_t before = frames.alloc.cached_count();
        ASSERT_TRUE(frames.alloc.free_cached_locked(cache, frame).ok());
        EXPECT_EQ(frames.alloc.cached_count(),
                  before == FrameCache::kCapacity ? FrameCache::kCapacity - FrameCache::kBatch + 1 : before + 1);
    }
    EXPECT_GT(lock_free, 0u);
    EXPECT_LE(frames.alloc.cached_count(), FrameCache::kCapacity);
    EXPECT_EQ(frames.alloc.count(PageState::Free), 256u);
    EXPECT_TRUE(frames.alloc.check_consistency());
}

// The lock-free free checks `bottom` against the owner's bound (top + capacity as seen under the
// lock), not against `top`: after a thief moved `top`, the bound is stale low, so a free goes to
// the lock early, never into a full cache.
TEST(FrameCache, AfterAStealTheOwnersRoomBoundIsStaleLowNeverHigh) {
    Frames frames(64, 2);
    add_frames(frames.alloc, 0, 64);
    FrameCache& owner = frames.caches[0];
    FrameCache& thief = frames.caches[1];
    std::vector<Pfn> taken;
    for (unsigned i = 0; i < 64; ++i) taken.push_back(frames.alloc.allocate(PageState::Kernel).value());
    for (unsigned i = 0; i < FrameCache::kCapacity; ++i) free_on(frames.alloc, owner, taken[i]);
    ASSERT_EQ(frames.alloc.cached_count(), FrameCache::kCapacity);
    EXPECT_FALSE(frames.alloc.try_free_cached(owner, taken[FrameCache::kCapacity]));  // full
    // List and runs are empty: the thief's allocation takes the owner's oldest frame.
    ASSERT_TRUE(frames.alloc.allocate_cached_locked(thief, PageState::Kernel).ok());
    EXPECT_EQ(frames.alloc.cached_count(), FrameCache::kCapacity - 1u);
    EXPECT_FALSE(frames.alloc.try_free_cached(owner, taken[FrameCache::kCapacity]));  // stale bound
    ASSERT_TRUE(frames.alloc.free_cached_locked(owner, taken[FrameCache::kCapacity]).ok());
    EXPECT_EQ(frames.alloc.cached_count(), FrameCache::kCapacity);
    EXPECT_FALSE(frames.alloc.try_free_cached(owner, taken[FrameCache::kCapacity + 1]));  // full again
    EXPECT_EQ(frames.alloc.count(PageState::Free), uint64_t{FrameCache::kCapacity});
    EXPECT_TRUE(frames.alloc.check_consistency());
}

TEST(FrameCache, BadPurposeIsABadRequest) {
    Frames frames(64, 1);
    add_frames(frames.alloc, 0, 64);
    Pfn frame{0};
    for (PageState purpose : {PageState::Free, PageState::Absent, PageState::Firmware}) {
        EXPECT_FALSE(frames.alloc.try_allocate_cached(frames.caches[0], purpose, frame));
        EXPECT_EQ(frames.alloc.allocate_cached_locked(frames.caches[0], purpose).error(), AllocError::BadRequest);
    }
}

TEST(FrameCache, AllocationStealsFromOtherCachesBeforeOutOfMemory) {
    Frames frames(64, 2);
    add_frames(frames.alloc, 0, 64);
    // CPU 1 takes and frees a few: they sit in its cache.
    std::vector<Pfn> on_one;
    for (int i = 0; i < 4; ++i) on_one.push_back(allocate_on(frames.alloc, frames.caches[1]));
    for (Pfn frame : on_one) free_on(frames.alloc, frames.caches[1], frame);
    ASSERT_GT(frames.alloc.cached_count(), 0u);
    // CPU 0 gets every free frame, those in CPU 1's cache included.
    uint64_t taken = 0;
    for (;;) {
        Pfn frame{0};
        if (frames.alloc.try_allocate_cached(frames.caches[0], PageState::User, frame)) {
            ++taken;
            continue;
        }
        auto result = frames.alloc.allocate_cached_locked(frames.caches[0], PageState::User);
        if (!result) {
            EXPECT_EQ(result.error(), AllocError::OutOfMemory);
            break;
        }
        ++taken;
    }
    EXPECT_EQ(taken, 64u);
    EXPECT_EQ(frames.alloc.cached_count(), 0u);
    EXPECT_TRUE(frames.alloc.check_consistency());
}

TEST(FrameCache, ContiguousRunTakesBackFramesSittingInCaches) {
    Frames frames(32, 1);
    add_frames(frames.alloc, 0, 32);
    std::vector<Pfn> taken;
    for (int i = 0; i < 32; ++i) taken.push_back(frames.alloc.allocate(PageState::User).value());
    for (Pfn frame : taken) free_on(frames.alloc, frames.caches[0], frame);
    ASSERT_GT(frames.alloc.cached_count(), 0u);
    auto run = frames.alloc.allocate_run(32, PageState::Stack);
    ASSERT_TRUE(run.ok()) << mm::describe(run.error());
    EXPECT_EQ(frames.alloc.count(PageState::Stack), 32u);
    EXPECT_TRUE(frames.alloc.check_consistency());
}

TEST(FrameCache, CachedFramesAreNotHandedOutAsPartOfARun) {
    Frames frames(64, 1);
    add_frames(frames.alloc, 0, 64);
    FrameCache& cache = frames.caches[0];
    (void)allocate_on(frames.alloc, cache);  // the cache now holds a batch of low frames
    auto run = frames.alloc.allocate_run(4, PageState::Stack);
    ASSERT_TRUE(run.ok());
    for (uint64_t i = 0; i < 4; ++i) {
        Pfn frame{0};
        while (frames.alloc.try_allocate_cached(cache, PageState::Kernel, frame))
            ASSERT_NE(frame.value, run.value().value + i) << "a run frame was still in the cache";
    }
    EXPECT_TRUE(frames.alloc.check_consistency());
}

// Two owners allocate and free through their caches (lock-free where they can, else under the
// mutex standing for the kernel's lock) while a third thread, under the mutex, keeps the pool
// empty so that allocations steal. A frame handed to two holders at once fails the test.
TEST(FrameCache, OwnersAndAThiefNeverHandOutAFrameTwice) {
    constexpr uint64_t kFrameCount = 96;
    constexpr unsigned kRounds = 20000;
    Frames frames(kFrameCount, 3);
    add_frames(frames.alloc, 0, kFrameCount);
    std::mutex lock;
    std::vector<std::atomic<int>> holder(kFrameCount);
    std::atomic<bool> twice{false};
    auto claim = [&](Pfn frame, int who) {
        int expected = 0;
        if (!holder[frame.value].compare_exchange_strong(expected, who)) twice = true;
    };
    auto unclaim = [&](Pfn frame) { holder[frame.value] = 0; };

    auto owner = [&](unsigned cpu) {
        FrameCache& cache = frames.caches[cpu];
        std::vector<Pfn> mine;
        for (unsigned round = 0; round < kRounds; ++round) {
            if (mine.size() < 8 && (round % 3) != 2) {
                Pfn frame{0};
                if (!frames.alloc.try_allocate_cached(cache, PageState::User, frame)) {
                    std::lock_guard<std::mutex> guard(lock);
                    auto result = frames.alloc.allocate_cached_locked(cache, PageState::User);
                    if (!result) continue;
                    frame = result.value();
                }
                claim(frame, static_cast<int>(cpu) + 1);
                mine.push_back(frame);
            } else if (!mine.empty()) {
                const Pfn frame = mine.back();
                mine.pop_back();
                unclaim(frame);
                if (!frames.alloc.try_free_cached(cache, frame)) {
                    std::lock_guard<std::mutex> guard(lock);
                    EXPECT_TRUE(frames.alloc.free_cached_locked(cache, frame).ok());
                }
            }
        }
        for (Pfn frame : mine) {
            unclaim(frame);
            std::lock_guard<std::mutex> guard(lock);
            EXPECT_TRUE(frames.alloc.free_cached_locked(cache, frame).ok());
        }
    };
    auto thief = [&] {
        std::vector<Pfn> hoard;
        for (unsigned round = 0; round < kRounds; ++round) {
            std::lock_guard<std::mutex> guard(lock);
            if (hoard.size() < kFrameCount / 2) {
                auto result = frames.alloc.allocate(PageState::Kernel);  // steals once the pool is empty
                if (result) {
                    claim(result.value(), 9);
                    hoard.push_back(result.value());
                }
            } else {
                for (Pfn frame : hoard) {
                    unclaim(frame);
                    EXPECT_TRUE(frames.alloc.free(frame).ok());
                }
                hoard.clear();
            }
        }
        std::lock_guard<std::mutex> guard(lock);
        for (Pfn frame : hoard) {
            unclaim(frame);
            EXPECT_TRUE(frames.alloc.free(frame).ok());
        }
    };
    std::thread a(owner, 0), b(owner, 1), c(thief);
    a.join();
    b.join();
    c.join();
    EXPECT_FALSE(twice) << "a frame was handed to two holders at once";
    EXPECT_EQ(frames.alloc.count(PageState::Free), kFrameCount);
    EXPECT_EQ(frames.alloc.count(PageState::User), 0u);
    EXPECT_EQ(frames.alloc.count(PageState::Kernel), 0u);
    EXPECT_TRUE(frames.alloc.check_consistency());
}

}  // namespace

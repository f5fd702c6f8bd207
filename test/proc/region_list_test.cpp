// RegionList: the mmap regions of an address space — placement, splits on partial unmap and
// protect, merging of equal neighbours, and refusal with nothing changed when full.
#include "proc/region_list.hpp"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include <sable/abi.h>

namespace {

using kernel::process::Region;
using kernel::process::RegionList;

constexpr uint64_t kPage = 4096;
constexpr uint64_t kBase = SABLE_MMAP_BASE;
constexpr uint32_t kRW = SABLE_PROT_READ | SABLE_PROT_WRITE;
constexpr uint32_t kR = SABLE_PROT_READ;

struct List {
    explicit List(unsigned capacity) : storage(capacity), list(storage.data(), capacity) {}
    std::vector<Region> storage;
    RegionList list;
};

Region region(uint64_t first_page, uint64_t pages, uint32_t prot = kRW, uint32_t flags = SABLE_MAP_PRIVATE) {
    return {kBase + first_page * kPage, kBase + (first_page + pages) * kPage, prot, flags};
}

// "[0,2)rw [5,6)r" in pages from kBase: what the list holds, to compare against a drawing.
std::string draw(const RegionList& list) {
    std::string out;
    for (unsigned i = 0; i < list.count(); ++i) {
        const Region& r = list.at(i);
        if (!out.empty()) out += ' ';
        out += "[" + std::to_string((r.start - kBase) / kPage) + "," + std::to_string((r.end - kBase) / kPage) + ")";
        out += (r.prot & SABLE_PROT_WRITE) ? "rw" : (r.prot & SABLE_PROT_READ) ? "r" : "-";
        if (r.flags & SABLE_MAP_SHARED) out += "s";
    }
    return out;
}

TEST(RegionList, FindsTheRegionHoldingAnAddress) {
    List l(8);
    ASSERT_TRUE(l.list.insert(region(0, 2)));
    ASSERT_TRUE(l.list.insert(region(5, 1, kR)));
    EXPECT_EQ(draw(l.list), "[0,2)rw [5,6)r");
    EXPECT_NE(l.list.find(kBase), nullptr);
    EXPECT_NE(l.list.find(kBase + 2 * kPage - 1), nullptr);
    EXPECT_EQ(l.list.find(kBase + 2 * kPage), nullptr);
    EXPECT_EQ(l.list.find(kBase + 5 * kPage)->prot, kR);
    EXPECT_EQ(l.list.find(kBase - 1), nullptr);
}

TEST(RegionList, EqualNeighboursMerge) {
    List l(8);
    l.list.insert(region(0, 1));
    l.list.insert(region(2, 1));
    l.list.insert(region(1, 1));  // fills the gap: one region
    EXPECT_EQ(draw(l.list), "[0,3)rw");
    l.list.insert(region(3, 1, kR));  // different rights: separate
    l.list.insert(region(4, 1, kRW, SABLE_MAP_SHARED));  // different sharing: separate
    EXPECT_EQ(draw(l.list), "[0,3)rw [3,4)r [4,5)rws");
}

TEST(RegionList, GapsFollowTheHintThenTheFirstFit) {
    List l(8);
    const uint64_t top = kBase + 100 * kPage;
    EXPECT_EQ(l.list.find_gap(2 * kPage, kBase, top, 0), kBase);
    l.list.insert(region(0, 2));
    l.list.insert(region(3, 2));
    EXPECT_EQ(l.list.find_gap(kPage, kBase, top, 0), kBase + 2 * kPage);      // the hole
    EXPECT_EQ(l.list.find_gap(2 * kPage, kBase, top, 0), kBase + 5 * kPage);  // too small a hole
    EXPECT_EQ(l.list.find_gap(kPage, kBase, top, kBase + 50 * kPage), kBase + 50 * kPage);  // free hint
    EXPECT_EQ(l.list.find_gap(kPage, kBase, top, kBase + 3 * kPage), kBase + 5 * kPage);   // taken hint
    EXPECT_EQ(l.list.find_gap(101 * kPage, kBase, top, 0), 0u);  // larger than the window
    EXPECT_EQ(l.list.find_gap(96 * kPage, kBase, top, 0), 0u);   // no hole that large
    EXPECT_EQ(l.list.find_gap(95 * kPage, kBase, top, 0), kBase + 5 * kPage);
}

TEST(RegionList, PartialUnmapsSplitAndTrim) {
    List l(8);
    l.list.insert(region(0, 10));
    ASSERT_TRUE(l.list.remove(kBase + 4 * kPage, kBase + 6 * kPage));  // a hole
    EXPECT_EQ(draw(l.list), "[0,4)rw [6,10)rw");
    ASSERT_TRUE(l.list.remove(kBase + 3 * kPage, kBase + 7 * kPage));  // trims both sides
    EXPECT_EQ(draw(l.list), "[0,3)rw [7,10)rw");
    ASSERT_TRUE(l.list.remove(kBase, kBase + kPage));  // the front
    ASSERT_TRUE(l.list.remove(kBase + 9 * kPage, kBase + 20 * kPage));  // past the end
    EXPECT_EQ(draw(l.list), "[1,3)rw [7,9)rw");
    ASSERT_TRUE(l.list.remove(kBase, kBase + 100 * kPage));  // everything
    EXPECT_EQ(l.list.count(), 0u);
    ASSERT_TRUE(l.list.remove(kBase, kBase + kPage));  // nothing there: fine
}

TEST(RegionList, ProtectSplitsAndMergesBack) {
    List l(8);
    l.list.insert(region(0, 10));
    EXPECT_TRUE(l.list.covers(kBase, kBase + 10 * kPage));
    EXPECT_FALSE(l.list.covers(kBase, kBase + 11 * kPage));
    ASSERT_TRUE(l.list.protect(kBase + 2 * kPage, kBase + 4 * kPage, kR));
    EXPECT_EQ(draw(l.list), "[0,2)rw [2,4)r [4,10)rw");
    ASSERT_TRUE(l.list.protect(kBase + 2 * kPage, kBase + 4 * kPage, kRW));
    EXPECT_EQ(draw(l.list), "[0,10)rw");
}

TEST(RegionList, AFullListRefusesWithNothingChanged) {
    List l(2);
    l.list.insert(region(0, 10));
    l.list.insert(region(20, 10, kR));
    EXPECT_FALSE(l.list.insert(region(40, 1)));         // a third entry
    EXPECT_TRUE(l.list.insert(region(10, 2)));          // merges with the first: fits
    EXPECT_EQ(draw(l.list), "[0,12)rw [20,30)r");
    EXPECT_FALSE(l.list.remove(kBase + kPage, kBase + 2 * kPage));  // a hole needs an entry
    EXPECT_FALSE(l.list.protect(kBase + kPage, kBase + 2 * kPage, kR));
    EXPECT_EQ(draw(l.list), "[0,12)rw [20,30)r");
    EXPECT_TRUE(l.list.remove(kBase + 11 * kPage, kBase + 21 * kPage));  // trims: no new entry
    EXPECT_EQ(draw(l.list), "[0,11)rw [21,30)r");
}

TEST(RegionList, AFullListTakesARegionThatJoinsTheNextOrBothNeighbours) {
    List l(2);
    l.list.insert(region(0, 4));
    l.list.insert(region(10, 4));
    EXPECT_TRUE(l.list.insert(region(8, 2)));  // joins [10,14) from below
    EXPECT_EQ(draw(l.list), "[0,4)rw [8,14)rw");
    EXPECT_TRUE(l.list.insert(region(4, 4)));  // fills the gap: the two become one
    EXPECT_EQ(draw(l.list), "[0,14)rw");
    EXPECT_EQ(l.list.count(), 1u);
}

TEST(RegionList, AFullListRefusesANeighbourThatDiffers) {
    List l(2);
    l.list.insert(region(0, 4));
    l.list.insert(region(10, 4));
    EXPECT_FALSE(l.list.insert(region(8, 2, kR)));                         // other protection
    EXPECT_FALSE(l.list.insert(region(4, 2, kRW, SABLE_MAP_SHARED)));      // other sharing
    EXPECT_EQ(draw(l.list), "[0,4)rw [10,14)rw");
}

TEST(RegionList, AForkCopiesEveryRegion) {
    List parent(4);
    parent.list.insert(region(0, 2));
    parent.list.insert(region(5, 1, kR, SABLE_MAP_SHARED));
    List child(4);
    child.list.insert(region(30, 1));  // replaced, not kept
    ASSERT_TRUE(child.list.copy_from(parent.list));
    EXPECT_EQ(draw(child.list), "[0,2)rw [5,6)rs");
    EXPECT_EQ(draw(parent.list), "[0,2)rw [5,6)rs");
}

TEST(RegionList, AForkIntoAListTooSmallCopiesNothing) {
    List parent(4);
    parent.list.insert(region(0, 2));
    parent.list.insert(region(5, 1, kR));
    parent.list.insert(region(9, 1));
    List child(2);
    child.list.insert(region(30, 1));
    EXPECT_FALSE(child.list.copy_from(parent.list));
    EXPECT_EQ(draw(child.list), "[30,31)rw");
    EXPECT_EQ(child.list.capacity(), 2u);
}

TEST(RegionList, RandomOperationsMatchAPageModel) {
    // Against a model with one prot value per page: every operation, whatever it splits or
    // merges, leaves the list describing exactly the model's pages, sorted and disjoint.
    constexpr unsigned kPages = 64;
    List l(32);
    std::vector<int> model(kPages, -1);  // -1: unmapped, else prot
    std::mt19937_64 random(12345);
    for (int step = 0; step < 20000; ++step) {
        const unsigned first = random() % kPages;
        const unsigned count = 1 + random() % (kPages - first);
        const uint64_t start = kBase + first * kPage, end = start + count * kPage;
        const uint32_t prot = random() % 2 ? kRW : kR;
        switch (random() % 3) {
        case 0:
            if (l.list.overlaps(start, end)) break;
            if (l.list.insert({start, end, prot, SABLE_MAP_PRIVATE}))
                for (unsigned p = first; p < first + count; ++p) model[p] = static_cast<int>(prot);
            break;
        case 1:
            if (l.list.remove(start, end))
                for (unsigned p = first; p < first + count; ++p) model[p] = -1;
            break;
        case 2:
            if (!l.list.covers(start, end)) break;
            if (l.list.protect(start, end, prot))
                for (unsigned p = first; p < first + count; ++p) model[p] = static_cast<int>(prot);
            break;
        }
        for (unsigned i = 0; i < l.list.count(); ++i) {
            const Region& r = l.list.at(i);
            ASSERT_LT(r.start, r.end);
            if (i > 0) ASSERT_LE(l.list.at(i - 1).end, r.start);
            if (i > 0 && l.list.at(i - 1).end == r.start) ASSERT_NE(l.list.at(i - 1).prot, r.prot) << "unmerged";
        }
        for (unsigned p = 0; p < kPages; ++p) {
            const Region* r = l.list.find(kBase + p * kPage);
            ASSERT_EQ(r ? static_cast<int>(r->prot) : -1, model[p]) << "page " << p << " after step " << step;
        }
    }
}

}  // namespace

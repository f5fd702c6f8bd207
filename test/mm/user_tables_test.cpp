// Checks the summary-guided page-table walks of src/mm/user_tables.hpp over a fake arena of
// page-table pages: mark_path's summaries, release_tree finding and freeing everything that was
// marked, share_tree building a twin tree, and running out of tables halfway through a share.
#include "mm/user_tables.hpp"

#include <gtest/gtest.h>

#include <stdint.h>

#include <algorithm>
#include <map>
#include <vector>

namespace {

namespace pte = arch::pte;
namespace ut = mm::user_tables;
using mm::AddressSpace;
using mm::Pfn;

constexpr uint64_t kPage = mm::kPageSize;
constexpr uint32_t kUserWritable = mm::kPageUser | mm::kPageWritable;

// Page-table pages [kArenaBase, ...) backed by a vector; a page handed out starts as garbage (so
// a walk that forgets to zero a new table maps junk), and freeing a dead page fails the test.
class FakeTables final : public mm::PageTableMemory {
public:
    static constexpr uint64_t kArenaBase = 0x100000;
    static constexpr uint64_t kGarbage = 0xA5A5A5A5A5A5A5A5;
    static constexpr uint64_t kPages = 64;

    FakeTables() : m_arena(kPages * pte::kEntriesPerTable, kGarbage), m_live(kPages) {}

    kstd::Result<Pfn, mm::AllocError> allocate_table() override {
        if (m_budget == 0) return kstd::fail(mm::AllocError::OutOfMemory);
        --m_budget;
        for (uint64_t i = 0; i < kPages; ++i) {
            if (m_live[i]) continue;
            m_live[i] = true;
            std::fill_n(page(i), pte::kEntriesPerTable, kGarbage);
            return Pfn::from_address(kArenaBase + i * kPage);
        }
        return kstd::fail(mm::AllocError::OutOfMemory);
    }
    void free_table(Pfn table) override {
        ASSERT_TRUE(is_live(table)) << "freeing a table that is not live";
        m_live[index_of(table)] = false;
    }
    uint64_t* table_entries(Pfn table) override {
        EXPECT_TRUE(is_live(table)) << "reading a table that is not live";
        return page(index_of(table));
    }
    void invalidate(uint64_t) override {}
    bool no_execute_supported() const override { return true; }
    bool huge_1g_supported() const override { return false; }

    void set_budget(uint64_t tables) { m_budget = tables; }
    uint64_t live() const { return static_cast<uint64_t>(std::count(m_live.begin(), m_live.end(), true)); }

private:
    uint64_t index_of(Pfn table) const { return (table.address() - kArenaBase) / kPage; }
    bool is_live(Pfn table) const {
        return table.address() >= kArenaBase && index_of(table) < kPages && m_live[index_of(table)];
    }
    uint64_t* page(uint64_t index) { return m_arena.data() + index * pte::kEntriesPerTable; }

    std::vector<uint64_t> m_arena;
    std::vector<bool> m_live;
    uint64_t m_budget = ~0ull;
};

// A space whose pages are mapped through AddressSpace::map and marked as user_memory marks them.
struct MarkedSpace {
    FakeTables& tables;
    AddressSpace space;
    uint64_t root_summary = 0;  // an entry's bits, as user_memory keeps it in the top level's entry 0

    explicit MarkedSpace(FakeTables& memory) : tables(memory), space(AddressSpace::create(memory).value()) {}
    void map(uint64_t virt, uint64_t phys) {
        ASSERT_TRUE(space.map(kstd::VirtAddr{virt}, kstd::PhysAddr{phys}, kPage, kUserWritable).ok());
        root_summary |= ut::summary_bit(pte::index(virt, 3));
        ut::mark_path(tables, root(), 3, virt);
    }
    uint64_t* root() { return tables.table_entries(space.root()); }
    // Every page under the top level (all of it), released, and every table but the top freed.
    std::map<uint64_t, uint64_t> release_all() {
        std::map<uint64_t, uint64_t> released;  // virt -> frame
        auto leaf = [&](uint64_t virt, uint64_t& entry) { released[virt] = pte::leaf_address(entry, 0); };
        ut::release_tree(tables, root(), ut::summary_of(root_summary), 3, 0, 0, leaf);
        return released;
    }
};

constexpr uint64_t kLow = 0x08000000;            // top-level entry 0, directory entry 64
constexpr uint64_t kStackPage = 0x3FFFF000;      // directory entry 511, table entry 511
constexpr uint64_t kHigh = 0x0000020000000000;   // top-level entry 4

TEST(UserTables, TheSummaryBitsAreOutsideTheAddressAndAreIgnoredByTheWalk) {
    FakeTables tables;
    MarkedSpace marked(tables);
    marked.map(kLow, 0x5000);
    uint64_t* root = marked.root();
    EXPECT_NE(ut::summary_of(root[0]), 0u) << "the path's top-level entry carries a summary";
    auto found = marked.space.translate(kLow);
    ASSERT_TRUE(found.ok());
    EXPECT_EQ(found.value().phys_addr, 0x5000u);
    marked.release_all();
}

TEST(UserTables, MarkPathSetsTheGroupOfTheNextEntryAtEveryLevel) {
    FakeTables tables;
    MarkedSpace marked(tables);
    marked.map(kStackPage, 0x7000);
    EXPECT_EQ(marked.root_summary, ut::summary_bit(pte::index(kStackPage, 3))) << "the caller's part";
    uint64_t* table = marked.root();
    for (unsigned level = 3; level > 0; --level) {
        const uint64_t entry = table[pte::index(kStackPage, level)];
        EXPECT_EQ(ut::summary_of(entry), 1u << (pte::index(kStackPage, level - 1) / ut::kEntriesPerGroup))
            << "level " << level;
        table = tables.table_entries(Pfn::from_address(pte::next_table(entry)));
    }
    marked.release_all();
}

TEST(UserTables, MarkPathStopsAtTheFirstAbsentEntry) {
    FakeTables tables;
    MarkedSpace marked(tables);
    marked.map(kLow, 0x5000);
    const uint64_t path_before = marked.root()[pte::index(kLow, 3)];
    ut::mark_path(tables, marked.root(), 3, kHigh);  // nothing mapped there
    EXPECT_EQ(marked.root()[pte::index(kHigh, 3)], 0u) << "an absent entry stays all zero";
    EXPECT_EQ(marked.root()[pte::index(kLow, 3)], path_before);
    ut::mark_path(tables, marked.root(), 3, kLow + 2 * pte::level_size(1));  // a directory entry not there
    uint64_t* directory = tables.table_entries(Pfn::from_address(pte::next_table(
        tables.table_entries(Pfn::from_address(pte::next_table(path_before)))[pte::index(kLow, 2)])));
    EXPECT_EQ(directory[pte::index(kLow, 1) + 2], 0u);
    marked.release_all();
    marked.space.destroy();
}

TEST(UserTables, ReleaseTreeFindsEveryMarkedPageAndFreesEveryTableBelowTheTop) {
    FakeTables tables;
    MarkedSpace marked(tables);
    const std::map<uint64_t, uint64_t> mapped = {
        {kLow, 0x10000}, {kLow + kPage, 0x11000}, {kLow + 100 * kPage, 0x12000}, {kStackPage, 0x13000}, {kHigh, 0x14000}};
    for (const auto& [virt, phys] : mapped) marked.map(virt, phys);
    EXPECT_EQ(marked.release_all(), mapped);
    EXPECT_EQ(tables.live(), 1u) << "only the top level is left";
    for (unsigned i = 0; i < pte::kEntriesPerTable; ++i) EXPECT_FALSE(pte::is_present(marked.root()[i])) << i;
    tables.free_table(marked.space.root());
}

TEST(UserTables, ReleaseTreeLeavesEntriesBeforeFirstAlone) {
    FakeTables tables;
    MarkedSpace marked(tables);
    marked.map(kLow, 0x10000);
    marked.map(kHigh, 0x20000);
    std::vector<uint64_t> released;
    auto leaf = [&](uint64_t virt, uint64_t&) { released.push_back(virt); };
    ut::release_tree(tables, marked.root(), ut::summary_of(marked.root_summary), 3, 0, 1, leaf);
    EXPECT_EQ(released, std::vector<uint64_t>{kHigh});
    EXPECT_TRUE(marked.space.translate(kLow).ok()) << "entry 0's subtree is untouched";
    marked.release_all();
}

TEST(UserTables, APageMappedWithoutMarkingIsNotFound) {
    FakeTables tables;
    MarkedSpace marked(tables);
    marked.map(kLow, 0x10000);
    // Same table, another summary group, no mark_path: the walk trusts the summary.
    ASSERT_TRUE(marked.space.map(kstd::VirtAddr{kLow + 300 * kPage}, kstd::PhysAddr{0x11000}, kPage, kUserWritable).ok());
    const auto released = marked.release_all();
    EXPECT_EQ(released.count(kLow), 1u);
    EXPECT_EQ(released.count(kLow + 300 * kPage), 0u);
}

TEST(UserTables, ShareTreeGivesEveryPageToATwinTreeWithTheSameSummaries) {
    FakeTables tables;
    MarkedSpace parent(tables);
    const std::map<uint64_t, uint64_t> mapped = {{kLow, 0x10000}, {kStackPage, 0x13000}, {kHigh, 0x14000}};
    for (const auto& [virt, phys] : mapped) parent.map(virt, phys);
    MarkedSpace child(tables);
    child.root_summary = parent.root_summary;
    std::vector<uint64_t> shared;
    auto share = [&](uint64_t virt, uint64_t& entry) {
        shared.push_back(virt);
        entry &= ~pte::kWritable;  // the source may change too (copy-on-write)
        return entry;
    };
    ASSERT_TRUE(ut::share_tree(tables, parent.root(), child.root(), ut::summary_of(parent.root_summary), 3, 0,
                               0, share));
    EXPECT_EQ(shared, (std::vector<uint64_t>{kLow, kStackPage, kHigh}));
    for (const auto& [virt, phys] : mapped) {
        for (MarkedSpace* side : {&parent, &child}) {
            auto found = side->space.translate(virt);
            ASSERT_TRUE(found.ok()) << std::hex << virt;
            EXPECT_EQ(found.value().phys_addr, phys);
            EXPECT_FALSE(found.value().flags & mm::kPageWritable);
        }
    }
    const auto child_table = [&](uint64_t virt) { return child.root()[pte::index(virt, 3)]; };
    EXPECT_EQ(ut::summary_of(child_table(kHigh)), ut::summary_of(parent.root()[pte::index(kHigh, 3)]));
    EXPECT_EQ(child.release_all(), mapped);
    EXPECT_EQ(parent.release_all(), mapped);
    tables.free_table(child.space.root());
    tables.free_table(parent.space.root());
    EXPECT_EQ(tables.live(), 0u);
}

TEST(UserTables, ASharedTreeThatRanOutOfTablesReleasesWhatItCopied) {
    FakeTables tables;
    MarkedSpace parent(tables);
    parent.map(kLow, 0x10000);
    parent.map(kHigh, 0x14000);
    MarkedSpace child(tables);
    child.root_summary = parent.root_summary;
    tables.set_budget(4);  // the low window's three tables below the top, then one of the high's
    unsigned shares = 0;
    auto share = [&](uint64_t, uint64_t& entry) {
        ++shares;
        return entry;
    };
    EXPECT_FALSE(ut::share_tree(tables, parent.root(), child.root(), ut::summary_of(parent.root_summary), 3, 0,
                                0, share));
    EXPECT_EQ(shares, 1u);
    tables.set_budget(~0ull);
    EXPECT_EQ(child.release_all(), (std::map<uint64_t, uint64_t>{{kLow, 0x10000}}));
    parent.release_all();
    tables.free_table(child.space.root());
    tables.free_table(parent.space.root());
    EXPECT_EQ(tables.live(), 0u) << "a table of the half-made twin leaked";
}

TEST(UserTables, LeafTableMakesTheMissingTablesZeroedAndMarksThePath) {
    FakeTables tables;
    MarkedSpace marked(tables);
    marked.root_summary |= ut::summary_bit(pte::index(kHigh, 3));
    uint64_t* leaves = ut::leaf_table(tables, marked.root(), 3, kHigh);
    ASSERT_NE(leaves, nullptr);
    EXPECT_TRUE(std::all_of(leaves, leaves + pte::kEntriesPerTable, [](uint64_t e) { return e == 0; }));
    leaves[pte::index(kHigh, 0)] = 0x14000 | pte::kPresent | pte::kUser;
    auto found = marked.space.translate(kHigh);
    ASSERT_TRUE(found.ok());
    EXPECT_EQ(found.value().phys_addr, 0x14000u);
    EXPECT_TRUE(found.value().flags & mm::kPageUser);
    EXPECT_EQ(ut::leaf_table(tables, marked.root(), 3, kHigh + kPage), leaves) << "the same table, not a new one";
    EXPECT_EQ(marked.release_all(), (std::map<uint64_t, uint64_t>{{kHigh, 0x14000}}));
}

TEST(UserTables, LeafTableOutOfTablesReturnsNullAndLeavesWhatItMadeReleasable) {
    FakeTables tables;
    MarkedSpace marked(tables);
    marked.root_summary |= ut::summary_bit(pte::index(kHigh, 3));
    tables.set_budget(2);
    EXPECT_EQ(ut::leaf_table(tables, marked.root(), 3, kHigh), nullptr);
    EXPECT_EQ(tables.live(), 3u);
    marked.release_all();
    EXPECT_EQ(tables.live(), 1u) << "a table made on the way leaked";
}

}  // namespace

// Tests for the unwind table (lib/unwind.hpp): the module format, the row lookup, and walks over
// a hand-built stack of three frames of the three kinds the compiler emits.
#include "lib/unwind.hpp"

#include <gtest/gtest.h>

#include <cstring>
#include <vector>

namespace {

using kstd::UnwindFrame;
using kstd::UnwindRow;
using kstd::UnwindTable;

constexpr uint8_t kSp = UnwindTable::kCfaStackPointer, kFp = UnwindTable::kCfaFramePointer,
                  kNone = UnwindTable::kNoFrame;

// The module as tools/make-unwind-table writes it, in an exact-size buffer.
struct Module {
    explicit Module(const std::vector<UnwindRow>& rows, const char* magic = "SABLEUNW", int64_t count_delta = 0) {
        bytes.resize(16 + rows.size() * sizeof(UnwindRow));
        std::memcpy(bytes.data(), magic, 8);
        const uint64_t count = rows.size() + count_delta;
        std::memcpy(bytes.data() + 8, &count, 8);
        if (!rows.empty()) std::memcpy(bytes.data() + 16, rows.data(), rows.size() * sizeof(UnwindRow));
    }
    UnwindTable table() const { return UnwindTable({bytes.data(), bytes.size()}); }
    std::vector<uint8_t> bytes;
};

// Three functions and some assembly:
//   0x1000 caller: keeps a frame pointer (push rbp; mov rsp, rbp): CFA = FP + 16 from 0x1004
//   0x2000 middle: no frame pointer, 24 bytes of locals: CFA = SP + 32 from 0x2004
//   0x3000 leaf:   pushes nothing: CFA = SP + 8 throughout
//   0x4000 assembly without call-frame information
const std::vector<UnwindRow> kRows = {
    {0x1000, 8, kSp, 0, 0},   {0x1001, 16, kSp, 1, -16}, {0x1004, 16, kFp, 1, -16}, {0x1100, 0, kNone, 0, 0},
    {0x2000, 8, kSp, 0, 0},   {0x2004, 32, kSp, 0, 0},   {0x2100, 0, kNone, 0, 0},  {0x3000, 8, kSp, 0, 0},
    {0x3100, 0, kNone, 0, 0}, {0x4000, 0, kNone, 0, 0},
};

// The stack of a call chain assembly → caller → middle → leaf, stopped in the leaf.
class Walk : public ::testing::Test {
protected:
    void SetUp() override {
        std::memset(stack, 0, sizeof(stack));
        stack[10] = 0x2050;                        // leaf's return into middle (leaf CFA = &stack[11])
        stack[14] = 0x1080;                        // middle's return into caller (middle CFA = &stack[15])
        stack[18] = 0xdead;                        // the frame pointer caller saved
        stack[19] = 0x4010;                        // caller's return into assembly (caller CFA = &stack[20])
        leaf = {0x3010, address(10), address(18)};  // caller's FP = &stack[18] (CFA - 16)
    }
    uint64_t address(unsigned index) const { return reinterpret_cast<uint64_t>(&stack[index]); }
    kstd::StackWindow whole() const { return {address(0), address(kWords)}; }
    std::vector<uint64_t> walk(const UnwindTable& table, UnwindFrame from, kstd::StackWindow window,
                               unsigned max = 32) const {
        std::vector<uint64_t> seen;
        table.walk(from, window, max, [&](uint64_t return_address) { seen.push_back(return_address); });
        return seen;
    }

    static constexpr unsigned kWords = 32;
    uint64_t stack[kWords];
    UnwindFrame leaf{};
    Module module{kRows};
};

TEST(UnwindTable, ReadsAWellFormedModule) {
    Module module(kRows);
    EXPECT_EQ(module.table().row_count(), kRows.size());
    EXPECT_FALSE(module.table().empty());
}

TEST(UnwindTable, RejectsAWrongMagicOrACountThatDoesNotMatchTheSize) {
    EXPECT_TRUE(Module(kRows, "SABLEXXX").table().empty());
    EXPECT_TRUE(Module(kRows, "SABLEUNW", 1).table().empty());
    EXPECT_TRUE(Module(kRows, "SABLEUNW", -1).table().empty());
    const uint8_t short_module[4] = {'S', 'A', 'B', 'L'};
    EXPECT_TRUE(UnwindTable({short_module, sizeof(short_module)}).empty());
}

TEST(UnwindTable, FindsTheLastRowAtOrBelowTheAddress) {
    const Module module(kRows);  // the table reads it in place
    const UnwindTable table = module.table();
    EXPECT_EQ(table.find(0xfff), nullptr);
    EXPECT_EQ(table.find(0x1000)->pc, 0x1000u);
    EXPECT_EQ(table.find(0x1003)->pc, 0x1001u);
    EXPECT_EQ(table.find(0x10ff)->pc, 0x1004u);
    EXPECT_EQ(table.find(0x1100)->cfa_register, kNone);
    EXPECT_EQ(table.find(0x3050)->pc, 0x3000u);
    EXPECT_EQ(table.find(0xffffffff)->pc, 0x4000u);
}

TEST_F(Walk, FollowsStackPointerAndFramePointerFramesToTheAssembly) {
    EXPECT_EQ(walk(module.table(), leaf, whole()), (std::vector<uint64_t>{0x2050, 0x1080, 0x4010}));
}

TEST_F(Walk, RestoresTheSavedFramePointerAndTheCallersStackPointer) {
    const UnwindTable table = module.table();
    UnwindFrame frame = leaf;
    ASSERT_TRUE(table.step(frame, whole(), true));   // leaf → middle
    ASSERT_TRUE(table.step(frame, whole(), false));  // middle → caller
    ASSERT_TRUE(table.step(frame, whole(), false));  // caller → the assembly
    EXPECT_EQ(frame.instruction_pointer, 0x4010u);
    EXPECT_EQ(frame.stack_pointer, address(20));
    EXPECT_EQ(frame.frame_pointer, 0xdeadu);
    EXPECT_FALSE(table.step(frame, whole(), false));  // no information there
    EXPECT_EQ(frame.instruction_pointer, 0x4010u);    // unchanged
}

TEST_F(Walk, UsesTheCallsRowForAReturnAddressAtAFunctionsEnd) {
    // A call as the last instruction of middle (a call that does not return): its return
    // address is middle's end, where the next row says "no frame"; the call itself is middle's.
    stack[10] = 0x2100;
    EXPECT_EQ(walk(module.table(), leaf, whole()), (std::vector<uint64_t>{0x2100, 0x1080, 0x4010}));
}

TEST_F(Walk, StopsWhereAReadWouldLeaveTheStack) {
    // The caller's return address, stack[19], lies just outside.
    EXPECT_EQ(walk(module.table(), leaf, {address(0), address(19)}), (std::vector<uint64_t>{0x2050, 0x1080}));
    EXPECT_TRUE(walk(module.table(), leaf, {address(11), address(kWords)}).empty());
}

TEST_F(Walk, StopsAtANullReturnAddressAndAfterMaxFrames) {
    stack[14] = 0;
    EXPECT_EQ(walk(module.table(), leaf, whole()), (std::vector<uint64_t>{0x2050}));
    stack[14] = 0x1080;
    EXPECT_EQ(walk(module.table(), leaf, whole(), 2), (std::vector<uint64_t>{0x2050, 0x1080}));
}

TEST_F(Walk, AnEmptyTableGivesNoCallers) {
    EXPECT_TRUE(walk(UnwindTable(), leaf, whole()).empty());
}

TEST_F(Walk, TakesAnUnknownFirstFrameForACallTargetIfItReturnsIntoKnownCode) {
    // A call through a bad pointer: stopped at its target, the return address on top.
    stack[9] = 0x3020;
    const UnwindFrame wild{0x9000000, address(9), address(18)};
    EXPECT_EQ(walk(module.table(), wild, whole()), (std::vector<uint64_t>{0x3020, 0x2050, 0x1080, 0x4010}));
    // The word on top leads nowhere the table knows: no guess.
    stack[9] = 0x4020;
    EXPECT_TRUE(walk(module.table(), wild, whole()).empty());
    // Only ever for the first frame: a later frame in unknown code ends the walk (above).
}

}  // namespace

// kstd::CpuMask, the set of CPUs behind affinity, wake-up targets and TLB shootdowns: one bit per
// CPU index in kWords 64-bit words, indices past kMaxCpus ignored, and the concurrent forms (what
// they compute; their atomicity is the compiler's builtins', which a host test cannot show).
#include "lib/cpu_mask.hpp"

#include <gtest/gtest.h>

namespace {

using kstd::CpuMask;
using kstd::kMaxCpus;

TEST(CpuMask, StartsEmpty) {
    const CpuMask mask;
    EXPECT_TRUE(mask.empty());
    EXPECT_EQ(mask.count(), 0u);
    for (unsigned cpu = 0; cpu < kMaxCpus; ++cpu) ASSERT_FALSE(mask.contains(cpu)) << cpu;
}

TEST(CpuMask, AllHoldsEveryCpuIndex) {
    const CpuMask mask = CpuMask::all();
    EXPECT_EQ(mask.count(), kMaxCpus);
    EXPECT_TRUE(mask.contains(0));
    EXPECT_TRUE(mask.contains(kMaxCpus - 1));
    EXPECT_FALSE(mask.contains(kMaxCpus)) << "an index past the limit is in no mask";
}

TEST(CpuMask, OnlyHoldsOneCpuInWhicheverWord) {
    for (unsigned cpu : {0u, 63u, 64u, 130u, kMaxCpus - 1}) {
        const CpuMask mask = CpuMask::only(cpu);
        EXPECT_EQ(mask.count(), 1u) << cpu;
        EXPECT_TRUE(mask.contains(cpu));
        EXPECT_FALSE(mask.contains(cpu ^ 1));
    }
}

TEST(CpuMask, IndicesPastTheLimitAreIgnored) {
    CpuMask mask;
    mask.add(kMaxCpus);
    mask.add(~0u);
    EXPECT_TRUE(mask.empty());
    EXPECT_TRUE(CpuMask::only(kMaxCpus).empty());
}

TEST(CpuMask, WordsFromTheAbiPutCpuZeroInBitZeroOfTheFirstWord) {
    // words: [0b101, 0, 1 << 63, 0]  -> CPUs 0, 2 and 2 * 64 + 63 = 191
    const uint64_t words[CpuMask::kWords] = {0b101, 0, 1ull << 63, 0};
    const CpuMask mask = CpuMask::from_words(words);
    EXPECT_EQ(mask.count(), 3u);
    EXPECT_TRUE(mask.contains(0));
    EXPECT_TRUE(mask.contains(2));
    EXPECT_TRUE(mask.contains(191));
    EXPECT_FALSE(mask.contains(1));
    CpuMask built;
    for (unsigned cpu : {0u, 2u, 191u}) built.add(cpu);
    EXPECT_EQ(mask, built);
}

TEST(CpuMask, EqualityComparesEveryWord) {
    EXPECT_EQ(CpuMask::only(200), CpuMask::only(200));
    EXPECT_FALSE(CpuMask::only(200) == CpuMask::only(136));  // same bit, other word
    EXPECT_FALSE(CpuMask::all() == CpuMask{});
}

TEST(CpuMask, TheConcurrentFormsAgreeWithThePlainOnes) {
    CpuMask mask;
    mask.add_concurrently(5);
    mask.add_concurrently(70);
    mask.add_concurrently(kMaxCpus);  // ignored
    EXPECT_TRUE(mask.contains_concurrently(5));
    EXPECT_TRUE(mask.contains_concurrently(70));
    EXPECT_FALSE(mask.contains_concurrently(6));
    EXPECT_FALSE(mask.contains_concurrently(kMaxCpus));
    mask.remove_concurrently(5);
    mask.remove_concurrently(kMaxCpus);  // ignored
    EXPECT_EQ(mask.load_concurrently(), CpuMask::only(70));
}

}  // namespace

// User pointers (src/mm/user_copy.cpp) against the fake arch's user window, whose pages can be
// made to fault, and the stack regions of the user layout (src/mm/user_memory.hpp).
#include "mm/user_memory.hpp"

#include <string.h>

#include <algorithm>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "fake_arch/fake_arch.hpp"

namespace {

namespace um = kernel::user_memory;

constexpr uint64_t kPage = mm::kPageSize;
constexpr uint64_t kWindow = SABLE_USER_BASE;  // the fake's user memory starts here

class UserPointers : public ::testing::Test {
protected:
    void SetUp() override {
        fake_arch::reset();
        fake_arch::map_user_window(kWindow, 16 * kPage);
    }
    static void put_user(uint64_t address, const char* text, size_t length) {
        for (size_t i = 0; i < length; ++i) *fake_arch::user_bytes(address + i) = static_cast<uint8_t>(text[i]);
    }
};

// Low window: [0x08000000, 0x40000000); the kernel's maps lie between it and the high window
// [512 GiB, 128 TiB).
TEST_F(UserPointers, RangesInsideEitherWindowAreAccepted) {
    EXPECT_TRUE(um::range_ok(um::kUserBase, 1));
    EXPECT_TRUE(um::range_ok(um::kUserTop - 10, 10));
    EXPECT_TRUE(um::range_ok(um::kUserTop, 0));
    EXPECT_TRUE(um::range_ok(um::kHighUserBase, kPage));
    EXPECT_TRUE(um::range_ok(um::kHighUserTop - 1, 1));
}

TEST_F(UserPointers, RangesReachingPastAWindowAreRefused) {
    EXPECT_FALSE(um::range_ok(um::kUserTop - 10, 11));
    EXPECT_FALSE(um::range_ok(um::kUserTop, 1));
    EXPECT_FALSE(um::range_ok(um::kHighUserTop - 1, 2));
    EXPECT_FALSE(um::range_ok(um::kHighUserTop, 1));
}

TEST_F(UserPointers, KernelAddressesAreRefused) {
    EXPECT_FALSE(um::range_ok(0, 1));                      // page 0 and the identity map
    EXPECT_FALSE(um::range_ok(um::kUserBase - 1, 1));
    EXPECT_FALSE(um::range_ok(um::kUserTop + kPage, 1));   // between the windows
    EXPECT_FALSE(um::range_ok(um::kHighUserBase - 1, 1));
    EXPECT_FALSE(um::range_ok(0xFFFF'8000'0000'0000ull, 1));  // the upper half
}

TEST_F(UserPointers, ASizeThatWouldWrapAroundIsRefused) {
    EXPECT_FALSE(um::range_ok(um::kUserBase, ~0ull));
    EXPECT_FALSE(um::range_ok(um::kHighUserBase, ~0ull - um::kHighUserBase + 2));
}

TEST_F(UserPointers, CopiesMoveBytesBothWays) {
    put_user(kWindow + 100, "hello", 5);
    char in[5];
    ASSERT_TRUE(um::copy_from(in, kWindow + 100, 5));
    EXPECT_EQ(memcmp(in, "hello", 5), 0);
    ASSERT_TRUE(um::copy_to(kWindow + 2 * kPage, "world", 5));
    EXPECT_EQ(memcmp(fake_arch::user_bytes(kWindow + 2 * kPage), "world", 5), 0);
}

TEST_F(UserPointers, ABadRangeIsRefusedBeforeAnyByteIsTouched) {
    char buffer[8] = {};
    EXPECT_FALSE(um::copy_from(buffer, 0x1000, 8));
    EXPECT_FALSE(um::copy_to(um::kUserTop - 4, buffer, 8));
    EXPECT_EQ(fake_arch::user_faults(), 0u) << "the copy was attempted";
}

TEST_F(UserPointers, AFaultingPageFailsTheCopy) {
    fake_arch::fault_user_page(kWindow + kPage);
    char buffer[16];
    EXPECT_FALSE(um::copy_from(buffer, kWindow + kPage - 8, 16));
    EXPECT_FALSE(um::copy_to(kWindow + kPage, buffer, 1));
    EXPECT_EQ(fake_arch::user_faults(), 2u);
}

TEST_F(UserPointers, AStringComesBackWithItsLength) {
    put_user(kWindow, "/bin/sh", 8);
    char name[32];
    EXPECT_EQ(um::copy_string_from(name, sizeof(name), kWindow), 7);
    EXPECT_STREQ(name, "/bin/sh");
}

TEST_F(UserPointers, AStringMayCrossAPageBoundary) {
    // page 0: [... 'c' 'r' 'o'] | page 1: ['s' 's' '\0' ...]
    put_user(kWindow + kPage - 3, "crosses", 8);
    char text[16];
    EXPECT_EQ(um::copy_string_from(text, sizeof(text), kWindow + kPage - 3), 7);
    EXPECT_STREQ(text, "crosses");
}

TEST_F(UserPointers, AStringEndingJustBeforeAnUnmappedPageDoesNotFault) {
    // page 0: [... 'e' 'n' 'd' '\0'] | page 1: faults
    put_user(kWindow + kPage - 4, "end", 4);
    fake_arch::fault_user_page(kWindow + kPage);
    char text[64];
    EXPECT_EQ(um::copy_string_from(text, sizeof(text), kWindow + kPage - 4), 3);
    EXPECT_EQ(fake_arch::user_faults(), 0u);
}

TEST_F(UserPointers, AStringRunningIntoAFaultIsABadPointer) {
    put_user(kWindow + kPage - 4, "abcd", 4);  // no terminator before the faulting page
    fake_arch::fault_user_page(kWindow + kPage);
    char text[64];
    EXPECT_EQ(um::copy_string_from(text, sizeof(text), kWindow + kPage - 4), -1);
    EXPECT_EQ(um::copy_string_from(text, sizeof(text), 0x1000), -1);
}

TEST_F(UserPointers, AStringLongerThanTheCapacityDoesNotFit) {
    put_user(kWindow, "12345678", 9);
    char text[8];
    EXPECT_EQ(um::copy_string_from(text, sizeof(text), kWindow), -2);  // 8 characters + NUL > 8
    char exact[9];
    EXPECT_EQ(um::copy_string_from(exact, sizeof(exact), kWindow), 8);
}

TEST_F(UserPointers, AShortStringCopiesLittleMoreThanItself) {
    put_user(kWindow, "hi", 3);
    std::vector<char> text(4096, 0x7F);
    EXPECT_EQ(um::copy_string_from(text.data(), text.size(), kWindow), 2);
    EXPECT_STREQ(text.data(), "hi");
    EXPECT_EQ(std::count(text.begin() + 64, text.end(), 0x7F), 4096 - 64) << "copied on towards the page end";
}

TEST_F(UserPointers, AStringLongerThanSeveralChunksComesBackWhole) {
    std::string long_text(3000, 'x');
    for (size_t i = 0; i < long_text.size(); ++i) long_text[i] = static_cast<char>('a' + i % 26);
    put_user(kWindow + 100, long_text.c_str(), long_text.size() + 1);  // crosses into page 1
    std::vector<char> text(4096);
    EXPECT_EQ(um::copy_string_from(text.data(), text.size(), kWindow + 100), 3000);
    EXPECT_EQ(std::string(text.data()), long_text);
}

// Thread stack slots: [base + k * slot, base + (k + 1) * slot), the stack region at the slot's
// top and its guard page right below it.
TEST(StackRegions, TheMainStackSitsAtTheTopOfTheLowWindowAboveItsGuardPage) {
    const um::StackRegion main = um::main_stack_region();
    EXPECT_EQ(main.top, um::kUserTop);
    EXPECT_EQ(main.top - main.bottom, um::kStackRegionBytes);
    EXPECT_EQ(main.guard, main.bottom - kPage);
    EXPECT_TRUE(main.contains(main.top - 1));
    EXPECT_FALSE(main.contains(main.top));
    EXPECT_FALSE(main.contains(main.guard));
}

TEST(StackRegions, EachThreadSlotHoldsItsRegionAndGuardWithoutOverlap) {
    for (unsigned slot = 0; slot < SABLE_MAX_THREADS - 1; ++slot) {
        const um::StackRegion region = um::thread_stack_region(slot);
        const uint64_t slot_base = SABLE_THREAD_STACKS_BASE + uint64_t{slot} * SABLE_THREAD_STACK_SLOT;
        ASSERT_EQ(region.top, slot_base + SABLE_THREAD_STACK_SLOT) << "slot " << slot;
        ASSERT_EQ(region.top - region.bottom, um::kStackRegionBytes);
        ASSERT_EQ(region.guard, region.bottom - kPage);
        ASSERT_GE(region.guard, slot_base) << "the guard page spills into slot " << slot - 1;
        ASSERT_TRUE(um::range_ok(region.guard, region.top - region.guard));
    }
}

TEST(StackRegions, AnAddressFindsTheSlotThatHoldsIt) {
    const um::StackRegion third = um::thread_stack_region(3);
    EXPECT_EQ(um::thread_stack_slot_of(third.top - 1), 3);
    EXPECT_EQ(um::thread_stack_slot_of(third.bottom), 3);
    EXPECT_EQ(um::thread_stack_slot_of(third.guard), 3);  // the guard zone belongs to the slot
    EXPECT_EQ(um::thread_stack_slot_of(third.top), 4);
    EXPECT_EQ(um::thread_stack_slot_of(SABLE_THREAD_STACKS_BASE), 0);
}

TEST(StackRegions, AddressesOutsideTheSlotsHaveNoSlot) {
    EXPECT_EQ(um::thread_stack_slot_of(SABLE_THREAD_STACKS_BASE - 1), -1);
    EXPECT_EQ(um::thread_stack_slot_of(um::main_stack_region().bottom), -1);
    const um::StackRegion last = um::thread_stack_region(SABLE_MAX_THREADS - 2);
    EXPECT_EQ(um::thread_stack_slot_of(last.top - 1), SABLE_MAX_THREADS - 2);
    EXPECT_EQ(um::thread_stack_slot_of(last.top), -1);  // the main thread has no slot
}

}  // namespace

// Pipes (src/proc/files.cpp) on the host: the kernel's own code, with host threads as tasks
// (test/fake_kernel) and user memory in the fake arch's window, whose pages can be made to fault.
// Tests wait for a task to block by watching the fake kernel's block count, never by sleeping.
#include <sable/abi.h>
#include <string.h>

#include <gtest/gtest.h>

#include <thread>
#include <vector>

#include "fake_arch/fake_arch.hpp"
#include "fake_kernel/fake_kernel.hpp"
#include "proc/files.hpp"

namespace {

using kernel::files::File;
using kernel::files::Interruption;

constexpr uint64_t kUser = SABLE_USER_BASE;  // the window starts here
constexpr uint64_t kPipeCapacity = 16 * 1024;
const Interruption kNever{};
// A process that is being killed: its kill request set, not yet ending.
const uint32_t kKillRequested = 1, kNotEnding = 0;

class Pipe : public ::testing::Test {
protected:
    void SetUp() override {
        fake_arch::reset();
        fake_arch::map_user_window(kUser, 256 * 1024);
        ASSERT_TRUE(kernel::files::create_pipe(m_read, m_write));
    }
    void TearDown() override {
        if (m_read) kernel::files::release(m_read);
        if (m_write) kernel::files::release(m_write);
        EXPECT_EQ(kernel::files::pipes_open(), 0u) << "a pipe outlived both its ends";
        // Every spinlock taken was let go: the fake interrupt flag is back on.
        EXPECT_TRUE(fake_arch::interrupts_enabled());
        EXPECT_EQ(fake_arch::disable_depth(), 0u);
    }

    // Fills user memory at `address` with a pattern that differs per offset.
    static void fill_user(uint64_t address, uint64_t size, uint8_t seed) {
        for (uint64_t i = 0; i < size; ++i) *fake_arch::user_bytes(address + i) = static_cast<uint8_t>(seed + i * 7);
    }
    static bool user_matches(uint64_t address, uint64_t size, uint8_t seed, uint64_t pattern_offset = 0) {
        for (uint64_t i = 0; i < size; ++i)
            if (*fake_arch::user_bytes(address + i) != static_cast<uint8_t>(seed + (pattern_offset + i) * 7)) return false;
        return true;
    }
    int64_t write(uint64_t address, uint64_t size, const Interruption& interruption = kNever) {
        return kernel::files::write(m_write, address, size, interruption);
    }
    int64_t read(uint64_t address, uint64_t size, const Interruption& interruption = kNever) {
        return kernel::files::read(m_read, address, size, interruption);
    }
    static void wait_until_blocked(uint64_t blocks_before) {
        while (fake_kernel::blocks() == blocks_before) std::this_thread::yield();
    }

    File* m_read = nullptr;
    File* m_write = nullptr;
};

TEST_F(Pipe, WrittenBytesComeOutInOrder) {
    fill_user(kUser, 1000, 3);
    EXPECT_EQ(write(kUser, 1000), 1000);
    EXPECT_EQ(read(kUser + 0x10000, 1000), 1000);
    EXPECT_TRUE(user_matches(kUser + 0x10000, 1000, 3));
}

TEST_F(Pipe, ReadReturnsWhatIsBufferedWithoutWaitingForMore) {
    fill_user(kUser, 10, 1);
    ASSERT_EQ(write(kUser, 10), 10);
    EXPECT_EQ(read(kUser + 0x10000, 500), 10);
}

TEST_F(Pipe, ReadBlocksUntilAWriterWrites) {
    const uint64_t blocks = fake_kernel::blocks();
    int64_t got = -1;
    std::thread reader([&] { got = read(kUser + 0x10000, 64); });
    wait_until_blocked(blocks);
    fill_user(kUser, 64, 9);
    EXPECT_EQ(write(kUser, 64), 64);
    reader.join();
    EXPECT_EQ(got, 64);
    EXPECT_TRUE(user_matches(kUser + 0x10000, 64, 9));
}

TEST_F(Pipe, EndOfFileOnceTheLastWriterCloses) {
    const uint64_t blocks = fake_kernel::blocks();
    int64_t got = -1;
    std::thread reader([&] { got = read(kUser, 64); });
    wait_until_blocked(blocks);
    kernel::files::release(m_write);
    m_write = nullptr;
    reader.join();
    EXPECT_EQ(got, 0);
}

TEST_F(Pipe, BufferedBytesAreReadBeforeEndOfFile) {
    fill_user(kUser, 100, 5);
    ASSERT_EQ(write(kUser, 100), 100);
    kernel::files::release(m_write);
    m_write = nullptr;
    EXPECT_EQ(read(kUser + 0x10000, 1000), 100);
    EXPECT_EQ(read(kUser + 0x10000, 1000), 0);
}

TEST_F(Pipe, WriteWithNoReaderIsEpipe) {
    kernel::files::release(m_read);
    m_read = nullptr;
    EXPECT_EQ(write(kUser, 10), -SABLE_EPIPE);
}

TEST_F(Pipe, AFullPipeBlocksTheWriterUntilSomeoneReads) {
    constexpr uint64_t kTotal = kPipeCapacity + 3000;
    fill_user(kUser, kTotal, 11);
    const uint64_t blocks = fake_kernel::blocks();
    int64_t written = -1;
    std::thread writer([&] { written = write(kUser, kTotal); });
    wait_until_blocked(blocks);  // the pipe holds its capacity; the writer waits for room
    uint64_t received = 0;
    while (received < kTotal) {
        const int64_t got = read(kUser + 0x20000 + received, kTotal - received);
        ASSERT_GT(got, 0);
        received += static_cast<uint64_t>(got);
    }
    writer.join();
    EXPECT_EQ(written, static_cast<int64_t>(kTotal));
    EXPECT_TRUE(user_matches(kUser + 0x20000, kTotal, 11));
}

TEST_F(Pipe, AReaderClosingWhileTheWriterWaitsEndsTheWriteShort) {
    constexpr uint64_t kTotal = kPipeCapacity + 3000;
    fill_user(kUser, kTotal, 1);
    const uint64_t blocks = fake_kernel::blocks();
    int64_t written = -1;
    std::thread writer([&] { written = write(kUser, kTotal); });
    wait_until_blocked(blocks);
    kernel::files::release(m_read);
    m_read = nullptr;
    writer.join();
    // What fitted counts; the rest had no reader. A write that moved nothing would be EPIPE.
    EXPECT_EQ(written, static_cast<int64_t>(kPipeCapacity));
}

TEST_F(Pipe, AFaultWhileDeliveringKeepsWhatArrivedBeforeIt) {
    constexpr uint64_t kTotal = 8192;
    fill_user(kUser, kTotal, 13);
    ASSERT_EQ(write(kUser, kTotal), static_cast<int64_t>(kTotal));
    const uint64_t destination = kUser + 0x10000;
    fake_arch::fault_user_page(destination + 4096);  // the second page of the buffer faults
    EXPECT_EQ(read(destination, kTotal), 4096);
    EXPECT_TRUE(user_matches(destination, 4096, 13));
    EXPECT_EQ(fake_arch::user_faults(), 1u);
}

TEST_F(Pipe, AFaultOnTheFirstByteIsEfault) {
    fill_user(kUser, 100, 0);
    ASSERT_EQ(write(kUser, 100), 100);
    fake_arch::fault_user_page(kUser + 0x10000);
    EXPECT_EQ(read(kUser + 0x10000, 100), -SABLE_EFAULT);
}

TEST_F(Pipe, AWriteFromAFaultingSourceKeepsTheBytesBeforeIt) {
    fill_user(kUser, 8192, 2);
    fake_arch::fault_user_page(kUser + 4096);
    EXPECT_EQ(write(kUser, 8192), 4096);
    EXPECT_EQ(read(kUser + 0x10000, 8192), 4096);
    EXPECT_TRUE(user_matches(kUser + 0x10000, 4096, 2));
}

TEST_F(Pipe, AddressesOutsideUserSpaceAreEfault) {
    EXPECT_EQ(write(SABLE_USER_TOP - 10, 100), -SABLE_EFAULT);
    EXPECT_EQ(read(0x1000, 10), -SABLE_EFAULT);
}

TEST_F(Pipe, AnInterruptedReaderReturnsEintrInsteadOfBlocking) {
    const Interruption killed{&kKillRequested, &kNotEnding};
    const uint64_t blocks = fake_kernel::blocks();
    EXPECT_EQ(read(kUser, 10, killed), -SABLE_EINTR);
    EXPECT_EQ(fake_kernel::blocks(), blocks);
}

TEST_F(Pipe, AReaderOfAnEndingProcessReturnsEintrInsteadOfBlocking) {
    const uint32_t no_kill_request = 0, ending = 1;
    const Interruption process_ending{&no_kill_request, &ending};
    const uint64_t blocks = fake_kernel::blocks();
    EXPECT_EQ(read(kUser, 10, process_ending), -SABLE_EINTR);
    EXPECT_EQ(fake_kernel::blocks(), blocks);
}

TEST_F(Pipe, AnInterruptedWriterToAFullPipeReturnsEintrInsteadOfBlocking) {
    fill_user(kUser, kPipeCapacity, 4);
    ASSERT_EQ(write(kUser, kPipeCapacity), static_cast<int64_t>(kPipeCapacity));
    const Interruption killed{&kKillRequested, &kNotEnding};
    const uint64_t blocks = fake_kernel::blocks();
    EXPECT_EQ(write(kUser, 10, killed), -SABLE_EINTR);
    EXPECT_EQ(fake_kernel::blocks(), blocks);
}

TEST_F(Pipe, AnInterruptedWriterKeepsWhatFittedBeforeThePipeFilled) {
    constexpr uint64_t kTotal = kPipeCapacity + 3000;
    fill_user(kUser, kTotal, 6);
    const Interruption killed{&kKillRequested, &kNotEnding};
    EXPECT_EQ(write(kUser, kTotal, killed), static_cast<int64_t>(kPipeCapacity));
    EXPECT_EQ(read(kUser + 0x20000, kTotal), static_cast<int64_t>(kPipeCapacity));
    EXPECT_TRUE(user_matches(kUser + 0x20000, kPipeCapacity, 6));
}

TEST_F(Pipe, AReadEndIsNotWritable) {
    EXPECT_EQ(kernel::files::write(m_read, kUser, 1, kNever), -SABLE_EBADF);
    EXPECT_EQ(kernel::files::read(m_write, kUser, 1, kNever), -SABLE_EBADF);
}

// Two threads bounce one byte through two pipes many times, each blocking on an empty pipe
// as the other writes: wake-ups that skip a queue nobody waits on (tasks::nobody_blocking) must
// never skip one a reader is about to block on. A lost wake-up hangs this test.
TEST_F(Pipe, PingPongBetweenTwoThreadsLosesNoWakeUp) {
    File* back_read = nullptr;
    File* back_write = nullptr;
    ASSERT_TRUE(kernel::files::create_pipe(back_read, back_write));
    constexpr int kRounds = 20000;
    *fake_arch::user_bytes(kUser) = 'p';
    std::thread echo([&] {
        for (int i = 0; i < kRounds; ++i) {
            if (kernel::files::read(m_read, kUser + 0x1000, 1, kNever) != 1) return;
            if (kernel::files::write(back_write, kUser + 0x1000, 1, kNever) != 1) return;
        }
    });
    int rounds = 0;
    for (; rounds < kRounds; ++rounds) {
        if (write(kUser, 1) != 1) break;
        if (kernel::files::read(back_read, kUser + 0x2000, 1, kNever) != 1) break;
    }
    echo.join();
    EXPECT_EQ(rounds, kRounds);
    EXPECT_EQ(*fake_arch::user_bytes(kUser + 0x2000), 'p');
    kernel::files::release(back_read);
    kernel::files::release(back_write);
}

// A pipe is three allocations (the pipe and its two ends); running out at any of them leaves
// nothing behind (ASan's leak check in the host preset sees anything that stayed allocated).
TEST(PipeCreation, RunningOutOfMemoryCreatesNothing) {
    for (uint64_t successes = 0; successes < 3; ++successes) {
        File* read_end = nullptr;
        File* write_end = nullptr;
        fake_kernel::fail_allocations_after(successes);
        EXPECT_FALSE(kernel::files::create_pipe(read_end, write_end)) << successes << " allocations succeeded";
        fake_kernel::allow_allocations();
        EXPECT_EQ(kernel::files::pipes_open(), 0u);
    }
    File* read_end = nullptr;
    File* write_end = nullptr;
    ASSERT_TRUE(kernel::files::create_pipe(read_end, write_end));
    kernel::files::release(read_end);
    kernel::files::release(write_end);
}

}  // namespace

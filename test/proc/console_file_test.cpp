// The console file (src/proc/files.cpp) on the host: the line discipline over the console input
// ring (echo, erase, end of file, one line per reader at a time), console writes from user
// memory and the kernel's own line reader. Host threads are tasks (test/fake_kernel), user
// memory is the fake arch's window. Tests wait for a reader to block, or for its echo, never by
// sleeping.
#include <sable/abi.h>

#include <gtest/gtest.h>

#include <atomic>
#include <string>
#include <thread>

#include "drivers/console_input.hpp"
#include "fake_arch/fake_arch.hpp"
#include "fake_kernel/fake_kernel.hpp"
#include "proc/files.hpp"

namespace {

using kernel::files::File;
using kernel::files::Interruption;

constexpr uint64_t kUser = SABLE_USER_BASE;  // the window starts here
constexpr uint64_t kPage = 4096;
constexpr uint64_t kLineCapacity = 256;  // one edited line, its newline included (files.cpp)
const Interruption kNever{};
// A process that is being killed: its kill request set, not yet ending.
const uint32_t kKillRequested = 1, kNotEnding = 0;
const Interruption kKilled{&kKillRequested, &kNotEnding};

void type(const std::string& keys) {
    for (char c : keys) drivers::console_input::push(c);
}

void wait_until_blocked(uint64_t blocks_before) {
    while (fake_kernel::blocks() == blocks_before) std::this_thread::yield();
}

void wait_for_echo(const std::string& text) {
    while (fake_kernel::console_output() != text) std::this_thread::yield();
}

// The console's state is global, as in the kernel: each test starts with no input queued and
// no line half read, and leaves none.
class ConsoleFile : public ::testing::Test {
protected:
    void SetUp() override {
        fake_arch::reset();
        fake_arch::map_user_window(kUser, 64 * 1024);
        kernel::files::init();
        char c;
        while (drivers::console_input::read(c)) {}
        m_console = kernel::files::console();
        fake_kernel::clear_console_output();
    }
    void TearDown() override {
        kernel::files::release(m_console);
        EXPECT_FALSE(drivers::console_input::available()) << "input left for the next test";
        // Every spinlock taken was let go: the fake interrupt flag is back on.
        EXPECT_TRUE(fake_arch::interrupts_enabled());
        EXPECT_EQ(fake_arch::disable_depth(), 0u);
    }

    int64_t read(uint64_t address, uint64_t size, const Interruption& interruption = kNever) {
        return kernel::files::read(m_console, address, size, interruption);
    }
    int64_t write(uint64_t address, uint64_t size) { return kernel::files::write(m_console, address, size, kNever); }
    static std::string user_text(uint64_t address, uint64_t size) {
        return std::string(reinterpret_cast<const char*>(fake_arch::user_bytes(address)), size);
    }
    // Reads once into a fresh spot of user memory and returns what came, or the error code.
    std::string read_text(uint64_t size) {
        const int64_t got = read(kUser, size);
        if (got < 0) return "error " + std::to_string(got);
        return user_text(kUser, static_cast<uint64_t>(got));
    }

    File* m_console = nullptr;
};

TEST_F(ConsoleFile, ATypedLineIsReadWithItsNewlineAndEchoed) {
    type("echo hi\n");
    EXPECT_EQ(read_text(64), "echo hi\n");
    EXPECT_EQ(fake_kernel::console_output(), "echo hi\n");
}

TEST_F(ConsoleFile, AReadWaitsForTheWholeLine) {
    const uint64_t blocks = fake_kernel::blocks();
    std::atomic<int64_t> got{-1};
    std::thread reader([&] { got = read(kUser, 64); });
    wait_until_blocked(blocks);
    type("ab");
    wait_for_echo("ab");  // the reader has taken both keys
    EXPECT_EQ(got, -1) << "returned before the line ended";
    type("\n");
    reader.join();
    EXPECT_EQ(got, 3);
    EXPECT_EQ(user_text(kUser, 3), "ab\n");
}

TEST_F(ConsoleFile, ReturnEndsALineAsANewline) {
    type("ls\r");
    EXPECT_EQ(read_text(64), "ls\n");
    EXPECT_EQ(fake_kernel::console_output(), "ls\n");
}

TEST_F(ConsoleFile, BackspaceAndDeleteEraseOnScreenAndInTheLine) {
    type("abc\b\x7f" "d\n");
    EXPECT_EQ(read_text(64), "ad\n");
    EXPECT_EQ(fake_kernel::console_output(), "abc\b \b\b \bd\n");
}

TEST_F(ConsoleFile, BackspaceAtTheStartOfALineErasesNothing) {
    type("\b\x7fz\n");
    EXPECT_EQ(read_text(64), "z\n");
    EXPECT_EQ(fake_kernel::console_output(), "z\n");
}

TEST_F(ConsoleFile, OtherControlCharactersAreLeftOut) {
    type("a\x01\x1b\x04" "b\t\n");  // Ctrl-A, Escape, Ctrl-D inside a line, Tab
    EXPECT_EQ(read_text(64), "ab\n");
    EXPECT_EQ(fake_kernel::console_output(), "ab\n");
}

TEST_F(ConsoleFile, CtrlDAtTheStartOfALineIsEndOfFileOnce) {
    type("\x04");
    EXPECT_EQ(read(kUser, 64), 0);
    type("more\n");
    EXPECT_EQ(read_text(64), "more\n");
}

TEST_F(ConsoleFile, ALineLongerThanTheBufferIsHandedOutOverSeveralReads) {
    type("abcdefgh\n");
    EXPECT_EQ(read_text(3), "abc");
    EXPECT_EQ(read_text(3), "def");
    EXPECT_EQ(read_text(64), "gh\n");
}

TEST_F(ConsoleFile, ALineStopsGrowingAtItsCapacity) {
    type(std::string(kLineCapacity + 40, 'x') + "\n");
    EXPECT_EQ(read_text(1024), std::string(kLineCapacity - 1, 'x') + "\n");
}

TEST_F(ConsoleFile, AnEmptyReadReturnsAtOnce) {
    EXPECT_EQ(read(kUser, 0), 0);
}

TEST_F(ConsoleFile, ABufferOutsideUserSpaceIsEfaultAndTakesNoInput) {
    type("kept\n");
    EXPECT_EQ(read(0x1000, 16), -SABLE_EFAULT);
    EXPECT_EQ(read_text(64), "kept\n");
}

TEST_F(ConsoleFile, AFaultingBufferIsEfaultAndTheLineStaysForTheNextRead) {
    type("kept\n");
    fake_arch::fault_user_page(kUser + kPage);
    EXPECT_EQ(read(kUser + kPage, 16), -SABLE_EFAULT);
    EXPECT_EQ(read_text(64), "kept\n");
}

TEST_F(ConsoleFile, AnInterruptedReaderWithoutInputReturnsEintrWithoutBlocking) {
    const uint64_t blocks = fake_kernel::blocks();
    EXPECT_EQ(read(kUser, 64, kKilled), -SABLE_EINTR);
    EXPECT_EQ(fake_kernel::blocks(), blocks);
}

TEST_F(ConsoleFile, ReadersTakeTurnsSoEachGetsAWholeLine) {
    // first holds the console while it waits for input; second waits for its turn.
    uint64_t blocks = fake_kernel::blocks();
    std::string first_got, second_got;
    std::thread first([&] {
        const int64_t got = read(kUser, 64);
        first_got = got > 0 ? user_text(kUser, static_cast<uint64_t>(got)) : "error";
    });
    wait_until_blocked(blocks);
    blocks = fake_kernel::blocks();
    std::thread second([&] {
        const int64_t got = read(kUser + 0x1000, 64);
        second_got = got > 0 ? user_text(kUser + 0x1000, static_cast<uint64_t>(got)) : "error";
    });
    wait_until_blocked(blocks);
    type("one\n");
    first.join();
    type("two\n");  // only once first has its line: second must get this one whole
    second.join();
    EXPECT_EQ(first_got, "one\n");
    EXPECT_EQ(second_got, "two\n");
}

TEST_F(ConsoleFile, AReaderKilledWhileWaitingForItsTurnReturnsEintr) {
    const uint64_t blocks = fake_kernel::blocks();
    int64_t first_got = -1;
    std::thread first([&] { first_got = read(kUser, 64); });
    wait_until_blocked(blocks);  // first holds the console
    EXPECT_EQ(read(kUser + 0x1000, 64, kKilled), -SABLE_EINTR);
    type("x\n");
    first.join();
    EXPECT_EQ(first_got, 2);
}

TEST_F(ConsoleFile, WritesReachTheConsoleWhole) {
    // Longer than the kernel's bounce buffer, so it goes out in pieces.
    std::string text;
    for (unsigned i = 0; i < 1300; ++i) text += static_cast<char>('a' + i % 26);
    for (size_t i = 0; i < text.size(); ++i) *fake_arch::user_bytes(kUser + i) = static_cast<uint8_t>(text[i]);
    EXPECT_EQ(write(kUser, text.size()), static_cast<int64_t>(text.size()));
    EXPECT_EQ(fake_kernel::console_output(), text);
}

TEST_F(ConsoleFile, AWriteFromAFaultingBufferKeepsWhatCameBeforeTheFault) {
    for (uint64_t i = 0; i < 2 * kPage; ++i) *fake_arch::user_bytes(kUser + i) = 'w';
    fake_arch::fault_user_page(kUser + kPage);
    EXPECT_EQ(write(kUser, 2 * kPage), static_cast<int64_t>(kPage));
    EXPECT_EQ(fake_kernel::console_output(), std::string(kPage, 'w'));
    EXPECT_EQ(write(kUser + kPage, 16), -SABLE_EFAULT);
    EXPECT_EQ(write(SABLE_USER_TOP - 8, 16), -SABLE_EFAULT);
}

TEST_F(ConsoleFile, TheConsoleIsOneFileThatReleasingNeverCloses) {
    File* again = kernel::files::console();
    EXPECT_EQ(again, m_console);
    kernel::files::release(again);
    kernel::files::release(kernel::files::console());
    *fake_arch::user_bytes(kUser) = '!';
    EXPECT_EQ(write(kUser, 1), 1);
    EXPECT_EQ(fake_kernel::console_output(), "!");
}

TEST_F(ConsoleFile, TheKernelReadsALineWithoutItsNewlineOrAnEcho) {
    type("sable\n");
    char line[32];
    EXPECT_EQ(kernel::files::read_kernel_line(line, sizeof(line)), 5u);
    EXPECT_STREQ(line, "sable");
    EXPECT_EQ(fake_kernel::console_output(), "");
}

TEST_F(ConsoleFile, TheKernelsLineIsCutToItsBufferAndTheRestDropped) {
    type("abcdefg\nnext\n");
    char line[4];
    EXPECT_EQ(kernel::files::read_kernel_line(line, sizeof(line)), 3u);
    EXPECT_STREQ(line, "abc");
    EXPECT_EQ(kernel::files::read_kernel_line(line, sizeof(line)), 3u);
    EXPECT_STREQ(line, "nex");
}

TEST_F(ConsoleFile, TheKernelsLineReadWaitsForTheNewline) {
    const uint64_t blocks = fake_kernel::blocks();
    char line[16];
    std::atomic<size_t> length{~size_t{0}};
    std::thread reader([&] { length = kernel::files::read_kernel_line(line, sizeof(line)); });
    wait_until_blocked(blocks);
    type("go\n");
    reader.join();
    EXPECT_EQ(length, 2u);
    EXPECT_STREQ(line, "go");
}

}  // namespace

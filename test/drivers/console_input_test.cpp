// The console input ring that the UART and keyboard interrupts fill and the console's line
// discipline drains: order, the hook after each character, dropping when full, wrapping.
#include "drivers/console_input.hpp"

#include <gtest/gtest.h>

#include <string>

namespace {

namespace input = drivers::console_input;

constexpr size_t kRingBytes = 1024;  // the ring's capacity (console_input.cpp)

std::string drain() {
    std::string taken;
    char c;
    while (input::read(c)) taken += c;
    return taken;
}

void push(const std::string& text) {
    for (char c : text) input::push(c);
}

// The ring is one global, as in the kernel: every test starts from it empty and without a hook.
class ConsoleInput : public ::testing::Test {
protected:
    void SetUp() override {
        input::set_hook(nullptr);
        drain();
    }
    void TearDown() override { input::set_hook(nullptr); }
};

TEST_F(ConsoleInput, AnEmptyRingHasNothingToRead) {
    char c = 'x';
    EXPECT_FALSE(input::available());
    EXPECT_FALSE(input::read(c));
    EXPECT_EQ(c, 'x');
}

TEST_F(ConsoleInput, CharactersComeOutInTheOrderTheyWerePushed) {
    push("ls -l\n");
    EXPECT_TRUE(input::available());
    EXPECT_EQ(drain(), "ls -l\n");
    EXPECT_FALSE(input::available());
}

// The hook is the reader's wake-up: it must run once per character and find that character
// already readable, or a reader woken by it could go back to sleep on an empty ring.
std::string g_seen_by_hook;
void record_from_hook() {
    char c;
    if (input::read(c)) g_seen_by_hook += c;
}

TEST_F(ConsoleInput, TheHookRunsAfterEachCharacterIsReadable) {
    g_seen_by_hook.clear();
    input::set_hook(record_from_hook);
    push("abc");
    EXPECT_EQ(g_seen_by_hook, "abc");
    EXPECT_FALSE(input::available());
}

TEST_F(ConsoleInput, AFullRingDropsNewCharactersAndKeepsTheOldOnes) {
    // ring: [0 1 2 ... 1023] full; "XYZ" pushed after it is lost.
    std::string first;
    for (size_t i = 0; i < kRingBytes; ++i) first += static_cast<char>('a' + i % 26);
    push(first);
    push("XYZ");
    EXPECT_EQ(drain(), first);
    push("after");  // room again once drained
    EXPECT_EQ(drain(), "after");
}

TEST_F(ConsoleInput, ADroppedCharacterDoesNotCallTheHook) {
    static unsigned calls;
    calls = 0;
    push(std::string(kRingBytes, 'q'));
    input::set_hook([] { ++calls; });
    input::push('!');
    EXPECT_EQ(calls, 0u) << "a dropped character woke a reader for nothing";
    drain();
}

TEST_F(ConsoleInput, OrderSurvivesTheIndicesWrappingAroundTheRing) {
    // Three and a half turns of the ring in uneven steps, read back as they go.
    std::string pushed, read_back;
    for (unsigned step = 0; pushed.size() < kRingBytes * 7 / 2; ++step) {
        std::string piece;
        for (unsigned i = 0; i < 1 + step % 300; ++i) piece += static_cast<char>(' ' + (pushed.size() + i) % 95);
        push(piece);
        pushed += piece;
        read_back += drain();
    }
    EXPECT_EQ(read_back, pushed);
}

}  // namespace

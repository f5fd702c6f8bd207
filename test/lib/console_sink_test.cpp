// console::Sink (src/lib/console.hpp), the format sink the kernel prints through: it hands the
// console whole lines, or full buffers of a longer line, and the rest when it ends. The console
// here is the fake kernel's, which collects what reaches it.
#include "lib/console.hpp"

#include <gtest/gtest.h>

#include <string>

#include "fake_kernel/fake_kernel.hpp"

namespace {

constexpr size_t kSinkBytes = 256;  // console::Sink's buffer

void put(console::Sink& sink, const std::string& text) {
    for (char c : text) sink.put(c);
}

class ConsoleSink : public ::testing::Test {
protected:
    void SetUp() override { fake_kernel::clear_console_output(); }
};

TEST_F(ConsoleSink, ALineReachesTheConsoleOnlyWhenItEnds) {
    console::Sink sink;
    put(sink, "first half ");
    EXPECT_EQ(fake_kernel::console_output(), "");
    put(sink, "second half\nnext");
    EXPECT_EQ(fake_kernel::console_output(), "first half second half\n");
}

TEST_F(ConsoleSink, WhatIsLeftGoesOutWhenTheSinkEnds) {
    {
        console::Sink sink;
        put(sink, "line\nno newline");
    }
    EXPECT_EQ(fake_kernel::console_output(), "line\nno newline");
}

TEST_F(ConsoleSink, ALineLongerThanTheBufferGoesOutInFullBuffers) {
    console::Sink sink;
    const std::string long_line(kSinkBytes * 2 + 10, 'x');
    put(sink, long_line);
    EXPECT_EQ(fake_kernel::console_output(), std::string(kSinkBytes * 2, 'x'));
    put(sink, "\n");
    EXPECT_EQ(fake_kernel::console_output(), long_line + "\n");
}

TEST_F(ConsoleSink, FormattedOutputArrivesWhole) {
    {
        console::Sink sink;
        kstd::format(sink, "cpu %u: %s=%d\n", 3u, "ticks", 42);
    }
    EXPECT_EQ(fake_kernel::console_output(), "cpu 3: ticks=42\n");
}

}  // namespace

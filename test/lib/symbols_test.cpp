// Tests for the kernel symbol-file parser (nm -n output read in place).
#include "lib/symbols.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace {

// The parser must stay inside the bytes it is given: hold them in an exact-size vector.
struct SymbolText {
    explicit SymbolText(const std::string& text) : bytes(text.begin(), text.end()) {}
    kstd::SymbolTable table() const { return kstd::SymbolTable({bytes.data(), bytes.size()}); }
    std::vector<uint8_t> bytes;
};

std::string name_of(const kstd::SymbolMatch& match) { return std::string(match.name.data(), match.name.size()); }

const char* const kNmOutput =
    "0000000000100000 A KERNEL_LOAD_ADDRESS\n"
    "0000000000100000 T __kernel_start\n"
    "0000000000100030 T _start\n"
    "0000000000101000 t (anonymous namespace)::helper(int, char)\n"
    "0000000000101040 T kernel_main\n"
    "0000000000102000 R some_table\n"
    "0000000000103000 W inline_function()\n";

TEST(SymbolTable, FindsTheCodeSymbolAtOrBelowTheAddress) {
    SymbolText text(kNmOutput);
    auto match = text.table().lookup(0x101050);
    EXPECT_EQ(name_of(match), "kernel_main");
    EXPECT_EQ(match.offset, 0x10u);
}

TEST(SymbolTable, ExactAddressHasOffsetZero) {
    SymbolText text(kNmOutput);
    auto match = text.table().lookup(0x101000);
    EXPECT_EQ(name_of(match), "(anonymous namespace)::helper(int, char)");
    EXPECT_EQ(match.offset, 0u);
}

TEST(SymbolTable, IgnoresDataAndAbsoluteSymbols) {
    SymbolText text(kNmOutput);
    // 0x102010 is past some_table (R), so the nearest code symbol is kernel_main.
    EXPECT_EQ(name_of(text.table().lookup(0x102010)), "kernel_main");
    EXPECT_EQ(text.table().code_symbol_count(), 5u);
}

TEST(SymbolTable, WeakSymbolsCount) {
    SymbolText text(kNmOutput);
    EXPECT_EQ(name_of(text.table().lookup(0x103004)), "inline_function()");
}

TEST(SymbolTable, AddressBelowEverySymbolHasNoName) {
    SymbolText text(kNmOutput);
    EXPECT_TRUE(text.table().lookup(0xFFFFF).name.empty());
}

TEST(SymbolTable, AddressFarPastTheLastSymbolHasNoName) {
    SymbolText text(kNmOutput);
    EXPECT_TRUE(text.table().lookup(0x103000 + (2u << 20)).name.empty());
}

TEST(SymbolTable, EmptyTableFindsNothing) {
    kstd::SymbolTable table;
    EXPECT_TRUE(table.empty());
    EXPECT_TRUE(table.lookup(0x100000).name.empty());
}

TEST(SymbolTable, SkipsMalformedLines) {
    SymbolText text(
        "garbage\n"
        "00000000001000zz T bad_hex\n"
        "00000000000000000100000 T too_many_digits\n"
        "0000000000100000 T\n"
        "0000000000100000 Tname_without_space\n"
        "\n"
        "0000000000100100 T good\n");
    EXPECT_EQ(text.table().code_symbol_count(), 1u);
    EXPECT_EQ(name_of(text.table().lookup(0x100104)), "good");
}

TEST(SymbolTable, LastLineWithoutNewlineIsRead) {
    SymbolText text("0000000000100000 T first\n0000000000100100 T last");
    EXPECT_EQ(name_of(text.table().lookup(0x100200)), "last");
}

TEST(SymbolTable, TruncatedInTheMiddleOfALineStaysInBounds) {
    const std::string full = kNmOutput;
    for (size_t length = 0; length <= full.size(); ++length) {
        SymbolText text(full.substr(0, length));
        (void)text.table().lookup(0x101050);
        (void)text.table().code_symbol_count();
    }
}

}  // namespace

// Checks how kstd::CommandLine splits the kernel command line into words and values, and how
// kstd::list_contains matches comma-separated lists such as "sable.test=mm,sched".
#include "lib/cmdline.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace {

std::string str(kstd::StringView view) { return std::string(view.data(), view.size()); }

struct Word {
    std::string key;
    std::string value;
    bool has_value;
    bool operator==(const Word&) const = default;
};

std::ostream& operator<<(std::ostream& out, const Word& word) {
    return out << "{" << word.key << ", " << word.value << ", " << word.has_value << "}";
}

std::vector<Word> words_of(const kstd::CommandLine& line) {
    std::vector<Word> words;
    line.for_each([&](kstd::StringView key, kstd::StringView value, bool has_value) {
        words.push_back({str(key), str(value), has_value});
    });
    return words;
}

// Exact-size heap copy without a terminator: any read past the text trips ASan.
class ExactText {
public:
    explicit ExactText(const std::string& text) : m_bytes(text.begin(), text.end()) {}
    kstd::StringView view() const { return {m_bytes.data(), m_bytes.size()}; }

private:
    std::vector<char> m_bytes;
};

}  // namespace

TEST(CommandLine, ValueOfKeyValueWord) {
    kstd::CommandLine line("console=serial sable.test=boot");
    EXPECT_EQ(str(line.value("console")), "serial");
    EXPECT_EQ(str(line.value("sable.test")), "boot");
}

TEST(CommandLine, HasFindsBareFlag) {
    kstd::CommandLine line("quiet nosmp");
    EXPECT_TRUE(line.has("quiet"));
    EXPECT_TRUE(line.has("nosmp"));
}

TEST(CommandLine, HasFindsKeyWithValue) {
    kstd::CommandLine line("loglevel=3");
    EXPECT_TRUE(line.has("loglevel"));
}

TEST(CommandLine, HasIsFalseForMissingKey) {
    kstd::CommandLine line("quiet loglevel=3");
    EXPECT_FALSE(line.has("verbose"));
}

TEST(CommandLine, BareFlagHasEmptyValue) {
    kstd::CommandLine line("quiet");
    EXPECT_TRUE(line.value("quiet").empty());
}

TEST(CommandLine, MissingKeyGivesEmptyValue) {
    kstd::CommandLine line("a=1 b=2");
    EXPECT_TRUE(line.value("c").empty());
}

TEST(CommandLine, EmptyValueAfterEquals) {
    kstd::CommandLine line("a= b=2");
    EXPECT_TRUE(line.has("a"));
    EXPECT_TRUE(line.value("a").empty());
    EXPECT_EQ(str(line.value("b")), "2");
}

TEST(CommandLine, LaterWordWins) {
    kstd::CommandLine line("a=1 a=2");
    EXPECT_EQ(str(line.value("a")), "2");
}

TEST(CommandLine, AppendedWordOverridesEarlierOne) {
    // GRUB's default first, the test harness's word appended last.
    kstd::CommandLine line("sable.test=none console=vga sable.test=sched");
    EXPECT_EQ(str(line.value("sable.test")), "sched");
}

TEST(CommandLine, QuotedValueKeepsSpaces) {
    kstd::CommandLine line("name=\"a b\" next=1");
    EXPECT_EQ(str(line.value("name")), "a b");
    EXPECT_EQ(str(line.value("next")), "1");
}

TEST(CommandLine, QuotedValueMayBeEmpty) {
    kstd::CommandLine line("name=\"\" next=1");
    EXPECT_TRUE(line.has("name"));
    EXPECT_TRUE(line.value("name").empty());
    EXPECT_EQ(str(line.value("next")), "1");
}

TEST(CommandLine, UnterminatedQuoteRunsToTheEnd) {
    //   name="a b c=3
    //         ^^^^^^^ the value: no closing quote, so c=3 is not a word of its own
    ExactText text("name=\"a b c=3");
    kstd::CommandLine line(text.view());
    EXPECT_EQ(str(line.value("name")), "a b c=3");
    EXPECT_FALSE(line.has("c"));
}

TEST(CommandLine, TabsAndRepeatedSpacesSeparateWords) {
    kstd::CommandLine line("  a=1\t\tb=2 \t  flag  ");
    EXPECT_EQ(str(line.value("a")), "1");
    EXPECT_EQ(str(line.value("b")), "2");
    EXPECT_TRUE(line.has("flag"));
}

TEST(CommandLine, TabEndsAValue) {
    kstd::CommandLine line("a=1\tb=2");
    EXPECT_EQ(str(line.value("a")), "1");
}

TEST(CommandLine, KeyThatPrefixesAnotherKeyDoesNotMatchIt) {
    kstd::CommandLine line("sable.testing=1");
    EXPECT_FALSE(line.has("sable.test"));
    EXPECT_TRUE(line.value("sable.test").empty());
}

TEST(CommandLine, LongerKeyDoesNotMatchShorterWord) {
    kstd::CommandLine line("sable.test=1");
    EXPECT_FALSE(line.has("sable.testing"));
}

TEST(CommandLine, KeyIsComparedWholeAmongSimilarKeys) {
    kstd::CommandLine line("sable.testing=1 sable.test=2 sable.tes=3");
    EXPECT_EQ(str(line.value("sable.test")), "2");
}

TEST(CommandLine, EmptyStringHasNoWords) {
    kstd::CommandLine line("");
    EXPECT_FALSE(line.has("a"));
    EXPECT_TRUE(line.value("a").empty());
    EXPECT_TRUE(words_of(line).empty());
}

TEST(CommandLine, DefaultConstructedHasNoWords) {
    kstd::CommandLine line;
    EXPECT_TRUE(words_of(line).empty());
    EXPECT_EQ(line.number("a", 9), 9u);
}

TEST(CommandLine, OnlySpacesHasNoWords) {
    kstd::CommandLine line(" \t  ");
    EXPECT_TRUE(words_of(line).empty());
}

TEST(CommandLine, ValueEndingTheTextIsNotOverread) {
    ExactText text("a=12345");
    kstd::CommandLine line(text.view());
    EXPECT_EQ(str(line.value("a")), "12345");
}

TEST(CommandLine, ValueMayContainEquals) {
    kstd::CommandLine line("root=UUID=abcd");
    EXPECT_EQ(str(line.value("root")), "UUID=abcd");
}

TEST(CommandLine, NumberParsesDecimal) {
    kstd::CommandLine line("cpus=4 mem=1024");
    EXPECT_EQ(line.number("cpus", 0), 4u);
    EXPECT_EQ(line.number("mem", 0), 1024u);
}

TEST(CommandLine, NumberParsesZero) {
    kstd::CommandLine line("n=0");
    EXPECT_EQ(line.number("n", 7), 0u);
}

TEST(CommandLine, NumberParsesLowerAndUpperCaseHex) {
    kstd::CommandLine line("a=0x1f b=0XFF c=0xDeadBeef");
    EXPECT_EQ(line.number("a", 0), 0x1fu);
    EXPECT_EQ(line.number("b", 0), 0xffu);
    EXPECT_EQ(line.number("c", 0), 0xdeadbeefu);
}

TEST(CommandLine, NumberOfQuotedValue) {
    kstd::CommandLine line("n=\"42\"");
    EXPECT_EQ(line.number("n", 0), 42u);
}

TEST(CommandLine, NumberMissingKeyGivesFallback) {
    kstd::CommandLine line("other=1");
    EXPECT_EQ(line.number("n", 77), 77u);
}

TEST(CommandLine, NumberOfBareFlagGivesFallback) {
    kstd::CommandLine line("n");
    EXPECT_EQ(line.number("n", 77), 77u);
}

TEST(CommandLine, NumberMalformedGivesFallback) {
    kstd::CommandLine line("a=12x b=x12 c=-1 d=+1 e=1.5 f=0xg g=ff");
    for (const char* key : {"a", "b", "c", "d", "e", "f", "g"})
        EXPECT_EQ(line.number(key, 77), 77u) << "key " << key;
}

TEST(CommandLine, NumberHexPrefixAloneGivesFallback) {
    kstd::CommandLine line("a=0x b=0X");
    EXPECT_EQ(line.number("a", 77), 77u);
    EXPECT_EQ(line.number("b", 77), 77u);
}

TEST(CommandLine, NumberAcceptsLargestValue) {
    kstd::CommandLine line("a=18446744073709551615 b=0xffffffffffffffff");
    EXPECT_EQ(line.number("a", 0), 18446744073709551615ull);
    EXPECT_EQ(line.number("b", 0), 0xffffffffffffffffull);
}

TEST(CommandLine, NumberDecimalOverflowGivesFallback) {
    // One more than UINT64_MAX, and a value far beyond it.
    kstd::CommandLine line("a=18446744073709551616 b=99999999999999999999999");
    EXPECT_EQ(line.number("a", 77), 77u);
    EXPECT_EQ(line.number("b", 77), 77u);
}

TEST(CommandLine, NumberHexOverflowGivesFallback) {
    kstd::CommandLine line("a=0x10000000000000000");
    EXPECT_EQ(line.number("a", 77), 77u);
}

TEST(CommandLine, ForEachVisitsWordsInOrder) {
    kstd::CommandLine line("quiet a=1 name=\"x y\" flag b=");
    std::vector<Word> expected = {
        {"quiet", "", false}, {"a", "1", true}, {"name", "x y", true},
        {"flag", "", false},  {"b", "", true},
    };
    EXPECT_EQ(words_of(line), expected);
}

TEST(CommandLine, ForEachReportsRepeatedKeysEachTime) {
    kstd::CommandLine line("a=1 a=2");
    std::vector<Word> expected = {{"a", "1", true}, {"a", "2", true}};
    EXPECT_EQ(words_of(line), expected);
}

TEST(CommandLine, TextReturnsTheWholeLine) {
    kstd::CommandLine line("a=1 b");
    EXPECT_EQ(str(line.text()), "a=1 b");
}

TEST(ListContains, FindsLastEntry) {
    EXPECT_TRUE(kstd::list_contains("mm,sched", "sched"));
}

TEST(ListContains, FindsFirstEntry) {
    EXPECT_TRUE(kstd::list_contains("mm,sched", "mm"));
}

TEST(ListContains, FindsMiddleEntry) {
    EXPECT_TRUE(kstd::list_contains("mm,sched,smp", "sched"));
}

TEST(ListContains, FindsOnlyEntry) {
    EXPECT_TRUE(kstd::list_contains("sched", "sched"));
}

TEST(ListContains, PrefixOfEntryDoesNotMatch) {
    EXPECT_FALSE(kstd::list_contains("mm,sched", "sch"));
}

TEST(ListContains, EntryOfWhichItemIsAPrefixDoesNotMatch) {
    EXPECT_FALSE(kstd::list_contains("mm,sch", "sched"));
}

TEST(ListContains, EmptyListContainsNothing) {
    EXPECT_FALSE(kstd::list_contains("", "mm"));
}

TEST(ListContains, TrailingCommaStillFindsEntries) {
    EXPECT_TRUE(kstd::list_contains("mm,sched,", "sched"));
    EXPECT_TRUE(kstd::list_contains("mm,sched,", "mm"));
    EXPECT_FALSE(kstd::list_contains("mm,sched,", "smp"));
}

TEST(ListContains, ItemWithCommaIsNotSplit) {
    EXPECT_FALSE(kstd::list_contains("mm,sched", "mm,sc"));
}

TEST(ListContains, LastEntryIsNotOverread) {
    ExactText list("mm,sched");
    EXPECT_TRUE(kstd::list_contains(list.view(), "sched"));
    EXPECT_FALSE(kstd::list_contains(list.view(), "schedx"));
}

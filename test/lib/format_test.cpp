// Checks kstd::format_to_buffer against the C library's snprintf where their semantics agree, and
// pins down the places where the kernel formatter deliberately differs (%p, bad conversions).
#include "lib/format.hpp"

#include <gtest/gtest.h>

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>

#include <string>

namespace {

// Formats with both kstd and the C library and compares text and returned length; failures name
// the format so a table of calls stays readable.
__attribute__((format(printf, 1, 2))) void expect_matches_libc(const char* format, ...) {
    char ours[256];
    char theirs[256];
    va_list args;
    va_start(args, format);
    va_list copy;
    va_copy(copy, args);
    const size_t our_length = kstd::vformat_to_buffer(ours, sizeof ours, format, args);
    const int their_length = vsnprintf(theirs, sizeof theirs, format, copy);
    va_end(copy);
    va_end(args);
    EXPECT_EQ(std::string(ours), std::string(theirs)) << "format: \"" << format << "\"";
    EXPECT_EQ(our_length, static_cast<size_t>(their_length)) << "format: \"" << format << "\"";
}

// Formats into a roomy buffer and returns the text, for outputs that differ from the C library.
__attribute__((format(printf, 1, 2))) std::string format_string(const char* format, ...) {
    char buffer[256];
    va_list args;
    va_start(args, format);
    kstd::vformat_to_buffer(buffer, sizeof buffer, format, args);
    va_end(args);
    return buffer;
}

// A sink that records every character, to check vformat's count without a buffer in between.
class StringSink final : public kstd::FormatSink {
public:
    void put(char c) override { text += c; }
    std::string text;
};

}  // namespace

TEST(Format, PlainTextMatchesLibc) {
    expect_matches_libc("hello, kernel");
    expect_matches_libc("");
}

TEST(Format, PercentPercentMatchesLibc) {
    expect_matches_libc("100%%");
    expect_matches_libc("%%d %d", 5);
}

TEST(Format, SignedDecimalMatchesLibc) {
    expect_matches_libc("%d", 0);
    expect_matches_libc("%d", 42);
    expect_matches_libc("%d", -42);
    expect_matches_libc("%i", -7);
    expect_matches_libc("%d", INT32_MAX);
    expect_matches_libc("%d", INT32_MIN);
}

TEST(Format, UnsignedDecimalMatchesLibc) {
    expect_matches_libc("%u", 0u);
    expect_matches_libc("%u", 4000000000u);
    expect_matches_libc("%u", UINT32_MAX);
}

TEST(Format, HexMatchesLibc) {
    expect_matches_libc("%x", 0u);
    expect_matches_libc("%x", 0xdeadbeefu);
    expect_matches_libc("%X", 0xdeadbeefu);
    expect_matches_libc("%x", UINT32_MAX);
}

TEST(Format, StringAndCharMatchLibc) {
    expect_matches_libc("%s", "sable");
    expect_matches_libc("[%s]", "");
    expect_matches_libc("%c", 'A');
    expect_matches_libc("%c%c%c", 'a', 'b', 'c');
}

TEST(Format, WidthPadsOnTheLeftLikeLibc) {
    expect_matches_libc("%5d|", 42);
    expect_matches_libc("%5d|", -42);
    expect_matches_libc("%8x|", 0xbeefu);
    expect_matches_libc("%6s|", "ab");
    expect_matches_libc("%3c|", 'z');
    // A width narrower than the value never truncates it.
    expect_matches_libc("%2d|", 123456);
    expect_matches_libc("%2s|", "longer");
}

TEST(Format, MinusFlagPadsOnTheRightLikeLibc) {
    expect_matches_libc("%-5d|", 42);
    expect_matches_libc("%-5d|", -42);
    expect_matches_libc("%-6s|", "ab");
    expect_matches_libc("%-3c|", 'z');
    expect_matches_libc("%-8X|", 0xbeefu);
}

TEST(Format, ZeroFlagPadsAfterTheSignLikeLibc) {
    // "%05d" of -42: the sign comes first, zeros fill the rest -> "-0042".
    expect_matches_libc("%05d", -42);
    expect_matches_libc("%05d", 42);
    expect_matches_libc("%08x", 0xbeefu);
    expect_matches_libc("%016llx", 0xb8000ull);
    expect_matches_libc("%03u", 7u);
}

#pragma clang diagnostic push
#pragma clang diagnostic ignored "-Wformat"  // '0' with '-' is the point of this test

TEST(Format, MinusOverridesZeroLikeLibc) {
    expect_matches_libc("%-05d|", 42);
    expect_matches_libc("%0-5d|", -42);
}

#pragma clang diagnostic pop

TEST(Format, PrecisionLimitsStringsLikeLibc) {
    expect_matches_libc("%.3s|", "abcdef");
    expect_matches_libc("%.10s|", "abc");
    expect_matches_libc("%.0s|", "abc");
    expect_matches_libc("%6.2s|", "abcdef");
    expect_matches_libc("%-6.2s|", "abcdef");
    expect_matches_libc("%.*s|", 2, "abcdef");
}

TEST(Format, PrecisionStopsBeforeAMissingTerminator) {
    // Only three bytes exist and none is NUL: "%.3s" must not read a fourth (ASan would see it).
    const char unterminated[3] = {'a', 'b', 'c'};
    EXPECT_EQ(format_string("%.3s|", unterminated), "abc|");
}

TEST(Format, StarWidthMatchesLibc) {
    expect_matches_libc("%*d|", 6, 42);
    expect_matches_libc("%*d|", 0, 42);
    // A negative '*' width means left alignment.
    expect_matches_libc("%*d|", -6, 42);
    expect_matches_libc("%*s|", 5, "ab");
    expect_matches_libc("%0*d|", 5, -3);
}

TEST(Format, LongLengthsPrintWhole64BitValuesLikeLibc) {
    expect_matches_libc("%ld", static_cast<long>(INT64_MAX));
    expect_matches_libc("%lu", static_cast<unsigned long>(UINT64_MAX));
    expect_matches_libc("%lx", 0x123456789abcdefUL);
    expect_matches_libc("%lld", static_cast<long long>(INT64_MIN));
    expect_matches_libc("%lli", -1LL);
    expect_matches_libc("%llu", static_cast<unsigned long long>(UINT64_MAX));
    expect_matches_libc("%llX", 0xfedcba9876543210ULL);
}

TEST(Format, Int64MinMatchesLibc) {
    expect_matches_libc("%ld", static_cast<long>(INT64_MIN));
    expect_matches_libc("%lld", static_cast<long long>(INT64_MIN));
    expect_matches_libc("%25lld|", static_cast<long long>(INT64_MIN));
    expect_matches_libc("%025lld|", static_cast<long long>(INT64_MIN));
}

TEST(Format, SizeLengthMatchesLibc) {
    expect_matches_libc("%zu", static_cast<size_t>(0));
    expect_matches_libc("%zu", SIZE_MAX);
    expect_matches_libc("%zx", static_cast<size_t>(0x1000));
    expect_matches_libc("%zd", static_cast<ptrdiff_t>(-5));
}

TEST(Format, IntLengthTakesOnlyThe32BitArgument) {
    // Without a length modifier the argument is an int: a following argument must not be eaten.
    expect_matches_libc("%d %d", -1, 2);
    expect_matches_libc("%u %x", UINT32_MAX, 0xabu);
}

TEST(Format, MixedConversionsMatchLibc) {
    expect_matches_libc("cpu %u: %s at %x", 3u, "ready", 0x1000u);
    expect_matches_libc("[%5s] %-4d|%08lx|%c", "mm", -1, 0x1234UL, '!');
}

TEST(Format, PointerIsZeroPaddedTo16HexDigits) {
    // Deliberately unlike glibc's "0xb8000": fixed width keeps address columns aligned.
    EXPECT_EQ(format_string("%p", reinterpret_cast<void*>(0xb8000)), "0x00000000000b8000");
}

TEST(Format, NullPointerPrintsAsZeroesNotNil) {
    EXPECT_EQ(format_string("%p", static_cast<void*>(nullptr)), "0x0000000000000000");
}

TEST(Format, HighPointerUsesAll16Digits) {
    EXPECT_EQ(format_string("%p", reinterpret_cast<void*>(0xffffffff80000000ull)),
              "0xffffffff80000000");
}

TEST(Format, PointerCountsAs18Characters) {
    char buffer[32];
    EXPECT_EQ(kstd::format_to_buffer(buffer, sizeof buffer, "%p", reinterpret_cast<void*>(1)),
              18u);
}

TEST(Format, TruncatesButReturnsUntruncatedLength) {
    // capacity 6: five characters fit, the sixth byte is the terminator.
    //   "hello, world" -> "hello\0"
    char buffer[6];
    EXPECT_EQ(kstd::format_to_buffer(buffer, sizeof buffer, "hello, %s", "world"), 12u);
    EXPECT_STREQ(buffer, "hello");
}

TEST(Format, TruncationMatchesLibc) {
    char ours[5];
    char theirs[5];
    const size_t our_length = kstd::format_to_buffer(ours, sizeof ours, "%08x", 0xcafeu);
    const int their_length = snprintf(theirs, sizeof theirs, "%08x", 0xcafeu);
    EXPECT_STREQ(ours, theirs);
    EXPECT_EQ(our_length, static_cast<size_t>(their_length));
}

TEST(Format, CapacityOneWritesOnlyTheTerminator) {
    char buffer[2] = {'x', 'y'};
    EXPECT_EQ(kstd::format_to_buffer(buffer, 1, "%d", 1234), 4u);
    EXPECT_EQ(buffer[0], '\0');
    EXPECT_EQ(buffer[1], 'y');
}

TEST(Format, CapacityZeroWritesNothing) {
    char buffer[4] = {'x', 'x', 'x', 'x'};
    EXPECT_EQ(kstd::format_to_buffer(buffer, 0, "abc%d", 7), 4u);
    EXPECT_EQ(std::string(buffer, 4), "xxxx");
}

TEST(Format, CapacityZeroAcceptsNullBuffer) {
    // Like snprintf(NULL, 0, ...): a length query.
    EXPECT_EQ(kstd::format_to_buffer(nullptr, 0, "%s=%u", "key", 123u), 7u);
}

TEST(Format, ExactFitKeepsTheLastCharacter) {
    char buffer[4];
    EXPECT_EQ(kstd::format_to_buffer(buffer, sizeof buffer, "%s", "abc"), 3u);
    EXPECT_STREQ(buffer, "abc");
}

TEST(Format, NullStringPrintsNullInParentheses) {
    EXPECT_EQ(format_string("[%s]", static_cast<const char*>(nullptr)), "[(null)]");
}

TEST(Format, NullStringHonoursWidthAndPrecision) {
    EXPECT_EQ(format_string("[%8s]", static_cast<const char*>(nullptr)), "[  (null)]");
    EXPECT_EQ(format_string("[%.3s]", static_cast<const char*>(nullptr)), "[(nu]");
}

#pragma clang diagnostic push
#pragma clang diagnostic ignored "-Wformat"
#pragma clang diagnostic ignored "-Wformat-invalid-specifier"
#pragma clang diagnostic ignored "-Wformat-extra-args"

TEST(Format, UnknownConversionPrintsVerbatim) {
    EXPECT_EQ(format_string("a%qb"), "a%qb");
}

TEST(Format, UnknownConversionConsumesNoArgument) {
    // "%q" takes nothing, so the 5 still belongs to the following %d.
    EXPECT_EQ(format_string("%q %d", 5), "%q 5");
}

TEST(Format, TrailingLonePercentPrintsPercent) {
    EXPECT_EQ(format_string("100%"), "100%");
}

TEST(Format, TrailingPercentAfterFlagsStopsAtTerminator) {
    // The format ends inside a conversion ("%-5"): print '%' and stop, never read past the NUL.
    const std::string format = "x%-5";  // exact-size heap copy so ASan sees any overread
    EXPECT_EQ(format_string(format.c_str()), "x%");
}

TEST(Format, TrailingPercentCountsAsOneCharacter) {
    char buffer[8];
    EXPECT_EQ(kstd::format_to_buffer(buffer, sizeof buffer, "ab%"), 3u);
}

#pragma clang diagnostic pop

TEST(Format, SinkCountMatchesCharactersWritten) {
    StringSink sink;
    const size_t count = kstd::format(sink, "%s:%5d:%p", "irq", 14, static_cast<void*>(nullptr));
    EXPECT_EQ(sink.text, "irq:   14:0x0000000000000000");
    EXPECT_EQ(count, sink.text.size());
}

// %f exists outside the kernel only (the kernel has no floating point); digits are exact and
// ties round to even, as in the C library.
TEST(Format, FixedMatchesLibc) {
    expect_matches_libc("%f", 3.14159265358979);
    expect_matches_libc("%f|%f|%f", 0.0, -0.0, 1.0);
    expect_matches_libc("%.2f %.2f %.2f", 2.675, 1.005, 0.125);  // below, below, an exact tie
    expect_matches_libc("%.0f %.0f %.0f %.0f", 0.5, 1.5, 2.5, 0.50000000000000011);
    expect_matches_libc("%8.3f|%-8.3f|%08.3f", -1.5, 2.25, -3.125);
    expect_matches_libc("%f", 1e20);
    expect_matches_libc("%f", 1.7976931348623157e308);
    expect_matches_libc("%.3f %.10f", 1e-5, 1e-5);
    expect_matches_libc("%.60f", 0.1);
    expect_matches_libc("%.20f", 4.9406564584124654e-324);
    expect_matches_libc("%f %f", 9.999999, 9.9999995);
    expect_matches_libc("%.*f", 4, 2.0 / 3.0);
    expect_matches_libc("%f %.1f", static_cast<double>(1.25f), 0.05);
}

TEST(Format, FixedInfinityAndNan) {
    const double inf = __builtin_inf();
    expect_matches_libc("%f %f %6f|%-6f|", inf, -inf, inf, -inf);
    EXPECT_EQ(format_string("%f %06f", __builtin_nan(""), inf), "nan    inf");
}

TEST(Format, FixedPrecisionIsCapped) {
    EXPECT_EQ(format_string("%.70f", 0.5), "0.500000000000000000000000000000000000000000000000000000000000");
}

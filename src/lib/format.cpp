// printf-style formatter shared by the kernel console and the host tests (see format.hpp).
#include "lib/format.hpp"

#include <stdint.h>

namespace kstd {
namespace {

struct Spec {
    bool left_align = false;  // '-' flag
    bool zero_pad = false;    // '0' flag (ignored with '-', as in C)
    int width = 0;
    int precision = -1;  // for %s, and %f outside the kernel
};

class CountingSink {
public:
    explicit CountingSink(FormatSink& sink) : m_sink(sink) {}
    void put(char c) {
        m_sink.put(c);
        ++m_count;
    }
    void repeat(char c, int times) {
        for (int i = 0; i < times; ++i) put(c);
    }
    size_t count() const { return m_count; }

private:
    FormatSink& m_sink;
    size_t m_count = 0;
};

// Writes `body` (already converted) with sign/prefix, honouring width, alignment and zero padding.
void emit_padded(CountingSink& out, const Spec& spec, const char* prefix, const char* body,
                 int body_length) {
    int prefix_length = 0;
    while (prefix[prefix_length] != '\0') ++prefix_length;
    int padding = spec.width - prefix_length - body_length;
    if (padding < 0) padding = 0;

    if (!spec.left_align && !spec.zero_pad) out.repeat(' ', padding);
    for (int i = 0; i < prefix_length; ++i) out.put(prefix[i]);
    if (!spec.left_align && spec.zero_pad) out.repeat('0', padding);
    for (int i = 0; i < body_length; ++i) out.put(body[i]);
    if (spec.left_align) out.repeat(' ', padding);
}

void emit_unsigned(CountingSink& out, const Spec& spec, uint64_t value, unsigned base,
                   bool upper_case, const char* prefix) {
    const char* digits = upper_case ? "0123456789ABCDEF" : "0123456789abcdef";
    char reversed[24];
    int length = 0;
    do {
        reversed[length++] = digits[value % base];
        value /= base;
    } while (value != 0);
    char body[24];
    for (int i = 0; i < length; ++i) body[i] = reversed[length - 1 - i];
    emit_padded(out, spec, prefix, body, length);
}

enum class Length { Int, Long, LongLong, Size };

// Widths and precisions beyond this are clamped: nothing the kernel prints needs more, and an
// unbounded decimal would overflow int.
constexpr int kMaxWidth = 1 << 20;

int parse_bounded_number(const char*& p) {
    int value = 0;
    while (*p >= '0' && *p <= '9') {
        if (value < kMaxWidth) value = value * 10 + (*p - '0');
        ++p;
    }
    return value < kMaxWidth ? value : kMaxWidth;
}

#ifndef SABLE_KERNEL
// %f for user programs and the host; the kernel is built without floating-point registers and
// cannot even receive a double. The digits are exact: the value is m * 2^e with a 53-bit m, so
// m * 10^precision shifted by e, rounded half to even as the C library does, is a big integer
// whose decimal digits are the answer. A precision above kMaxFixedPrecision counts as that.
constexpr int kMaxFixedPrecision = 60;

// An unsigned integer of up to kLimbs * 32 bits (1024 for the largest double's exponent, 200 for
// m * 10^60, with room to spare), least significant limb first.
class BigUnsigned {
public:
    static constexpr int kLimbs = 44;
    explicit BigUnsigned(uint64_t value) {
        m_limbs[0] = static_cast<uint32_t>(value);
        m_limbs[1] = static_cast<uint32_t>(value >> 32);
    }
    void multiply(uint32_t factor) {
        uint64_t carry = 0;
        for (uint32_t& limb : m_limbs) {
            const uint64_t product = uint64_t{limb} * factor + carry;
            limb = static_cast<uint32_t>(product);
            carry = product >> 32;
        }
    }
    void shift_left(int bits) {
        for (; bits >= 16; bits -= 16) multiply(1u << 16);
        multiply(1u << bits);
    }
    // Shifts right, rounding half to even.
    void shift_right_rounded(int bits) {
        if (bits <= 0) return;
        const bool half = bit(bits - 1);
        bool below_half = false;
        for (int i = 0; i < bits - 1 && !below_half; ++i) below_half = bit(i);
        const int limbs = bits / 32, rest = bits % 32;
        for (int i = 0; i < kLimbs; ++i) {
            const uint64_t low = i + limbs < kLimbs ? m_limbs[i + limbs] : 0;
            const uint64_t high = i + limbs + 1 < kLimbs ? m_limbs[i + limbs + 1] : 0;
            m_limbs[i] = static_cast<uint32_t>(((high << 32) | low) >> rest);
        }
        if (half && (below_half || bit(0))) add_one();
    }
    uint32_t divide(uint32_t divisor) {  // returns the remainder
        uint64_t remainder = 0;
        for (int i = kLimbs - 1; i >= 0; --i) {
            const uint64_t current = (remainder << 32) | m_limbs[i];
            m_limbs[i] = static_cast<uint32_t>(current / divisor);
            remainder = current % divisor;
        }
        return static_cast<uint32_t>(remainder);
    }
    bool is_zero() const {
        for (uint32_t limb : m_limbs)
            if (limb) return false;
        return true;
    }

private:
    bool bit(int i) const { return i < kLimbs * 32 && ((m_limbs[i / 32] >> (i % 32)) & 1); }
    void add_one() {
        for (uint32_t& limb : m_limbs)
            if (++limb != 0) return;
    }
    uint32_t m_limbs[kLimbs] = {};
};

void emit_fixed(CountingSink& out, const Spec& spec, double value) {
    uint64_t bits;
    __builtin_memcpy(&bits, &value, sizeof bits);
    const bool negative = bits >> 63;
    const int biased_exponent = static_cast<int>((bits >> 52) & 0x7FF);
    uint64_t mantissa = bits & ((uint64_t{1} << 52) - 1);
    Spec text_spec = spec;
    if (biased_exponent == 0x7FF) {  // no digits to pad with zeros
        text_spec.zero_pad = false;
        emit_padded(out, text_spec, negative && mantissa == 0 ? "-" : "", mantissa ? "nan" : "inf", 3);
        return;
    }
    // value = mantissa * 2^exponent exactly (subnormals have no implicit bit).
    int exponent = biased_exponent == 0 ? -1074 : biased_exponent - 1075;
    if (biased_exponent != 0) mantissa |= uint64_t{1} << 52;
    const int precision = spec.precision < 0                    ? 6
                          : spec.precision < kMaxFixedPrecision ? spec.precision
                                                                : kMaxFixedPrecision;

    BigUnsigned scaled(mantissa);
    for (int i = 0; i < precision; ++i) scaled.multiply(10);
    if (exponent >= 0)
        scaled.shift_left(exponent);
    else
        scaled.shift_right_rounded(-exponent);

    char reversed[400];  // 309 integer digits of the largest double, then the fraction
    int length = 0;
    do {
        reversed[length++] = static_cast<char>('0' + scaled.divide(10));
    } while (!scaled.is_zero() || length <= precision);
    char body[sizeof reversed + 1];
    int body_length = 0;
    for (int i = length - 1; i >= 0; --i) {
        body[body_length++] = reversed[i];
        if (i == precision && precision > 0) body[body_length++] = '.';
    }
    emit_padded(out, text_spec, negative ? "-" : "", body, body_length);
}
#endif

}  // namespace

size_t vformat(FormatSink& sink, const char* format, va_list args) {
    CountingSink out(sink);
    for (const char* p = format; *p != '\0'; ++p) {
        if (*p != '%') {
            out.put(*p);
            continue;
        }
        ++p;
        Spec spec;
        for (;; ++p) {
            if (*p == '-') spec.left_align = true;
            else if (*p == '0') spec.zero_pad = true;
            else break;
        }
        if (spec.left_align) spec.zero_pad = false;
        if (*p == '*') {
            const int width = va_arg(args, int);
            if (width < 0) {
                spec.left_align = true;
                spec.zero_pad = false;
            }
            spec.width = width < -kMaxWidth ? kMaxWidth : width < 0 ? -width : width;
            ++p;
        } else {
            spec.width = parse_bounded_number(p);
        }
        if (*p == '.') {
            ++p;
            spec.precision = 0;
            if (*p == '*') {
                spec.precision = va_arg(args, int);
                ++p;
            } else {
                spec.precision = parse_bounded_number(p);
            }
        }
        Length length = Length::Int;
        if (*p == 'l') {
            length = Length::Long;
            if (*++p == 'l') {
                length = Length::LongLong;
                ++p;
            }
        } else if (*p == 'z') {
            length = Length::Size;
            ++p;
        }

        auto next_unsigned = [&]() -> uint64_t {
            switch (length) {
            case Length::Long: return va_arg(args, unsigned long);
            case Length::LongLong: return va_arg(args, unsigned long long);
            case Length::Size: return va_arg(args, size_t);
            case Length::Int: break;
            }
            return va_arg(args, unsigned int);
        };

        switch (*p) {
        case 'd':
        case 'i': {
            int64_t value;
            switch (length) {
            case Length::Long: value = va_arg(args, long); break;
            case Length::LongLong: value = va_arg(args, long long); break;
            case Length::Size: value = static_cast<int64_t>(va_arg(args, size_t)); break;
            default: value = va_arg(args, int); break;
            }
            // Negate in unsigned arithmetic so INT64_MIN does not overflow.
            uint64_t magnitude = value < 0 ? 0 - static_cast<uint64_t>(value)
                                           : static_cast<uint64_t>(value);
            emit_unsigned(out, spec, magnitude, 10, false, value < 0 ? "-" : "");
            break;
        }
        case 'u': emit_unsigned(out, spec, next_unsigned(), 10, false, ""); break;
        case 'x': emit_unsigned(out, spec, next_unsigned(), 16, false, ""); break;
        case 'X': emit_unsigned(out, spec, next_unsigned(), 16, true, ""); break;
        case 'p': {
            // Pointers print as 0x plus 16 hex digits: fixed width keeps dumps aligned.
            Spec pointer_spec = spec;
            if (pointer_spec.width == 0) {
                pointer_spec.width = 18;
                pointer_spec.zero_pad = true;
            }
            auto value = reinterpret_cast<uintptr_t>(va_arg(args, void*));
            emit_unsigned(out, pointer_spec, value, 16, false, "0x");
            break;
        }
        case 's': {
            const char* text = va_arg(args, const char*);
            if (text == nullptr) text = "(null)";
            int text_length = 0;
            // Precision first: "%.3s" may be handed 3 bytes with no terminator.
            while ((spec.precision < 0 || text_length < spec.precision) && text[text_length] != '\0')
                ++text_length;
            Spec string_spec = spec;
            string_spec.zero_pad = false;
            emit_padded(out, string_spec, "", text, text_length);
            break;
        }
        case 'c': {
            char c = static_cast<char>(va_arg(args, int));
            Spec char_spec = spec;
            char_spec.zero_pad = false;
            emit_padded(out, char_spec, "", &c, 1);
            break;
        }
#ifndef SABLE_KERNEL
        case 'f':
            emit_fixed(out, spec, va_arg(args, double));
            break;
#endif
        case '%': out.put('%'); break;
        case '\0':
            // A lone '%' at the end: print it rather than read past the terminator.
            out.put('%');
            return out.count();
        default:
            // Unknown conversion: show it verbatim so the mistake is visible in the log.
            out.put('%');
            out.put(*p);
            break;
        }
    }
    return out.count();
}

size_t format(FormatSink& sink, const char* format, ...) {
    va_list args;
    va_start(args, format);
    size_t count = vformat(sink, format, args);
    va_end(args);
    return count;
}

namespace {
class BufferSink final : public FormatSink {
public:
    BufferSink(char* buffer, size_t capacity) : m_buffer(buffer), m_capacity(capacity) {}
    void put(char c) override {
        if (m_capacity != 0 && m_used + 1 < m_capacity) m_buffer[m_used++] = c;
    }
    void terminate() {
        if (m_capacity != 0) m_buffer[m_used] = '\0';
    }

private:
    char* m_buffer;
    size_t m_capacity;
    size_t m_used = 0;
};
}  // namespace

size_t vformat_to_buffer(char* buffer, size_t capacity, const char* format, va_list args) {
    BufferSink sink(buffer, capacity);
    size_t count = vformat(sink, format, args);
    sink.terminate();
    return count;
}

size_t format_to_buffer(char* buffer, size_t capacity, const char* format, ...) {
    va_list args;
    va_start(args, format);
    size_t count = vformat_to_buffer(buffer, capacity, format, args);
    va_end(args);
    return count;
}

}  // namespace kstd

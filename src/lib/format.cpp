// printf-style formatter shared by the kernel console and the host tests (see format.hpp).
#include "lib/format.hpp"

#include <stdint.h>

namespace kstd {
namespace {

struct Spec {
    bool left_align = false;  // '-' flag
    bool zero_pad = false;    // '0' flag (ignored with '-', as in C)
    int width = 0;
    int precision = -1;  // only meaningful for %s here
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

// Text-to-number conversion and abort. (malloc lives in malloc.cpp, exit in syscalls.cpp.)
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <unistd.h>

namespace {

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'; }

int digit_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'z') return c - 'a' + 10;
    if (c >= 'A' && c <= 'Z') return c - 'A' + 10;
    return 99;
}

// The common part of strtol and strtoul, as C11 §7.22.1.4 describes it: optional whitespace,
// sign, "0x" for base 16 or 0, then digits. Saturates at `limit` and sets ERANGE past it.
unsigned long parse(const char* s, char** end, int base, unsigned long limit_positive,
                    unsigned long limit_negative, bool* negative) {
    const char* p = s;
    while (is_space(*p)) ++p;
    *negative = false;
    if (*p == '+' || *p == '-') {
        *negative = *p == '-';
        ++p;
    }
    if ((base == 0 || base == 16) && p[0] == '0' && (p[1] == 'x' || p[1] == 'X') &&
        digit_value(p[2]) < 16) {
        p += 2;
        base = 16;
    } else if (base == 0) {
        base = p[0] == '0' ? 8 : 10;
    }
    if (base < 2 || base > 36) {
        errno = EINVAL;
        if (end != nullptr) *end = const_cast<char*>(s);
        return 0;
    }
    const unsigned long limit = *negative ? limit_negative : limit_positive;
    unsigned long value = 0;
    bool any_digit = false;
    bool overflow = false;
    for (;; ++p) {
        const int digit = digit_value(*p);
        if (digit >= base) break;
        any_digit = true;
        if (value > (limit - static_cast<unsigned long>(digit)) / static_cast<unsigned long>(base))
            overflow = true;
        else
            value = value * static_cast<unsigned long>(base) + static_cast<unsigned long>(digit);
    }
    if (end != nullptr) *end = const_cast<char*>(any_digit ? p : s);
    if (overflow) {
        errno = ERANGE;
        return limit;
    }
    return value;
}

}  // namespace

extern "C" {

long strtol(const char* s, char** end, int base) {
    bool negative;
    unsigned long magnitude = parse(s, end, base, LONG_MAX, static_cast<unsigned long>(LONG_MAX) + 1,
                                    &negative);
    if (negative) return magnitude == static_cast<unsigned long>(LONG_MAX) + 1 ? LONG_MIN
                                                                              : -static_cast<long>(magnitude);
    return static_cast<long>(magnitude);
}

unsigned long strtoul(const char* s, char** end, int base) {
    bool negative;
    unsigned long magnitude = parse(s, end, base, ULONG_MAX, ULONG_MAX, &negative);
    return negative ? 0 - magnitude : magnitude;  // C: "-1" converts to ULONG_MAX
}

int atoi(const char* s) { return static_cast<int>(strtol(s, nullptr, 10)); }

void abort(void) {
    static const char message[] = "abort\n";
    write(2, message, sizeof message - 1);
    _exit(134);
}

}  // extern "C"

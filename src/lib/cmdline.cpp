// Kernel command-line lookups (see cmdline.hpp).
#include "lib/cmdline.hpp"

namespace kstd {

bool CommandLine::has(StringView key) const {
    bool found = false;
    for_each([&](StringView word_key, StringView, bool) {
        if (word_key == key) found = true;
    });
    return found;
}

StringView CommandLine::value(StringView key) const {
    StringView result;
    for_each([&](StringView word_key, StringView word_value, bool) {
        if (word_key == key) result = word_value;
    });
    return result;
}

unsigned long long CommandLine::number(StringView key, unsigned long long fallback) const {
    StringView text = value(key);
    if (text.empty()) return fallback;
    unsigned base = 10;
    if (text.starts_with("0x") || text.starts_with("0X")) {
        base = 16;
        text = text.substr(2);
        if (text.empty()) return fallback;
    }
    unsigned long long result = 0;
    for (char c : text) {
        unsigned digit;
        if (c >= '0' && c <= '9') digit = static_cast<unsigned>(c - '0');
        else if (base == 16 && c >= 'a' && c <= 'f') digit = static_cast<unsigned>(c - 'a' + 10);
        else if (base == 16 && c >= 'A' && c <= 'F') digit = static_cast<unsigned>(c - 'A' + 10);
        else return fallback;
        if (result > (~0ull - digit) / base) return fallback;  // overflow
        result = result * base + digit;
    }
    return result;
}

bool list_contains(StringView list, StringView item) {
    size_t start = 0;
    while (start <= list.size()) {
        size_t comma = list.find(',', start);
        size_t end = comma == StringView::npos ? list.size() : comma;
        if (list.substr(start, end - start) == item) return true;
        if (comma == StringView::npos) break;
        start = comma + 1;
    }
    return false;
}

}  // namespace kstd

// Kernel command-line words: `key=value`, bare `flag`, and `key="value with spaces"`, separated by
// spaces. Later words win, so a word appended by the test harness overrides GRUB's default.
#pragma once

#include "lib/string_view.hpp"

namespace kstd {

class CommandLine {
public:
    constexpr CommandLine() = default;
    explicit constexpr CommandLine(StringView text) : m_text(text) {}

    StringView text() const { return m_text; }

    // True if the word `key` or `key=...` appears.
    bool has(StringView key) const;
    // The value of the last `key=value` word (quotes removed); empty view if absent or bare.
    StringView value(StringView key) const;
    // Value as an unsigned number (decimal or 0x hex); `fallback` when absent or malformed.
    unsigned long long number(StringView key, unsigned long long fallback) const;

    // Visits every word in order: visitor(key, value, has_value).
    template <typename Visitor>
    void for_each(Visitor&& visitor) const;

private:
    StringView m_text;
};

// True if `item` is one of the comma-separated entries of `list` ("mm,sched" contains "sched").
bool list_contains(StringView list, StringView item);

template <typename Visitor>
void CommandLine::for_each(Visitor&& visitor) const {
    size_t i = 0;
    const size_t n = m_text.size();
    while (i < n) {
        while (i < n && (m_text[i] == ' ' || m_text[i] == '\t')) ++i;
        if (i >= n) break;
        size_t key_start = i;
        while (i < n && m_text[i] != ' ' && m_text[i] != '\t' && m_text[i] != '=') ++i;
        StringView key = m_text.substr(key_start, i - key_start);
        if (i < n && m_text[i] == '=') {
            ++i;
            size_t value_start = i;
            StringView value;
            if (i < n && m_text[i] == '"') {
                value_start = ++i;
                while (i < n && m_text[i] != '"') ++i;
                value = m_text.substr(value_start, i - value_start);
                if (i < n) ++i;  // closing quote; an unterminated quote runs to the end
            } else {
                while (i < n && m_text[i] != ' ' && m_text[i] != '\t') ++i;
                value = m_text.substr(value_start, i - value_start);
            }
            visitor(key, value, true);
        } else {
            visitor(key, StringView(), false);
        }
    }
}

}  // namespace kstd

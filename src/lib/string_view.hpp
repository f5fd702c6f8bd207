// A minimal std::string_view replacement for the freestanding kernel and its host tests.
#pragma once

#include <stddef.h>

namespace kstd {

constexpr size_t cstring_length(const char* text) {
    size_t length = 0;
    while (text[length] != '\0') ++length;
    return length;
}

class StringView {
public:
    static constexpr size_t npos = static_cast<size_t>(-1);

    constexpr StringView() = default;
    constexpr StringView(const char* text) : m_data(text), m_size(text ? cstring_length(text) : 0) {}
    constexpr StringView(const char* data, size_t size) : m_data(data), m_size(size) {}

    constexpr const char* data() const { return m_data; }
    constexpr size_t size() const { return m_size; }
    constexpr bool empty() const { return m_size == 0; }
    constexpr char operator[](size_t index) const { return m_data[index]; }
    constexpr const char* begin() const { return m_data; }
    constexpr const char* end() const { return m_data + m_size; }

    constexpr StringView substr(size_t offset, size_t count = npos) const {
        if (offset > m_size) return {};
        size_t available = m_size - offset;
        return {m_data + offset, count < available ? count : available};
    }

    constexpr size_t find(char wanted, size_t from = 0) const {
        for (size_t i = from; i < m_size; ++i)
            if (m_data[i] == wanted) return i;
        return npos;
    }

    constexpr bool starts_with(StringView prefix) const {
        return prefix.m_size <= m_size && substr(0, prefix.m_size) == prefix;
    }

    friend constexpr bool operator==(StringView a, StringView b) {
        if (a.m_size != b.m_size) return false;
        for (size_t i = 0; i < a.m_size; ++i)
            if (a.m_data[i] != b.m_data[i]) return false;
        return true;
    }
    friend constexpr bool operator!=(StringView a, StringView b) { return !(a == b); }

private:
    const char* m_data = nullptr;
    size_t m_size = 0;
};

}  // namespace kstd

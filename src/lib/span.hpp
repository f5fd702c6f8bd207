// A minimal std::span replacement: the kernel is built without a C++ standard library, and the
// portable modules must compile identically in the kernel and in host tests.
#pragma once

#include <stddef.h>
#include <stdint.h>

namespace kstd {

template <typename T>
class Span {
public:
    constexpr Span() = default;
    constexpr Span(T* data, size_t size) : m_data(data), m_size(size) {}
    template <size_t N>
    constexpr Span(T (&array)[N]) : m_data(array), m_size(N) {}
    // Allows Span<const T> from Span<T>.
    template <typename U>
    constexpr Span(const Span<U>& other) : m_data(other.data()), m_size(other.size()) {}

    constexpr T* data() const { return m_data; }
    constexpr size_t size() const { return m_size; }
    constexpr bool empty() const { return m_size == 0; }
    constexpr T& operator[](size_t index) const { return m_data[index]; }
    constexpr T* begin() const { return m_data; }
    constexpr T* end() const { return m_data + m_size; }

    // Out-of-range requests give an empty span rather than undefined behaviour: parsers rely on
    // this to stay inside their input.
    constexpr Span subspan(size_t offset, size_t count) const {
        if (offset > m_size || count > m_size - offset) return {};
        return {m_data + offset, count};
    }
    constexpr Span subspan(size_t offset) const {
        if (offset > m_size) return {};
        return {m_data + offset, m_size - offset};
    }

private:
    T* m_data = nullptr;  // first element (may be null when empty)
    size_t m_size = 0;    // number of elements
};

using Bytes = Span<const uint8_t>;

}  // namespace kstd

// Result<T, E>: a value or an error code, for parsers that must reject bad input without
// exceptions (the kernel is built with -fno-exceptions).
#pragma once

namespace kstd {

template <typename E>
struct Failure {
    E error;
};

template <typename E>
constexpr Failure<E> fail(E error) {
    return {error};
}

template <typename T, typename E>
class Result {
public:
    constexpr Result(const T& value) : m_value(value), m_ok(true) {}
    constexpr Result(Failure<E> failure) : m_error(failure.error), m_ok(false) {}

    constexpr bool ok() const { return m_ok; }
    constexpr explicit operator bool() const { return m_ok; }
    constexpr const T& value() const { return m_value; }
    constexpr T& value() { return m_value; }
    constexpr const T* operator->() const { return &m_value; }
    constexpr E error() const { return m_error; }

private:
    T m_value{};
    E m_error{};
    bool m_ok;
};

}  // namespace kstd

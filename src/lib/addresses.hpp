// Physical and virtual addresses as two types, where passing one for the other is a bug that
// would otherwise compile: a mapping call with its two addresses swapped. Construction is
// explicit and value() gives the number back for arithmetic.
#pragma once

#include <stdint.h>

namespace kstd {

class PhysAddr {
public:
    constexpr explicit PhysAddr(uint64_t value) : m_value(value) {}
    constexpr uint64_t value() const { return m_value; }
    constexpr bool operator==(const PhysAddr&) const = default;

private:
    uint64_t m_value;
};

class VirtAddr {
public:
    constexpr explicit VirtAddr(uint64_t value) : m_value(value) {}
    constexpr uint64_t value() const { return m_value; }
    constexpr bool operator==(const VirtAddr&) const = default;

private:
    uint64_t m_value;
};

}  // namespace kstd

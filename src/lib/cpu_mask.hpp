// A set of CPUs by index, one bit each: where a task may run, which CPUs did something, which to
// interrupt. kMaxCpus is the kernel's one limit on CPU indices; every per-CPU array is that long.
#pragma once

#include <stdint.h>

namespace kstd {

inline constexpr unsigned kMaxCpus = 256;

class CpuMask {
public:
    static constexpr unsigned kWords = kMaxCpus / 64;

    static constexpr CpuMask all() {
        CpuMask mask;
        for (uint64_t& word : mask.m_words) word = ~0ull;
        return mask;
    }
    static constexpr CpuMask only(unsigned cpu) {
        CpuMask mask;
        mask.add(cpu);
        return mask;
    }
    // The system-call ABI passes masks as kWords 64-bit words, CPU 0 in bit 0 of the first.
    static constexpr CpuMask from_words(const uint64_t (&words)[kWords]) {
        CpuMask mask;
        for (unsigned i = 0; i < kWords; ++i) mask.m_words[i] = words[i];
        return mask;
    }

    constexpr bool contains(unsigned cpu) const {
        return cpu < kMaxCpus && ((m_words[cpu / 64] >> (cpu % 64)) & 1);
    }
    constexpr void add(unsigned cpu) {
        if (cpu < kMaxCpus) m_words[cpu / 64] |= 1ull << (cpu % 64);
    }
    constexpr unsigned count() const {
        unsigned n = 0;
        for (uint64_t word : m_words) n += static_cast<unsigned>(__builtin_popcountll(word));
        return n;
    }
    constexpr bool empty() const { return count() == 0; }
    constexpr bool operator==(const CpuMask&) const = default;

    // For a mask CPUs add themselves to while others read it (where work ran, which CPUs have
    // started). Adding releases what the CPU wrote before; reading acquires it.
    void add_concurrently(unsigned cpu) {
        if (cpu < kMaxCpus) __atomic_fetch_or(&m_words[cpu / 64], 1ull << (cpu % 64), __ATOMIC_RELEASE);
    }
    void remove_concurrently(unsigned cpu) {
        if (cpu < kMaxCpus) __atomic_fetch_and(&m_words[cpu / 64], ~(1ull << (cpu % 64)), __ATOMIC_RELEASE);
    }
    bool contains_concurrently(unsigned cpu) const {
        return cpu < kMaxCpus && ((__atomic_load_n(&m_words[cpu / 64], __ATOMIC_ACQUIRE) >> (cpu % 64)) & 1);
    }
    CpuMask load_concurrently() const {
        CpuMask copy;
        for (unsigned i = 0; i < kWords; ++i) copy.m_words[i] = __atomic_load_n(&m_words[i], __ATOMIC_ACQUIRE);
        return copy;
    }

private:
    uint64_t m_words[kWords] = {};
};

}  // namespace kstd

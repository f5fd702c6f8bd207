// Reading little-endian integers out of byte spans at any alignment (firmware tables and boot
// information are not always naturally aligned; a plain cast would be undefined behaviour).
#pragma once

#include <stdint.h>

#include "lib/span.hpp"

namespace kstd {

template <typename T>
inline T load(const uint8_t* at) {
    T value;
    __builtin_memcpy(&value, at, sizeof(T));
    return value;
}

// Caller guarantees offset + sizeof(T) <= bytes.size().
template <typename T>
inline T load(Bytes bytes, size_t offset) {
    return load<T>(bytes.data() + offset);
}

inline uint8_t checksum8(Bytes bytes) {
    uint8_t sum = 0;
    for (uint8_t b : bytes) sum = static_cast<uint8_t>(sum + b);
    return sum;
}

}  // namespace kstd

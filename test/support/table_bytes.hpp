// Byte-buffer helpers shared by the firmware-table tests and fuzzers: editing a table and
// restoring its checksum, so a test reaches the check it means to exercise.
#pragma once

#include <stddef.h>
#include <stdint.h>

#include <algorithm>
#include <vector>

namespace test_support {

using Buffer = std::vector<uint8_t>;

// Sets b[at] so that the first `length` bytes (clamped to the buffer) sum to zero mod 256.
inline void fix_checksum(Buffer& b, size_t at, size_t length) {
    length = std::min(length, b.size());
    if (at >= length) return;
    b[at] = 0;
    uint8_t sum = 0;
    for (size_t i = 0; i < length; ++i) sum = static_cast<uint8_t>(sum + b[i]);
    b[at] = static_cast<uint8_t>(-sum);
}

}  // namespace test_support

// Firmware-table dumps from test/smp/data (captured from SeaBIOS and OVMF by
// tools/capture-firmware-tables), loaded by the table-parser tests. Needs SABLE_TEST_DATA_DIR.
#pragma once

#include <gtest/gtest.h>

#include <fstream>
#include <iterator>
#include <string>

#include "support/table_bytes.hpp"

namespace test_support {

// A fixture in a vector of exactly its size, so ASan flags any overread.
inline Buffer load_fixture(const std::string& config, const std::string& table) {
    const std::string path = std::string(SABLE_TEST_DATA_DIR "/smp/data/") + config + "." + table + ".bin";
    std::ifstream file(path, std::ios::binary);
    if (!file) {
        ADD_FAILURE() << "cannot open fixture " << path;
        return {};
    }
    Buffer bytes((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
    bytes.shrink_to_fit();
    return bytes;
}

}  // namespace test_support

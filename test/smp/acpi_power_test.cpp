// Checks the FADT reader and the \_S5 scan (smp/acpi_power) against the FADTs and DSDTs QEMU
// really hands SeaBIOS and OVMF guests (test/smp/data, README there), against synthetic tables for
// the encodings those never use, and against truncated and corrupted copies, which must fail
// with the right error and never read outside their exact-size buffers.
#include "smp/acpi_power.hpp"
#include "support/table_bytes.hpp"
#include "support/table_fixtures.hpp"

#include <gtest/gtest.h>

#include <stdint.h>
#include <string.h>

#include <fstream>
#include <initializer_list>
#include <iterator>
#include <string>
#include <vector>

#ifndef SABLE_TEST_DATA_DIR
#error "SABLE_TEST_DATA_DIR must name the test/ directory (it holds smp/data/*.bin)"
#endif

namespace {

using smp::AddressSpace;
using smp::TableError;
using test_support::Buffer;
using test_support::fix_checksum;

kstd::Bytes view(const Buffer& buffer) { return {buffer.data(), buffer.size()}; }

using test_support::load_fixture;

const char* const kConfigs[] = {"seabios_pc_smp1",          "seabios_pc_smp4_sockets", "seabios_q35_smp4_cores",
                                "seabios_q35_smp8_sockets", "ovmf_q35_smp4",           "ovmf_pc_smp1"};

void put32(Buffer& b, size_t at, uint32_t value) {
    for (int i = 0; i < 4; ++i) b[at + i] = static_cast<uint8_t>(value >> (8 * i));
}
void put64(Buffer& b, size_t at, uint64_t value) {
    put32(b, at, static_cast<uint32_t>(value));
    put32(b, at + 4, static_cast<uint32_t>(value >> 32));
}
// [ACPI §5.2.6] SDT header: length at 4, checksum at 9 over the length.
void set_length_and_checksum(Buffer& b, uint32_t length) {
    put32(b, 4, length);
    fix_checksum(b, 9, length);
}
Buffer prefix(const Buffer& bytes, size_t size) { return Buffer(bytes.begin(), bytes.begin() + size); }

// A DSDT (or SSDT) holding `aml` after its 36-byte header, checksum made valid.
Buffer table_with_aml(std::initializer_list<uint8_t> aml, const char* signature = "DSDT") {
    Buffer b(36, 0);
    memcpy(b.data(), signature, 4);
    b[8] = 2;
    b.insert(b.end(), aml);
    set_length_and_checksum(b, static_cast<uint32_t>(b.size()));
    return b;
}

// --- FADT: the real tables ----------------------------------------------------------------------

TEST(Fadt, SeabiosPcRevision1HasPm1aAtPort604AndNoResetRegister) {
    const Buffer b = load_fixture("seabios_pc_smp1", "fadt");
    auto fadt = smp::parse_fadt(view(b));
    ASSERT_TRUE(fadt);
    EXPECT_EQ(fadt->revision, 1);
    EXPECT_EQ(fadt->dsdt_address, 0xffe0040u);
    EXPECT_EQ(fadt->pm1a_control.space_id, static_cast<uint8_t>(AddressSpace::Io));
    EXPECT_EQ(fadt->pm1a_control.address, 0x604u);
    EXPECT_EQ(fadt->pm1a_control.bit_width, 16);
    EXPECT_FALSE(fadt->pm1b_control.present());
    EXPECT_EQ(fadt->smi_command_port, 0xb2u);
    EXPECT_EQ(fadt->acpi_enable_value, 0xf1);
    // Flags.RESET_REG_SUP is clear, and a 116-byte table has no reset register to read anyway.
    EXPECT_FALSE(fadt->reset_supported);
}

TEST(Fadt, OvmfPcHasPm1aAtPortB004) {
    const Buffer b = load_fixture("ovmf_pc_smp1", "fadt");
    auto fadt = smp::parse_fadt(view(b));
    ASSERT_TRUE(fadt);
    EXPECT_EQ(fadt->pm1a_control.address, 0xb004u);
    EXPECT_FALSE(fadt->reset_supported);
}

TEST(Fadt, Q35Revision3HasResetRegisterAtPortCf9AndXFields) {
    for (const char* config : {"seabios_q35_smp4_cores", "ovmf_q35_smp4"}) {
        SCOPED_TRACE(config);
        const Buffer b = load_fixture(config, "fadt");
        auto fadt = smp::parse_fadt(view(b));
        ASSERT_TRUE(fadt);
        EXPECT_EQ(fadt->revision, 3);
        EXPECT_TRUE(fadt->reset_supported);
        EXPECT_EQ(fadt->reset_register.space_id, static_cast<uint8_t>(AddressSpace::Io));
        EXPECT_EQ(fadt->reset_register.address, 0xcf9u);
        EXPECT_EQ(fadt->reset_value, 0x0f);
        // X_PM1a_CNT_BLK: I/O, 16 bits, 0x604.
        EXPECT_EQ(fadt->pm1a_control.space_id, static_cast<uint8_t>(AddressSpace::Io));
        EXPECT_EQ(fadt->pm1a_control.bit_width, 16);
        EXPECT_EQ(fadt->pm1a_control.address, 0x604u);
    }
}

// --- FADT: what the real tables do not show -----------------------------------------------------

// The PM timer of every machine dumped: I/O port, 24 or 32 bits, as the chipset puts it.
TEST(Fadt, PmTimerOfEachFirmwareDump) {
    struct Expected {
        const char* machine;
        uint64_t port;
        uint8_t bits;
    };
    for (const Expected& e : {Expected{"seabios_pc_smp1", 0x608, 24}, Expected{"ovmf_pc_smp1", 0xb008, 24},
                              Expected{"seabios_q35_smp4_cores", 0x608, 24}, Expected{"ovmf_q35_smp4", 0x608, 24}}) {
        const Buffer b = load_fixture(e.machine, "fadt");
        auto fadt = smp::parse_fadt(view(b));
        ASSERT_TRUE(fadt) << e.machine;
        EXPECT_EQ(fadt->pm_timer.space_id, static_cast<uint8_t>(AddressSpace::Io)) << e.machine;
        EXPECT_EQ(fadt->pm_timer.address, e.port) << e.machine;
        EXPECT_EQ(fadt->pm_timer_bits, e.bits) << e.machine;
    }
}

TEST(Fadt, PmTimerNeedsLengthFourAndTakesTheExtendedFlag) {
    const Buffer original = load_fixture("seabios_pc_smp1", "fadt");
    Buffer b = original;
    b[91] = 0;  // PM_TMR_LEN: no timer
    fix_checksum(b, 9, b.size());
    auto none = smp::parse_fadt(view(b));
    ASSERT_TRUE(none);
    EXPECT_FALSE(none->pm_timer.present());
    EXPECT_EQ(none->pm_timer_bits, 0);
    b = original;
    b[113] |= 1;  // Flags bit 8, TMR_VAL_EXT (Flags at byte 112, little-endian)
    fix_checksum(b, 9, b.size());
    auto extended = smp::parse_fadt(view(b));
    ASSERT_TRUE(extended);
    EXPECT_EQ(extended->pm_timer_bits, 32);
}

TEST(Fadt, PrefersXDsdtAndXPm1aWhenNonZero) {
    Buffer b = load_fixture("seabios_q35_smp4_cores", "fadt");
    put64(b, 140, 0x1'2345'6000ull);                      // X_DSDT
    b[172] = static_cast<uint8_t>(AddressSpace::Memory);  // X_PM1a_CNT_BLK: memory
    put64(b, 176, 0xfed0'0004ull);
    fix_checksum(b, 9, b.size());
    auto fadt = smp::parse_fadt(view(b));
    ASSERT_TRUE(fadt);
    EXPECT_EQ(fadt->dsdt_address, 0x1'2345'6000ull);
    EXPECT_EQ(fadt->pm1a_control.space_id, static_cast<uint8_t>(AddressSpace::Memory));
    EXPECT_EQ(fadt->pm1a_control.address, 0xfed0'0004ull);
}

TEST(Fadt, FallsBackToLegacyFieldsWhenXFieldsAreZero) {
    Buffer b = load_fixture("seabios_q35_smp4_cores", "fadt");
    put64(b, 140, 0);
    put64(b, 176, 0);
    put32(b, 64, 0x1234);
    fix_checksum(b, 9, b.size());
    auto fadt = smp::parse_fadt(view(b));
    ASSERT_TRUE(fadt);
    EXPECT_EQ(fadt->dsdt_address, 0xffe0040u);
    EXPECT_EQ(fadt->pm1a_control.space_id, static_cast<uint8_t>(AddressSpace::Io));
    EXPECT_EQ(fadt->pm1a_control.address, 0x1234u);
}

TEST(Fadt, ResetRegisterNeedsTheFlagAndAWritableSpace) {
    Buffer flag_clear = load_fixture("seabios_q35_smp4_cores", "fadt");
    flag_clear[113] &= ~0x04;  // Flags bit 10
    fix_checksum(flag_clear, 9, flag_clear.size());
    ASSERT_TRUE(smp::parse_fadt(view(flag_clear)));
    EXPECT_FALSE(smp::parse_fadt(view(flag_clear))->reset_supported);

    Buffer pci_space = load_fixture("seabios_q35_smp4_cores", "fadt");
    pci_space[116] = 2;  // PCI configuration space: the kernel has no way to write it
    fix_checksum(pci_space, 9, pci_space.size());
    EXPECT_FALSE(smp::parse_fadt(view(pci_space))->reset_supported);

    Buffer no_address = load_fixture("seabios_q35_smp4_cores", "fadt");
    put64(no_address, 120, 0);
    fix_checksum(no_address, 9, no_address.size());
    EXPECT_FALSE(smp::parse_fadt(view(no_address))->reset_supported);
}

TEST(Fadt, ResetFlagInARevision1TableReadsNoFieldPastItsLength) {
    Buffer b = load_fixture("seabios_pc_smp1", "fadt");
    b[113] |= 0x04;
    fix_checksum(b, 9, b.size());
    auto fadt = smp::parse_fadt(view(b));
    ASSERT_TRUE(fadt);
    EXPECT_FALSE(fadt->reset_supported);
}

TEST(Fadt, RejectsWrongSignatureBadChecksumAndShortTables) {
    Buffer dsdt = load_fixture("seabios_pc_smp1", "dsdt");
    EXPECT_EQ(smp::parse_fadt(view(dsdt)).error(), TableError::BadSignature);

    Buffer bad_sum = load_fixture("seabios_pc_smp1", "fadt");
    bad_sum[64] ^= 1;
    EXPECT_EQ(smp::parse_fadt(view(bad_sum)).error(), TableError::BadChecksum);

    // A valid header claiming 100 bytes: shorter than the revision 1 fields.
    Buffer short_table = prefix(load_fixture("seabios_pc_smp1", "fadt"), 100);
    set_length_and_checksum(short_table, 100);
    EXPECT_EQ(smp::parse_fadt(view(short_table)).error(), TableError::TooShort);
}

TEST(Fadt, EveryTruncationFailsWithoutReadingPastTheBuffer) {
    for (const char* config : kConfigs) {
        const Buffer whole = load_fixture(config, "fadt");
        for (size_t size = 0; size < whole.size(); ++size) {
            const Buffer cut = prefix(whole, size);
            auto fadt = smp::parse_fadt(view(cut));
            ASSERT_FALSE(fadt) << config << " cut to " << size;
            EXPECT_TRUE(fadt.error() == TableError::TooShort || fadt.error() == TableError::LengthPastEnd);
        }
    }
}

// A table cut short and re-checksummed: its own length now says the X_ fields are missing.
TEST(Fadt, CorrectedLengthOnlyReadsFieldsInside) {
    const Buffer whole = load_fixture("seabios_q35_smp4_cores", "fadt");
    for (size_t size = 116; size < whole.size(); ++size) {
        Buffer cut = prefix(whole, size);
        set_length_and_checksum(cut, static_cast<uint32_t>(size));
        auto fadt = smp::parse_fadt(view(cut));
        ASSERT_TRUE(fadt) << size;
        EXPECT_EQ(fadt->reset_supported, size >= 129) << size;
        EXPECT_EQ(fadt->pm1a_control.address, 0x604u);
    }
}

// --- \_S5: the real DSDTs -----------------------------------------------------------------------

TEST(S5, EveryQemuDsdtSaysSleepType0) {
    for (const char* config : kConfigs) {
        SCOPED_TRACE(config);
        const Buffer b = load_fixture(config, "dsdt");
        auto s5 = smp::find_s5_sleep_type(view(b));
        ASSERT_TRUE(s5) << smp::describe(s5.error());
        EXPECT_EQ(s5->pm1a, 0);
        EXPECT_EQ(s5->pm1b, 0);
    }
}

TEST(S5, EveryTruncatedDsdtFailsWithoutReadingPastTheBuffer) {
    const Buffer whole = load_fixture("seabios_q35_smp4_cores", "dsdt");
    for (size_t size = 0; size < whole.size(); ++size) {
        const Buffer cut = prefix(whole, size);
        auto s5 = smp::find_s5_sleep_type(view(cut));
        ASSERT_FALSE(s5) << size;
        EXPECT_TRUE(s5.error() == TableError::TooShort || s5.error() == TableError::LengthPastEnd) << size;
    }
}

// The table's own length cut through the \_S5 definition (checksum fixed): the name with no
// package after it is not found; a package cut short is malformed. Nothing is read past the cut.
TEST(S5, LengthCutThroughTheDefinitionIsNotFoundOrMalformed) {
    const Buffer whole = load_fixture("seabios_pc_smp1", "dsdt");
    const size_t name = 2891;  // "_S5_" in 08 5F 53 35 5F 12 06 04 00 00 00 00
    ASSERT_EQ(memcmp(&whole[name], "_S5_", 4), 0);
    for (size_t size = name; size < name + 11; ++size) {  // name + 11: the package is whole
        Buffer cut = prefix(whole, size);
        set_length_and_checksum(cut, static_cast<uint32_t>(size));
        auto s5 = smp::find_s5_sleep_type(view(cut));
        ASSERT_FALSE(s5) << size;
        EXPECT_EQ(s5.error(), size < name + 5 ? TableError::NotFound : TableError::BadEntry) << size;
    }
}

TEST(S5, RejectsBadChecksumAndWrongSignature) {
    Buffer bad_sum = load_fixture("seabios_pc_smp1", "dsdt");
    bad_sum[2891 + 7] = 5;  // SLP_TYPa, without fixing the checksum
    EXPECT_EQ(smp::find_s5_sleep_type(view(bad_sum)).error(), TableError::BadChecksum);

    const Buffer fadt = load_fixture("seabios_pc_smp1", "fadt");
    EXPECT_EQ(smp::find_s5_sleep_type(view(fadt)).error(), TableError::BadSignature);
}

TEST(S5, DsdtWithoutS5IsNotFound) {
    Buffer b = load_fixture("seabios_pc_smp1", "dsdt");
    b[2891 + 2] = '9';  // \_S5 becomes \_S9
    fix_checksum(b, 9, b.size());
    EXPECT_EQ(smp::find_s5_sleep_type(view(b)).error(), TableError::NotFound);
}

// --- \_S5: encodings ----------------------------------------------------------------------------

// Name(_S5, Package(n) {a, b, ...}): 08 "_S5_" 12 PkgLength NumElements elements...
TEST(S5, ReadsEveryIntegerEncoding) {
    struct Case {
        std::initializer_list<uint8_t> aml;
        uint8_t a, b;
    };
    const Case cases[] = {
        {{0x08, '_', 'S', '5', '_', 0x12, 0x06, 0x04, 0x00, 0x01, 0x00, 0x00}, 0, 1},                    // Zero, One
        {{0x08, '_', 'S', '5', '_', 0x12, 0x06, 0x02, 0x0A, 0x05, 0x0A, 0x07}, 5, 7},                    // BytePrefix
        {{0x08, '_', 'S', '5', '_', 0x12, 0x08, 0x02, 0x0B, 0x06, 0x00, 0x0B, 0x02, 0x00}, 6, 2},        // WordPrefix
        {{0x08, '_', 'S', '5', '_', 0x12, 0x0C, 0x02, 0x0C, 0x07, 0, 0, 0, 0x0C, 0x03, 0, 0, 0}, 7, 3},  // DWord
        {{0x08, '_', 'S', '5', '_', 0x12, 0x14, 0x02, 0x0E, 4, 0, 0, 0, 0, 0, 0, 0, 0x0E, 1, 0, 0, 0, 0, 0, 0, 0},
         4,
         1},                                                                           // QWordPrefix
        {{0x08, '\\', '_', 'S', '5', '_', 0x12, 0x05, 0x02, 0x0A, 0x05, 0x00}, 5, 0},  // \_S5 (root prefix)
        {{0x08, '_', 'S', '5', '_', 0x12, 0x04, 0x01, 0x0A, 0x05}, 5, 5},              // one element: b = a
        // A two-byte PkgLength (lead 0x40 | low nibble, then the next eight bits).
        {{0x08, '_', 'S', '5', '_', 0x12, 0x47, 0x00, 0x02, 0x0A, 0x03, 0x0A, 0x04}, 3, 4},
    };
    for (const Case& c : cases) {
        const Buffer b = table_with_aml(c.aml);
        auto s5 = smp::find_s5_sleep_type(view(b));
        ASSERT_TRUE(s5) << smp::describe(s5.error());
        EXPECT_EQ(s5->pm1a, c.a);
        EXPECT_EQ(s5->pm1b, c.b);
    }
}

TEST(S5, FoundInAnSsdtToo) {
    const Buffer b = table_with_aml({0x08, '_', 'S', '5', '_', 0x12, 0x05, 0x02, 0x0A, 0x05, 0x00}, "SSDT");
    ASSERT_TRUE(smp::find_s5_sleep_type(view(b)));
    EXPECT_EQ(smp::find_s5_sleep_type(view(b))->pm1a, 5);
}

TEST(S5, SkipsMentionsThatAreNotTheDefinition) {
    // A bare reference to _S5_ (no NameOp), then Name(_S5_, 3) (not a package), then the real one.
    const Buffer b = table_with_aml({'_',  'S', '5', '_', 0x08, '_',  'S',  '5',  '_',  0x0A, 0x03,
                                     0x08, '_', 'S', '5', '_',  0x12, 0x05, 0x02, 0x0A, 0x06, 0x00});
    auto s5 = smp::find_s5_sleep_type(view(b));
    ASSERT_TRUE(s5);
    EXPECT_EQ(s5->pm1a, 6);
}

TEST(S5, NameOpInTheHeaderDoesNotCount) {
    // The header's last byte (creator revision) is 0x08 and the AML starts with "_S5_" 12 ...
    Buffer b = table_with_aml({'_', 'S', '5', '_', 0x12, 0x05, 0x02, 0x0A, 0x05, 0x00});
    b[35] = 0x08;
    fix_checksum(b, 9, b.size());
    EXPECT_EQ(smp::find_s5_sleep_type(view(b)).error(), TableError::NotFound);
}

TEST(S5, RejectsMalformedPackages) {
    const std::initializer_list<uint8_t> malformed[] = {
        {0x08, '_', 'S', '5', '_', 0x12, 0x02, 0x00},                    // no elements
        {0x08, '_', 'S', '5', '_', 0x12, 0x05, 0x02, 0x0D, 'a', 0x00},   // a string, not an integer
        {0x08, '_', 'S', '5', '_', 0x12, 0x04, 0x02, 0xFF, 0x00},        // Ones: not a 3-bit type
        {0x08, '_', 'S', '5', '_', 0x12, 0x05, 0x02, 0x0A, 0x08, 0x00},  // 8: not a 3-bit type
        {0x08, '_', 'S', '5', '_', 0x12, 0x30, 0x02, 0x0A, 0x05, 0x00},  // package runs past the table
        {0x08, '_', 'S', '5', '_', 0x12, 0x03, 0x02, 0x0A, 0x05, 0x00},  // package ends inside an element
        {0x08, '_', 'S', '5', '_', 0x12, 0x04, 0x02, 0x0B, 0x05, 0x00},  // WordPrefix cut by its package's end
        {0x08, '_', 'S', '5', '_', 0x12, 0x76, 0x00, 0x02, 0x0A, 0x05},  // reserved PkgLength bits set
        {0x08, '_', 'S', '5', '_', 0x12, 0xC0, 0x01},                    // 4-byte PkgLength past the end
        {0x08, '_', 'S', '5', '_', 0x12},                                // PackageOp, then nothing
    };
    for (const auto& aml : malformed) {
        const Buffer b = table_with_aml(aml);
        auto s5 = smp::find_s5_sleep_type(view(b));
        ASSERT_FALSE(s5) << "AML of " << aml.size() << " bytes parsed";
        EXPECT_EQ(s5.error(), TableError::BadEntry);
    }
}

TEST(S5, SleepValueSetsTypeAndEnable) {
    EXPECT_EQ(smp::pm1_sleep_value(0), 0x2000);
    EXPECT_EQ(smp::pm1_sleep_value(5), 0x3400);
    EXPECT_EQ(smp::pm1_sleep_value(7), 0x3C00);
}

}  // namespace

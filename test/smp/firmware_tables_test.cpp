// Checks the firmware-table parsers (smp/firmware_tables) against tables QEMU's SeaBIOS and OVMF
// really produce, against synthetic tables for the cases those never show (x2APIC, >256 CPUs,
// overrides), and against corrupted and truncated copies, which must fail with the right error
// and never read outside their (exact-size) buffers.
#include "smp/firmware_tables.hpp"
#include "support/table_bytes.hpp"
#include "support/table_fixtures.hpp"

#include <gtest/gtest.h>

#include <stdint.h>
#include <string.h>

#include <algorithm>
#include <fstream>
#include <initializer_list>
#include <iterator>
#include <random>
#include <string>
#include <vector>

#ifndef SABLE_TEST_DATA_DIR
#error "SABLE_TEST_DATA_DIR must name the test/ directory (it holds smp/data/*.bin)"
#endif

namespace {

using smp::TableError;
using smp::TableSource;

using test_support::Buffer;
using test_support::fix_checksum;

kstd::Bytes view(const Buffer& buffer) { return {buffer.data(), buffer.size()}; }

using test_support::load_fixture;

// A copy of the first `size` bytes, in a vector of exactly that size.
Buffer prefix(const Buffer& bytes, size_t size) { return Buffer(bytes.begin(), bytes.begin() + size); }

uint16_t get16(const Buffer& b, size_t at) { return static_cast<uint16_t>(b[at] | b[at + 1] << 8); }
uint32_t get32(const Buffer& b, size_t at) { return get16(b, at) | uint32_t{get16(b, at + 2)} << 16; }
void put16(Buffer& b, size_t at, uint16_t value) {
    b[at] = static_cast<uint8_t>(value);
    b[at + 1] = static_cast<uint8_t>(value >> 8);
}
void put32(Buffer& b, size_t at, uint32_t value) {
    put16(b, at, static_cast<uint16_t>(value));
    put16(b, at + 2, static_cast<uint16_t>(value >> 16));
}
void append16(Buffer& b, uint16_t value) {
    b.resize(b.size() + 2);
    put16(b, b.size() - 2, value);
}
void append32(Buffer& b, uint32_t value) {
    b.resize(b.size() + 4);
    put32(b, b.size() - 4, value);
}
void append64(Buffer& b, uint64_t value) {
    append32(b, static_cast<uint32_t>(value));
    append32(b, static_cast<uint32_t>(value >> 32));
}
void append_text(Buffer& b, const char* text) { b.insert(b.end(), text, text + strlen(text)); }

// [ACPI §5.2.6] SDT header: length at 4, checksum at 9.
void fix_sdt_checksum(Buffer& b) {
    if (b.size() >= 8) fix_checksum(b, 9, get32(b, 4));
}
// [ACPI §5.2.5.3] RSDP: checksum at 8 over 20 bytes; extended checksum at 32 over `length` (at 20).
void fix_rsdp_checksums(Buffer& b) {
    fix_checksum(b, 8, 20);
    if (b.size() >= 24 && b[15] >= 2) fix_checksum(b, 32, get32(b, 20));
}
// [MP spec §4.1] floating pointer: length in 16-byte units at 8, checksum at 10.
void fix_mp_pointer_checksum(Buffer& b) {
    if (b.size() >= 9) fix_checksum(b, 10, size_t{b[8]} * 16);
}
// [MP spec §4.2] configuration table header: base length at 4, checksum at 7.
void fix_mp_config_checksum(Buffer& b) {
    if (b.size() >= 6) fix_checksum(b, 7, get16(b, 4));
}

// Builds a MADT [ACPI §5.2.12]: SDT header, local APIC address, flags, then entries.
class MadtBuilder {
public:
    explicit MadtBuilder(uint32_t local_apic_address = 0xFEE00000, uint32_t flags = 1) {
        append_text(m_bytes, "APIC");
        append32(m_bytes, 0);  // length, set by build()
        m_bytes.push_back(4);  // revision
        m_bytes.push_back(0);  // checksum, set by build()
        append_text(m_bytes, "SABLE SABLETST");
        append32(m_bytes, 1);  // OEM revision
        append_text(m_bytes, "SBLE");
        append32(m_bytes, 1);  // creator revision
        append32(m_bytes, local_apic_address);
        append32(m_bytes, flags);
    }
    MadtBuilder& raw(std::initializer_list<uint8_t> entry) {
        m_bytes.insert(m_bytes.end(), entry);
        return *this;
    }
    MadtBuilder& processor(uint8_t uid, uint8_t apic_id, uint32_t flags) {
        raw({0, 8, uid, apic_id});
        append32(m_bytes, flags);
        return *this;
    }
    MadtBuilder& io_apic(uint8_t id, uint32_t address, uint32_t gsi_base) {
        raw({1, 12, id, 0});
        append32(m_bytes, address);
        append32(m_bytes, gsi_base);
        return *this;
    }
    MadtBuilder& source_override(uint8_t irq, uint32_t gsi, uint16_t flags) {
        raw({2, 10, 0, irq});
        append32(m_bytes, gsi);
        append16(m_bytes, flags);
        return *this;
    }
    MadtBuilder& nmi(uint8_t uid, uint16_t flags, uint8_t lint) {
        raw({4, 6, uid});
        append16(m_bytes, flags);
        m_bytes.push_back(lint);
        return *this;
    }
    MadtBuilder& local_apic_address_override(uint64_t address) {
        raw({5, 12, 0, 0});
        append64(m_bytes, address);
        return *this;
    }
    MadtBuilder& x2apic(uint32_t apic_id, uint32_t flags, uint32_t uid) {
        raw({9, 16, 0, 0});
        append32(m_bytes, apic_id);
        append32(m_bytes, flags);
        append32(m_bytes, uid);
        return *this;
    }
    MadtBuilder& x2apic_nmi(uint16_t flags, uint32_t uid, uint8_t lint) {
        raw({0xA, 12});
        append16(m_bytes, flags);
        append32(m_bytes, uid);
        raw({lint, 0, 0, 0});
        return *this;
    }
    Buffer build() const {
        Buffer bytes = m_bytes;
        put32(bytes, 4, static_cast<uint32_t>(bytes.size()));
        fix_sdt_checksum(bytes);
        return bytes;
    }

private:
    Buffer m_bytes;
};

// Builds an MP configuration table [MP spec §4.2-4.3]: 44-byte header, then entries.
class MpConfigBuilder {
public:
    MpConfigBuilder() {
        append_text(m_bytes, "PCMP");
        append16(m_bytes, 0);  // base length, set by build()
        m_bytes.push_back(4);  // spec revision 1.4
        m_bytes.push_back(0);  // checksum, set by build()
        append_text(m_bytes, "SABLE   SABLETEST   ");
        append32(m_bytes, 0);  // OEM table pointer
        append16(m_bytes, 0);  // OEM table size
        append16(m_bytes, 0);  // entry count, set by build()
        append32(m_bytes, 0xFEE00000);
        append16(m_bytes, 0);  // extended table length
        m_bytes.push_back(0);  // extended table checksum
        m_bytes.push_back(0);
    }
    MpConfigBuilder& processor(uint8_t apic_id, uint8_t flags) {
        m_bytes.insert(m_bytes.end(), {0, apic_id, 0x14, flags});
        append32(m_bytes, 0x0F61);      // CPU signature
        append32(m_bytes, 0x0FCBFBFD);  // feature flags
        m_bytes.insert(m_bytes.end(), 8, 0);
        ++m_entries;
        return *this;
    }
    MpConfigBuilder& bus(uint8_t id, const char* type6) {
        m_bytes.insert(m_bytes.end(), {1, id});
        append_text(m_bytes, type6);
        ++m_entries;
        return *this;
    }
    MpConfigBuilder& io_apic(uint8_t id, uint8_t flags, uint32_t address) {
        m_bytes.insert(m_bytes.end(), {2, id, 0x11, flags});
        append32(m_bytes, address);
        ++m_entries;
        return *this;
    }
    MpConfigBuilder& interrupt(uint8_t bus, uint8_t irq, uint8_t apic, uint8_t pin) {
        m_bytes.insert(m_bytes.end(), {3, 0, 0, 0, bus, irq, apic, pin});
        ++m_entries;
        return *this;
    }
    Buffer build() const {
        Buffer bytes = m_bytes;
        put16(bytes, 4, static_cast<uint16_t>(bytes.size()));
        put16(bytes, 34, m_entries);
        fix_mp_config_checksum(bytes);
        return bytes;
    }

private:
    Buffer m_bytes;
    uint16_t m_entries = 0;
};

bool is_truncation_error(TableError error) {
    return error == TableError::TooShort || error == TableError::LengthPastEnd;
}

void expect_within_capacities(const smp::PlatformTopology& topology) {
    EXPECT_LE(topology.cpu_count, smp::kMaxCpus);
    EXPECT_LE(topology.io_apic_count, smp::kMaxIoApics);
    EXPECT_LE(topology.override_count, smp::kMaxOverrides);
    EXPECT_LE(topology.nmi_count, smp::kMaxNmis);
    EXPECT_LE(topology.enabled_cpu_count(), topology.cpu_count);
    for (unsigned irq = 0; irq < 16; ++irq) (void)topology.gsi_for_isa_irq(static_cast<uint8_t>(irq));
}

// Sets 1-4 random bytes to random values.
void mutate(Buffer& bytes, std::mt19937& random) {
    if (bytes.empty()) return;
    const int count = std::uniform_int_distribution<int>(1, 4)(random);
    for (int i = 0; i < count; ++i) {
        const size_t at = std::uniform_int_distribution<size_t>(0, bytes.size() - 1)(random);
        bytes[at] = static_cast<uint8_t>(random());
    }
}

constexpr int kMutations = 20000;

// --- The QEMU dumps ---------------------------------------------------------------------------

struct Config {
    const char* name;
    unsigned madt_cpus;      // -smp count: the MADT lists every logical CPU
    unsigned mp_cpus;        // SeaBIOS's MP table lists one CPU per socket; 0: no MP table (OVMF)
    uint8_t rsdp_revision;   // SeaBIOS: ACPI 1.0 RSDP (RSDT); OVMF: 2 (XSDT)
    unsigned root_entries;   // tables the RSDT/XSDT points to
};

constexpr Config kConfigs[] = {
    {"seabios_pc_smp1", 1, 1, 0, 4},
    {"seabios_pc_smp4_sockets", 4, 4, 0, 4},
    {"seabios_q35_smp4_cores", 4, 1, 0, 5},
    {"seabios_q35_smp8_sockets", 8, 8, 0, 5},
    {"ovmf_q35_smp4", 4, 0, 2, 6},
};

std::vector<Config> configs_with_mp_table() {
    std::vector<Config> result;
    for (const Config& config : kConfigs)
        if (config.mp_cpus) result.push_back(config);
    return result;
}

std::string config_name(const testing::TestParamInfo<Config>& info) { return info.param.name; }

// -- MADT --

class RealMadt : public testing::TestWithParam<Config> {
protected:
    smp::PlatformTopology parse() {
        const Buffer madt = load_fixture(GetParam().name, "madt");
        auto topology = smp::parse_madt(view(madt));
        EXPECT_TRUE(topology.ok()) << smp::describe(topology.error());
        return topology.value();
    }
};

TEST_P(RealMadt, Parses) {
    const Buffer madt = load_fixture(GetParam().name, "madt");
    auto topology = smp::parse_madt(view(madt));
    ASSERT_TRUE(topology.ok()) << smp::describe(topology.error());
    EXPECT_EQ(topology->source, TableSource::Madt);
    EXPECT_EQ(topology->dropped, 0u);
}

TEST_P(RealMadt, ListsEveryCpuEnabledWithApicIdsFromZero) {
    const smp::PlatformTopology topology = parse();
    ASSERT_EQ(topology.cpu_count, GetParam().madt_cpus);
    EXPECT_EQ(topology.enabled_cpu_count(), GetParam().madt_cpus);
    for (unsigned i = 0; i < topology.cpu_count; ++i) {
        EXPECT_EQ(topology.cpus[i].apic_id, i);
        EXPECT_TRUE(topology.cpus[i].enabled);
        EXPECT_FALSE(topology.cpus[i].bootstrap);  // the MADT does not say which CPU is the BSP
    }
}

TEST_P(RealMadt, FindsOneIoApicAtFec00000WithGsiBaseZero) {
    const smp::PlatformTopology topology = parse();
    ASSERT_EQ(topology.io_apic_count, 1u);
    EXPECT_EQ(topology.io_apics[0].id, 0u);
    EXPECT_EQ(topology.io_apics[0].address, 0xFEC00000u);
    EXPECT_EQ(topology.io_apics[0].gsi_base, 0u);
}

TEST_P(RealMadt, OverridesIsaIrq0ToGsi2) {
    const smp::PlatformTopology topology = parse();
    ASSERT_GE(topology.override_count, 1u);
    EXPECT_EQ(topology.overrides[0].source_irq, 0);
    EXPECT_EQ(topology.overrides[0].gsi, 2u);
    EXPECT_EQ(topology.overrides[0].flags, 0);  // bus-conformant polarity and trigger
    EXPECT_EQ(topology.gsi_for_isa_irq(0), 2u);
}

// QEMU's ACPI lists the PCI-routed ISA IRQs 5, 9, 10, 11 as level-triggered, active high (0x0D).
TEST_P(RealMadt, OverridesPciIrqsAsLevelTriggeredActiveHigh) {
    const smp::PlatformTopology topology = parse();
    ASSERT_EQ(topology.override_count, 5u);
    const uint8_t irqs[] = {5, 9, 10, 11};
    for (unsigned i = 0; i < 4; ++i) {
        EXPECT_EQ(topology.overrides[i + 1].source_irq, irqs[i]);
        EXPECT_EQ(topology.overrides[i + 1].gsi, irqs[i]);
        EXPECT_EQ(topology.overrides[i + 1].flags, 0x0D);
    }
}

TEST_P(RealMadt, LeavesIsaIrq4IdentityMapped) { EXPECT_EQ(parse().gsi_for_isa_irq(4), 4u); }

TEST_P(RealMadt, ReportsLocalApicAtFee00000) { EXPECT_EQ(parse().local_apic_address, 0xFEE00000u); }

// OVMF's MADT comes from the same QEMU ACPI builder and also sets PCAT_COMPAT.
TEST_P(RealMadt, ReportsLegacyPics) { EXPECT_TRUE(parse().has_legacy_pics); }

TEST_P(RealMadt, ListsLint1NmiForAllProcessors) {
    const smp::PlatformTopology topology = parse();
    ASSERT_EQ(topology.nmi_count, 1u);
    EXPECT_EQ(topology.nmis[0].acpi_processor_uid, 0xFFFFFFFFu);
    EXPECT_EQ(topology.nmis[0].lint, 1);
    EXPECT_EQ(topology.nmis[0].flags, 0);
}

INSTANTIATE_TEST_SUITE_P(QemuDumps, RealMadt, testing::ValuesIn(kConfigs), config_name);

// -- MP tables (SeaBIOS only) --

class RealMpTable : public testing::TestWithParam<Config> {
protected:
    smp::PlatformTopology parse() {
        const Buffer config = load_fixture(GetParam().name, "mp_config");
        auto topology = smp::parse_mp_config(view(config));
        EXPECT_TRUE(topology.ok()) << smp::describe(topology.error());
        return topology.value();
    }
};

TEST_P(RealMpTable, Parses) {
    const Buffer config = load_fixture(GetParam().name, "mp_config");
    auto topology = smp::parse_mp_config(view(config));
    ASSERT_TRUE(topology.ok()) << smp::describe(topology.error());
    EXPECT_EQ(topology->source, TableSource::MpTable);
    EXPECT_EQ(topology->dropped, 0u);
}

// SeaBIOS writes one processor entry per socket: -smp 4,cores=4 gives a single CPU here, which
// is why the kernel prefers the MADT.
TEST_P(RealMpTable, ListsOneEnabledCpuPerSocket) {
    const smp::PlatformTopology topology = parse();
    ASSERT_EQ(topology.cpu_count, GetParam().mp_cpus);
    EXPECT_EQ(topology.enabled_cpu_count(), GetParam().mp_cpus);
    for (unsigned i = 0; i < topology.cpu_count; ++i) {
        EXPECT_EQ(topology.cpus[i].apic_id, i);
        EXPECT_TRUE(topology.cpus[i].enabled);
    }
}

TEST_P(RealMpTable, MarksOnlyApicIdZeroAsBootstrap) {
    const smp::PlatformTopology topology = parse();
    ASSERT_GE(topology.cpu_count, 1u);
    for (unsigned i = 0; i < topology.cpu_count; ++i)
        EXPECT_EQ(topology.cpus[i].bootstrap, topology.cpus[i].apic_id == 0) << "cpu " << i;
}

TEST_P(RealMpTable, FindsTheIoApic) {
    const smp::PlatformTopology topology = parse();
    ASSERT_EQ(topology.io_apic_count, 1u);
    EXPECT_EQ(topology.io_apics[0].id, 0u);
    EXPECT_EQ(topology.io_apics[0].address, 0xFEC00000u);
    EXPECT_EQ(topology.io_apics[0].gsi_base, 0u);
}

// The only ISA interrupt assignment to a different pin is IRQ 0 -> pin 2 (flags 0: conforming).
TEST_P(RealMpTable, ReportsIsaIrq0OnPin2AsTheOnlyOverride) {
    const smp::PlatformTopology topology = parse();
    ASSERT_EQ(topology.override_count, 1u);
    EXPECT_EQ(topology.overrides[0].source_irq, 0);
    EXPECT_EQ(topology.overrides[0].gsi, 2u);
    EXPECT_EQ(topology.overrides[0].flags, 0);
    EXPECT_EQ(topology.gsi_for_isa_irq(0), 2u);
}

// The dumps route PCI bus 0 source 4 (pc: -> pin 9; q35: source 8 -> pin 11) too: a PCI source,
// not ISA IRQ 4.
TEST_P(RealMpTable, IgnoresPciInterruptAssignments) { EXPECT_EQ(parse().gsi_for_isa_irq(4), 4u); }

TEST_P(RealMpTable, ReportsLocalApicAtFee00000) { EXPECT_EQ(parse().local_apic_address, 0xFEE00000u); }

// PIC presence comes from the floating pointer's IMCR bit, not the configuration table.
TEST_P(RealMpTable, LeavesLegacyPicsToTheFloatingPointer) { EXPECT_FALSE(parse().has_legacy_pics); }

INSTANTIATE_TEST_SUITE_P(QemuDumps, RealMpTable, testing::ValuesIn(configs_with_mp_table()), config_name);

TEST(MpTable, SeabiosOmitsCoresTheMadtLists) {
    const Buffer madt = load_fixture("seabios_q35_smp4_cores", "madt");
    const Buffer config = load_fixture("seabios_q35_smp4_cores", "mp_config");
    auto from_madt = smp::parse_madt(view(madt));
    auto from_mp = smp::parse_mp_config(view(config));
    ASSERT_TRUE(from_madt.ok() && from_mp.ok());
    EXPECT_EQ(from_madt->cpu_count, 4u);
    EXPECT_EQ(from_mp->cpu_count, 1u);
}

// -- MP floating pointers --

class RealMpPointer : public testing::TestWithParam<Config> {};

TEST_P(RealMpPointer, ParsesWithConfigTableInBiosArea) {
    const Buffer pointer = load_fixture(GetParam().name, "mp_pointer");
    auto parsed = smp::parse_mp_floating_pointer(view(pointer));
    ASSERT_TRUE(parsed.ok()) << smp::describe(parsed.error());
    EXPECT_NE(parsed->config_table_address, 0u);
    EXPECT_GE(parsed->config_table_address, 0xF0000u);
    EXPECT_LT(parsed->config_table_address, 0x100000u);
}

TEST_P(RealMpPointer, DescribesNoDefaultConfiguration) {
    const Buffer pointer = load_fixture(GetParam().name, "mp_pointer");
    auto parsed = smp::parse_mp_floating_pointer(view(pointer));
    ASSERT_TRUE(parsed.ok());
    EXPECT_EQ(parsed->default_configuration, 0);
}

// SeaBIOS leaves feature byte 2 at 0: virtual-wire mode, no IMCR.
TEST_P(RealMpPointer, ReportsNoImcr) {
    const Buffer pointer = load_fixture(GetParam().name, "mp_pointer");
    auto parsed = smp::parse_mp_floating_pointer(view(pointer));
    ASSERT_TRUE(parsed.ok());
    EXPECT_FALSE(parsed->imcr_present);
}

INSTANTIATE_TEST_SUITE_P(QemuDumps, RealMpPointer, testing::ValuesIn(configs_with_mp_table()), config_name);

// -- RSDP and RSDT/XSDT --

class RealAcpiRoot : public testing::TestWithParam<Config> {};

TEST_P(RealAcpiRoot, RsdpParsesWithItsRevision) {
    const Buffer rsdp = load_fixture(GetParam().name, "rsdp");
    auto parsed = smp::parse_rsdp(view(rsdp));
    ASSERT_TRUE(parsed.ok()) << smp::describe(parsed.error());
    EXPECT_EQ(parsed->revision, GetParam().rsdp_revision);
    EXPECT_NE(parsed->rsdt_address, 0u);
    if (GetParam().rsdp_revision >= 2) {
        EXPECT_NE(parsed->xsdt_address, 0u);
    } else {
        EXPECT_EQ(parsed->xsdt_address, 0u);
    }
}

TEST_P(RealAcpiRoot, RootTableParsesWithEntryCountFromItsLength) {
    const Buffer root = load_fixture(GetParam().name, "root");
    const bool is_xsdt = GetParam().rsdp_revision >= 2;
    auto table = smp::parse_root_table(view(root), is_xsdt);
    ASSERT_TRUE(table.ok()) << smp::describe(table.error());
    EXPECT_EQ(table->entry_bytes, is_xsdt ? 8u : 4u);
    EXPECT_EQ(table->count(), (root.size() - 36) / (is_xsdt ? 8 : 4));
    EXPECT_EQ(table->count(), GetParam().root_entries);
    for (size_t i = 0; i < table->count(); ++i) EXPECT_NE(table.value()[i], 0u) << "entry " << i;
}

TEST_P(RealAcpiRoot, RootTableRejectsTheOtherKind) {
    const Buffer root = load_fixture(GetParam().name, "root");
    auto table = smp::parse_root_table(view(root), GetParam().rsdp_revision < 2);
    ASSERT_FALSE(table.ok());
    EXPECT_EQ(table.error(), TableError::BadSignature);
}

INSTANTIATE_TEST_SUITE_P(QemuDumps, RealAcpiRoot, testing::ValuesIn(kConfigs), config_name);

TEST(Rsdp, ReadsOvmfRsdtAndXsdtAddresses) {
    const Buffer rsdp = load_fixture("ovmf_q35_smp4", "rsdp");
    auto parsed = smp::parse_rsdp(view(rsdp));
    ASSERT_TRUE(parsed.ok());
    EXPECT_EQ(parsed->rsdt_address, 0x0F77C074u);
    EXPECT_EQ(parsed->xsdt_address, 0x0F77C0E8u);
}

TEST(RootTable, ReadsRsdtEntriesAs32BitAddresses) {
    const Buffer root = load_fixture("seabios_pc_smp1", "root");
    auto table = smp::parse_root_table(view(root), false);
    ASSERT_TRUE(table.ok());
    EXPECT_EQ(table.value()[0], 0x0FFE198Cu);
    EXPECT_EQ(table.value()[3], 0x0FFE1AB0u);
}

TEST(RootTable, ReadsXsdtEntriesAs64BitAddresses) {
    const Buffer root = load_fixture("ovmf_q35_smp4", "root");
    auto table = smp::parse_root_table(view(root), true);
    ASSERT_TRUE(table.ok());
    EXPECT_EQ(table.value()[0], 0x0F778000u);
    EXPECT_EQ(table.value()[5], 0x0F773000u);
}

TEST(RootTable, IgnoresBytesPastItsLength) {
    Buffer root = load_fixture("seabios_pc_smp1", "root");
    root.insert(root.end(), {0xAA, 0xBB, 0xCC, 0xDD, 0xEE, 0xFF, 0x11, 0x22});
    auto table = smp::parse_root_table(view(root), false);
    ASSERT_TRUE(table.ok());
    EXPECT_EQ(table->count(), 4u);
}

TEST(CheckSdt, ReturnsTheTableLength) {
    const Buffer madt = load_fixture("seabios_pc_smp1", "madt");
    auto length = smp::check_sdt(view(madt), "APIC");
    ASSERT_TRUE(length.ok());
    EXPECT_EQ(length.value(), 120u);
}

// --- Corrupt and truncated tables ------------------------------------------------------------

// -- RSDP --

TEST(Rsdp, RejectsBadChecksum) {
    Buffer rsdp = load_fixture("seabios_pc_smp1", "rsdp");
    rsdp[9] ^= 0x01;  // OEM id
    auto parsed = smp::parse_rsdp(view(rsdp));
    ASSERT_FALSE(parsed.ok());
    EXPECT_EQ(parsed.error(), TableError::BadChecksum);
}

TEST(Rsdp, RejectsBadExtendedChecksum) {
    Buffer rsdp = load_fixture("ovmf_q35_smp4", "rsdp");
    rsdp[28] ^= 0x01;  // XSDT address, covered only by the extended checksum
    auto parsed = smp::parse_rsdp(view(rsdp));
    ASSERT_FALSE(parsed.ok());
    EXPECT_EQ(parsed.error(), TableError::BadChecksum);
}

TEST(Rsdp, RejectsWrongSignature) {
    Buffer rsdp = load_fixture("seabios_pc_smp1", "rsdp");
    rsdp[4] = 'Q';
    fix_rsdp_checksums(rsdp);
    auto parsed = smp::parse_rsdp(view(rsdp));
    ASSERT_FALSE(parsed.ok());
    EXPECT_EQ(parsed.error(), TableError::BadSignature);
}

TEST(Rsdp, RejectsExtendedLengthPastEnd) {
    Buffer rsdp = load_fixture("ovmf_q35_smp4", "rsdp");
    put32(rsdp, 20, 37);
    fix_rsdp_checksums(rsdp);
    auto parsed = smp::parse_rsdp(view(rsdp));
    ASSERT_FALSE(parsed.ok());
    EXPECT_EQ(parsed.error(), TableError::LengthPastEnd);
}

TEST(Rsdp, RejectsExtendedLengthBelow36) {
    Buffer rsdp = load_fixture("ovmf_q35_smp4", "rsdp");
    put32(rsdp, 20, 20);
    fix_rsdp_checksums(rsdp);
    auto parsed = smp::parse_rsdp(view(rsdp));
    ASSERT_FALSE(parsed.ok());
    EXPECT_EQ(parsed.error(), TableError::TooShort);
}

TEST(Rsdp, RejectsEveryTruncatedPrefix) {
    for (const Config& config : kConfigs) {
        const Buffer rsdp = load_fixture(config.name, "rsdp");
        for (size_t size = 0; size < rsdp.size(); ++size) {
            SCOPED_TRACE(std::string(config.name) + " prefix " + std::to_string(size));
            const Buffer cut = prefix(rsdp, size);
            auto parsed = smp::parse_rsdp(view(cut));
            ASSERT_FALSE(parsed.ok());
            EXPECT_TRUE(is_truncation_error(parsed.error())) << smp::describe(parsed.error());
        }
    }
}

TEST(Rsdp, SurvivesRandomMutations) {
    std::mt19937 random(0x52534450);
    const Buffer originals[] = {load_fixture("seabios_pc_smp1", "rsdp"), load_fixture("ovmf_q35_smp4", "rsdp")};
    int accepted = 0;
    for (int i = 0; i < kMutations; ++i) {
        Buffer rsdp = originals[i % 2];
        mutate(rsdp, random);
        if (random() & 1) fix_rsdp_checksums(rsdp);
        auto parsed = smp::parse_rsdp(view(rsdp));
        if (!parsed.ok()) continue;
        ++accepted;
        if (parsed->revision < 2) {
            EXPECT_EQ(parsed->xsdt_address, 0u);
        }
    }
    EXPECT_GT(accepted, 0);  // the checksum fix-up lets mutants through to the field reads
}

// -- RSDT/XSDT --

TEST(RootTable, RejectsBadRsdtChecksum) {
    Buffer root = load_fixture("seabios_pc_smp1", "root");
    root[40] ^= 0x10;  // an entry
    auto table = smp::parse_root_table(view(root), false);
    ASSERT_FALSE(table.ok());
    EXPECT_EQ(table.error(), TableError::BadChecksum);
}

TEST(RootTable, RejectsBadXsdtChecksum) {
    Buffer root = load_fixture("ovmf_q35_smp4", "root");
    root[40] ^= 0x10;
    auto table = smp::parse_root_table(view(root), true);
    ASSERT_FALSE(table.ok());
    EXPECT_EQ(table.error(), TableError::BadChecksum);
}

TEST(RootTable, RejectsLengthPastEnd) {
    Buffer root = load_fixture("seabios_pc_smp1", "root");
    put32(root, 4, static_cast<uint32_t>(root.size() + 4));
    auto table = smp::parse_root_table(view(root), false);
    ASSERT_FALSE(table.ok());
    EXPECT_EQ(table.error(), TableError::LengthPastEnd);
}

TEST(RootTable, RejectsLengthShorterThanHeader) {
    Buffer root = load_fixture("seabios_pc_smp1", "root");
    put32(root, 4, 35);
    fix_sdt_checksum(root);
    auto table = smp::parse_root_table(view(root), false);
    ASSERT_FALSE(table.ok());
    EXPECT_EQ(table.error(), TableError::TooShort);
}

TEST(RootTable, RejectsEveryTruncatedPrefix) {
    for (const Config& config : kConfigs) {
        const Buffer root = load_fixture(config.name, "root");
        for (size_t size = 0; size < root.size(); ++size) {
            SCOPED_TRACE(std::string(config.name) + " prefix " + std::to_string(size));
            const Buffer cut = prefix(root, size);
            auto table = smp::parse_root_table(view(cut), config.rsdp_revision >= 2);
            ASSERT_FALSE(table.ok());
            EXPECT_TRUE(is_truncation_error(table.error())) << smp::describe(table.error());
        }
    }
}

TEST(RootTable, SurvivesRandomMutations) {
    std::mt19937 random(0x52534454);
    const Buffer rsdt = load_fixture("seabios_q35_smp4_cores", "root");
    const Buffer xsdt = load_fixture("ovmf_q35_smp4", "root");
    int accepted = 0;
    for (int i = 0; i < kMutations; ++i) {
        const bool is_xsdt = i % 2;
        Buffer root = is_xsdt ? xsdt : rsdt;
        mutate(root, random);
        if (random() & 1) fix_sdt_checksum(root);
        auto table = smp::parse_root_table(view(root), is_xsdt);
        if (!table.ok()) continue;
        ++accepted;
        EXPECT_LE(36 + table->count() * table->entry_bytes, root.size());
        for (size_t e = 0; e < table->count(); ++e) (void)table.value()[e];
    }
    EXPECT_GT(accepted, 0);
}

// -- MADT --

TEST(Madt, RejectsBadChecksum) {
    Buffer madt = load_fixture("seabios_pc_smp4_sockets", "madt");
    madt[0x37] ^= 0x01;  // APIC id of the second processor
    auto topology = smp::parse_madt(view(madt));
    ASSERT_FALSE(topology.ok());
    EXPECT_EQ(topology.error(), TableError::BadChecksum);
}

TEST(Madt, RejectsWrongSignature) {
    Buffer madt = load_fixture("seabios_pc_smp1", "madt");
    memcpy(madt.data(), "FACP", 4);
    fix_sdt_checksum(madt);
    auto topology = smp::parse_madt(view(madt));
    ASSERT_FALSE(topology.ok());
    EXPECT_EQ(topology.error(), TableError::BadSignature);
}

TEST(Madt, RejectsLengthPastEnd) {
    Buffer madt = load_fixture("seabios_pc_smp1", "madt");
    put32(madt, 4, static_cast<uint32_t>(madt.size() + 1));
    auto topology = smp::parse_madt(view(madt));
    ASSERT_FALSE(topology.ok());
    EXPECT_EQ(topology.error(), TableError::LengthPastEnd);
}

// 40 bytes: an SDT header but no room for the flags field.
TEST(Madt, RejectsLengthShorterThanFixedFields) {
    Buffer madt = load_fixture("seabios_pc_smp1", "madt");
    put32(madt, 4, 40);
    fix_sdt_checksum(madt);
    auto topology = smp::parse_madt(view(madt));
    ASSERT_FALSE(topology.ok());
    EXPECT_EQ(topology.error(), TableError::TooShort);
}

TEST(Madt, RejectsEveryTruncatedPrefix) {
    for (const Config& config : kConfigs) {
        const Buffer madt = load_fixture(config.name, "madt");
        for (size_t size = 0; size < madt.size(); ++size) {
            SCOPED_TRACE(std::string(config.name) + " prefix " + std::to_string(size));
            const Buffer cut = prefix(madt, size);
            auto topology = smp::parse_madt(view(cut));
            ASSERT_FALSE(topology.ok());
            EXPECT_TRUE(is_truncation_error(topology.error())) << smp::describe(topology.error());
        }
    }
}

// The first entry (processor, at 44) claims length 0: walking by it would never advance.
TEST(Madt, RejectsEntryWithLengthZero) {
    Buffer madt = load_fixture("seabios_pc_smp1", "madt");
    ASSERT_EQ(madt[45], 8);
    madt[45] = 0;
    fix_sdt_checksum(madt);
    auto topology = smp::parse_madt(view(madt));
    ASSERT_FALSE(topology.ok());
    EXPECT_EQ(topology.error(), TableError::BadEntry);
}

TEST(Madt, RejectsEntryWithLengthOne) {
    Buffer madt = load_fixture("seabios_pc_smp1", "madt");
    madt[45] = 1;
    fix_sdt_checksum(madt);
    auto topology = smp::parse_madt(view(madt));
    ASSERT_FALSE(topology.ok());
    EXPECT_EQ(topology.error(), TableError::BadEntry);
}

// The last entry (local APIC NMI, 6 bytes at 0x72) claims 7 bytes: one past the table.
TEST(Madt, RejectsEntryRunningPastTheTable) {
    Buffer madt = load_fixture("seabios_pc_smp1", "madt");
    ASSERT_EQ(madt[0x72], 4);
    ASSERT_EQ(madt[0x73], 6);
    madt[0x73] = 7;
    fix_sdt_checksum(madt);
    auto topology = smp::parse_madt(view(madt));
    ASSERT_FALSE(topology.ok());
    EXPECT_EQ(topology.error(), TableError::BadEntry);
}

TEST(Madt, RejectsTrailingHalfEntryHeader) {
    Buffer madt = MadtBuilder().processor(0, 0, 1).raw({0}).build();
    auto topology = smp::parse_madt(view(madt));
    ASSERT_FALSE(topology.ok());
    EXPECT_EQ(topology.error(), TableError::BadEntry);
}

TEST(Madt, RejectsProcessorEntryShorterThanEightBytes) {
    Buffer madt = MadtBuilder().raw({0, 6, 0, 0, 1, 0}).build();
    auto topology = smp::parse_madt(view(madt));
    ASSERT_FALSE(topology.ok());
    EXPECT_EQ(topology.error(), TableError::BadEntry);
}

TEST(Madt, RejectsX2ApicEntryShorterThanSixteenBytes) {
    Buffer madt = MadtBuilder().raw({9, 12, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0}).build();
    auto topology = smp::parse_madt(view(madt));
    ASSERT_FALSE(topology.ok());
    EXPECT_EQ(topology.error(), TableError::BadEntry);
}

TEST(Madt, SkipsUnknownEntryTypesByLength) {
    Buffer madt = MadtBuilder().raw({0x0B, 5, 1, 2, 3}).processor(0, 7, 1).build();
    auto topology = smp::parse_madt(view(madt));
    ASSERT_TRUE(topology.ok()) << smp::describe(topology.error());
    ASSERT_EQ(topology->cpu_count, 1u);
    EXPECT_EQ(topology->cpus[0].apic_id, 7u);
}

TEST(Madt, AcceptsTableWithoutEntries) {
    Buffer madt = MadtBuilder().build();
    auto topology = smp::parse_madt(view(madt));
    ASSERT_TRUE(topology.ok());
    EXPECT_EQ(topology->cpu_count, 0u);
}

TEST(Madt, CapsCpusAt256AndCountsTheRestAsDropped) {
    MadtBuilder builder;
    for (unsigned i = 0; i < 300; ++i) builder.processor(static_cast<uint8_t>(i), static_cast<uint8_t>(i), 1);
    const Buffer madt = builder.build();
    auto topology = smp::parse_madt(view(madt));
    ASSERT_TRUE(topology.ok()) << smp::describe(topology.error());
    EXPECT_EQ(topology->cpu_count, 256u);
    EXPECT_EQ(topology->dropped, 44u);
    EXPECT_EQ(topology->cpus[255].apic_id, 255u);
}

TEST(Madt, CapsIoApicsAt16) {
    MadtBuilder builder;
    for (unsigned i = 0; i < 20; ++i) builder.io_apic(static_cast<uint8_t>(i), 0xFEC00000 + i * 0x1000, i * 24);
    const Buffer madt = builder.build();
    auto topology = smp::parse_madt(view(madt));
    ASSERT_TRUE(topology.ok());
    EXPECT_EQ(topology->io_apic_count, smp::kMaxIoApics);
    EXPECT_EQ(topology->dropped, 4u);
}

TEST(Madt, CapsOverridesAt32) {
    MadtBuilder builder;
    for (unsigned i = 0; i < 40; ++i) builder.source_override(static_cast<uint8_t>(i), i + 100, 0);
    const Buffer madt = builder.build();
    auto topology = smp::parse_madt(view(madt));
    ASSERT_TRUE(topology.ok());
    EXPECT_EQ(topology->override_count, smp::kMaxOverrides);
    EXPECT_EQ(topology->dropped, 8u);
}

TEST(Madt, CapsNmisAt16) {
    MadtBuilder builder;
    for (unsigned i = 0; i < 10; ++i) builder.nmi(static_cast<uint8_t>(i), 0, 1);
    for (unsigned i = 0; i < 10; ++i) builder.x2apic_nmi(0, i, 1);
    const Buffer madt = builder.build();
    auto topology = smp::parse_madt(view(madt));
    ASSERT_TRUE(topology.ok());
    EXPECT_EQ(topology->nmi_count, smp::kMaxNmis);
    EXPECT_EQ(topology->dropped, 4u);
}

TEST(Madt, CapsLocalApicNmisAt16) {
    MadtBuilder builder;
    for (unsigned i = 0; i < 20; ++i) builder.nmi(static_cast<uint8_t>(i), 0, 1);
    const Buffer madt = builder.build();
    auto topology = smp::parse_madt(view(madt));
    ASSERT_TRUE(topology.ok());
    EXPECT_EQ(topology->nmi_count, smp::kMaxNmis);
    EXPECT_EQ(topology->dropped, 4u);
    EXPECT_EQ(topology->nmis[smp::kMaxNmis - 1].acpi_processor_uid, smp::kMaxNmis - 1);  // the first 16 kept
}

TEST(Madt, ParsesX2ApicEntryWithIdAbove255) {
    const Buffer madt = MadtBuilder().processor(0, 0, 1).x2apic(0x1234, 1, 300).build();
    auto topology = smp::parse_madt(view(madt));
    ASSERT_TRUE(topology.ok()) << smp::describe(topology.error());
    ASSERT_EQ(topology->cpu_count, 2u);
    EXPECT_EQ(topology->cpus[1].apic_id, 0x1234u);
    EXPECT_TRUE(topology->cpus[1].enabled);
}

TEST(Madt, ReadsX2ApicNmi) {
    const Buffer madt = MadtBuilder().x2apic_nmi(0x000D, 0x10000, 0).build();
    auto topology = smp::parse_madt(view(madt));
    ASSERT_TRUE(topology.ok());
    ASSERT_EQ(topology->nmi_count, 1u);
    EXPECT_EQ(topology->nmis[0].acpi_processor_uid, 0x10000u);
    EXPECT_EQ(topology->nmis[0].lint, 0);
    EXPECT_EQ(topology->nmis[0].flags, 0x000D);
}

TEST(Madt, LocalApicAddressOverrideReplacesTheAddress) {
    const Buffer madt = MadtBuilder(0xFEE00000).local_apic_address_override(0x000000FEDCBA0000ull).build();
    auto topology = smp::parse_madt(view(madt));
    ASSERT_TRUE(topology.ok());
    EXPECT_EQ(topology->local_apic_address, 0x000000FEDCBA0000ull);
}

TEST(Madt, ListsDisabledCpuAsNotEnabled) {
    const Buffer madt = MadtBuilder().processor(0, 0, 1).processor(1, 1, 0).build();
    auto topology = smp::parse_madt(view(madt));
    ASSERT_TRUE(topology.ok());
    ASSERT_EQ(topology->cpu_count, 2u);
    EXPECT_FALSE(topology->cpus[1].enabled);
    EXPECT_EQ(topology->enabled_cpu_count(), 1u);
}

TEST(Madt, ReportsNoLegacyPicsWithoutPcatCompat) {
    const Buffer madt = MadtBuilder(0xFEE00000, 0).build();
    auto topology = smp::parse_madt(view(madt));
    ASSERT_TRUE(topology.ok());
    EXPECT_FALSE(topology->has_legacy_pics);
}

TEST(Madt, SurvivesRandomMutations) {
    std::mt19937 random(0x41504943);
    std::vector<Buffer> originals;
    for (const Config& config : kConfigs) originals.push_back(load_fixture(config.name, "madt"));
    int accepted = 0;
    for (int i = 0; i < kMutations; ++i) {
        Buffer madt = originals[i % originals.size()];
        mutate(madt, random);
        if (random() & 1) fix_sdt_checksum(madt);
        auto topology = smp::parse_madt(view(madt));
        if (!topology.ok()) continue;
        ++accepted;
        expect_within_capacities(topology.value());
    }
    EXPECT_GT(accepted, 0);
}

// -- MP floating pointer --

TEST(MpFloatingPointer, RejectsBadChecksum) {
    Buffer pointer = load_fixture("seabios_pc_smp1", "mp_pointer");
    pointer[4] ^= 0x10;  // configuration table address
    auto parsed = smp::parse_mp_floating_pointer(view(pointer));
    ASSERT_FALSE(parsed.ok());
    EXPECT_EQ(parsed.error(), TableError::BadChecksum);
}

TEST(MpFloatingPointer, RejectsWrongSignature) {
    Buffer pointer = load_fixture("seabios_pc_smp1", "mp_pointer");
    pointer[1] = 'N';
    fix_mp_pointer_checksum(pointer);
    auto parsed = smp::parse_mp_floating_pointer(view(pointer));
    ASSERT_FALSE(parsed.ok());
    EXPECT_EQ(parsed.error(), TableError::BadSignature);
}

TEST(MpFloatingPointer, RejectsLengthPastEnd) {
    Buffer pointer = load_fixture("seabios_pc_smp1", "mp_pointer");
    pointer[8] = 2;  // 32 bytes
    fix_mp_pointer_checksum(pointer);
    auto parsed = smp::parse_mp_floating_pointer(view(pointer));
    ASSERT_FALSE(parsed.ok());
    EXPECT_EQ(parsed.error(), TableError::LengthPastEnd);
}

TEST(MpFloatingPointer, RejectsZeroLength) {
    Buffer pointer = load_fixture("seabios_pc_smp1", "mp_pointer");
    pointer[8] = 0;
    auto parsed = smp::parse_mp_floating_pointer(view(pointer));
    ASSERT_FALSE(parsed.ok());
    EXPECT_EQ(parsed.error(), TableError::TooShort);
}

TEST(MpFloatingPointer, ReadsImcrBit) {
    Buffer pointer = load_fixture("seabios_pc_smp1", "mp_pointer");
    pointer[12] = 0x80;
    fix_mp_pointer_checksum(pointer);
    auto parsed = smp::parse_mp_floating_pointer(view(pointer));
    ASSERT_TRUE(parsed.ok());
    EXPECT_TRUE(parsed->imcr_present);
}

TEST(MpFloatingPointer, RejectsEveryTruncatedPrefix) {
    for (const Config& config : configs_with_mp_table()) {
        const Buffer pointer = load_fixture(config.name, "mp_pointer");
        for (size_t size = 0; size < pointer.size(); ++size) {
            SCOPED_TRACE(std::string(config.name) + " prefix " + std::to_string(size));
            const Buffer cut = prefix(pointer, size);
            auto parsed = smp::parse_mp_floating_pointer(view(cut));
            ASSERT_FALSE(parsed.ok());
            EXPECT_TRUE(is_truncation_error(parsed.error())) << smp::describe(parsed.error());
        }
    }
}

TEST(MpFloatingPointer, SurvivesRandomMutations) {
    std::mt19937 random(0x5F4D505F);
    const Buffer original = load_fixture("seabios_pc_smp4_sockets", "mp_pointer");
    int accepted = 0;
    for (int i = 0; i < kMutations; ++i) {
        Buffer pointer = original;
        mutate(pointer, random);
        if (random() & 1) fix_mp_pointer_checksum(pointer);
        if (smp::parse_mp_floating_pointer(view(pointer)).ok()) ++accepted;
    }
    EXPECT_GT(accepted, 0);
}

// -- MP configuration table --

TEST(MpTable, RejectsBadChecksum) {
    Buffer config = load_fixture("seabios_pc_smp4_sockets", "mp_config");
    config[0x41] ^= 0x01;  // APIC id of the second processor
    auto topology = smp::parse_mp_config(view(config));
    ASSERT_FALSE(topology.ok());
    EXPECT_EQ(topology.error(), TableError::BadChecksum);
}

TEST(MpTable, RejectsWrongSignature) {
    Buffer config = load_fixture("seabios_pc_smp1", "mp_config");
    config[3] = 'Q';
    fix_mp_config_checksum(config);
    auto topology = smp::parse_mp_config(view(config));
    ASSERT_FALSE(topology.ok());
    EXPECT_EQ(topology.error(), TableError::BadSignature);
}

TEST(MpTable, RejectsBaseLengthPastEnd) {
    Buffer config = load_fixture("seabios_pc_smp1", "mp_config");
    put16(config, 4, static_cast<uint16_t>(config.size() + 8));
    auto topology = smp::parse_mp_config(view(config));
    ASSERT_FALSE(topology.ok());
    EXPECT_EQ(topology.error(), TableError::LengthPastEnd);
}

TEST(MpTable, RejectsBaseLengthShorterThanHeader) {
    Buffer config = load_fixture("seabios_pc_smp1", "mp_config");
    put16(config, 4, 40);
    fix_mp_config_checksum(config);
    auto topology = smp::parse_mp_config(view(config));
    ASSERT_FALSE(topology.ok());
    EXPECT_EQ(topology.error(), TableError::TooShort);
}

TEST(MpTable, RejectsEveryTruncatedPrefix) {
    for (const Config& config : configs_with_mp_table()) {
        const Buffer table = load_fixture(config.name, "mp_config");
        for (size_t size = 0; size < table.size(); ++size) {
            SCOPED_TRACE(std::string(config.name) + " prefix " + std::to_string(size));
            const Buffer cut = prefix(table, size);
            auto topology = smp::parse_mp_config(view(cut));
            ASSERT_FALSE(topology.ok());
            EXPECT_TRUE(is_truncation_error(topology.error())) << smp::describe(topology.error());
        }
    }
}

// Some firmware leaves the entry count at 0; the parser walks the base length instead.
TEST(MpTable, FindsAllCpusWhenEntryCountIsZero) {
    Buffer config = load_fixture("seabios_pc_smp4_sockets", "mp_config");
    ASSERT_EQ(get16(config, 34), 0x16);
    put16(config, 34, 0);
    fix_mp_config_checksum(config);
    auto topology = smp::parse_mp_config(view(config));
    ASSERT_TRUE(topology.ok()) << smp::describe(topology.error());
    EXPECT_EQ(topology->cpu_count, 4u);
    EXPECT_EQ(topology->io_apic_count, 1u);
    EXPECT_EQ(topology->gsi_for_isa_irq(0), 2u);
}

// The first bus entry (at 64, after the one processor) gets type 5, which the spec does not define.
TEST(MpTable, RejectsUnknownEntryType) {
    Buffer config = load_fixture("seabios_pc_smp1", "mp_config");
    ASSERT_EQ(config[64], 1);
    config[64] = 5;
    fix_mp_config_checksum(config);
    auto topology = smp::parse_mp_config(view(config));
    ASSERT_FALSE(topology.ok());
    EXPECT_EQ(topology.error(), TableError::BadEntry);
}

// A base length ending 4 bytes into the last (8-byte) entry.
TEST(MpTable, RejectsEntryRunningPastBaseLength) {
    Buffer config = load_fixture("seabios_pc_smp1", "mp_config");
    put16(config, 4, static_cast<uint16_t>(config.size() - 4));
    fix_mp_config_checksum(config);
    auto topology = smp::parse_mp_config(view(config));
    ASSERT_FALSE(topology.ok());
    EXPECT_EQ(topology.error(), TableError::BadEntry);
}

// Bytes after the base table (the extended table) are not entries.
TEST(MpTable, IgnoresBytesPastBaseLength) {
    Buffer config = load_fixture("seabios_pc_smp1", "mp_config");
    config.insert(config.end(), {0x80, 0x14, 0xFF, 0xFF, 0xFF});
    auto topology = smp::parse_mp_config(view(config));
    ASSERT_TRUE(topology.ok()) << smp::describe(topology.error());
    EXPECT_EQ(topology->cpu_count, 1u);
}

TEST(MpTable, ListsDisabledCpuAsNotEnabled) {
    const Buffer config = MpConfigBuilder().processor(0, 0x03).processor(1, 0x00).build();
    auto topology = smp::parse_mp_config(view(config));
    ASSERT_TRUE(topology.ok());
    ASSERT_EQ(topology->cpu_count, 2u);
    EXPECT_FALSE(topology->cpus[1].enabled);
    EXPECT_EQ(topology->enabled_cpu_count(), 1u);
}

TEST(MpTable, IgnoresUnusableIoApic) {
    const Buffer config =
        MpConfigBuilder().processor(0, 0x03).io_apic(1, 0, 0xFEC01000).io_apic(2, 1, 0xFEC00000).build();
    auto topology = smp::parse_mp_config(view(config));
    ASSERT_TRUE(topology.ok());
    ASSERT_EQ(topology->io_apic_count, 1u);
    EXPECT_EQ(topology->io_apics[0].id, 2u);
}

TEST(MpTable, IgnoresIsaInterruptOnItsOwnPin) {
    const Buffer config = MpConfigBuilder()
                              .processor(0, 0x03)
                              .bus(0, "ISA   ")
                              .io_apic(0, 1, 0xFEC00000)
                              .interrupt(0, 4, 0, 4)
                              .build();
    auto topology = smp::parse_mp_config(view(config));
    ASSERT_TRUE(topology.ok());
    EXPECT_EQ(topology->override_count, 0u);
}

TEST(MpTable, IgnoresInterruptFromBusNotYetDeclaredIsa) {
    const Buffer config = MpConfigBuilder().processor(0, 0x03).bus(0, "PCI   ").interrupt(0, 0, 0, 2).build();
    auto topology = smp::parse_mp_config(view(config));
    ASSERT_TRUE(topology.ok());
    EXPECT_EQ(topology->override_count, 0u);
}

TEST(MpTable, CapsCpusAt256AndCountsTheRestAsDropped) {
    MpConfigBuilder builder;
    for (unsigned i = 0; i < 260; ++i) builder.processor(static_cast<uint8_t>(i), 0x01);
    const Buffer config = builder.build();
    auto topology = smp::parse_mp_config(view(config));
    ASSERT_TRUE(topology.ok()) << smp::describe(topology.error());
    EXPECT_EQ(topology->cpu_count, 256u);
    EXPECT_EQ(topology->dropped, 4u);
}

TEST(MpTable, CapsOverridesAt32AndCountsTheRestAsDropped) {
    MpConfigBuilder builder;
    builder.processor(0, 0x03).bus(0, "ISA   ");
    for (unsigned i = 0; i < 40; ++i) builder.interrupt(0, static_cast<uint8_t>(i % 16), 0, static_cast<uint8_t>(16 + i));
    const Buffer config = builder.build();
    auto topology = smp::parse_mp_config(view(config));
    ASSERT_TRUE(topology.ok()) << smp::describe(topology.error());
    EXPECT_EQ(topology->override_count, smp::kMaxOverrides);
    EXPECT_EQ(topology->dropped, 8u);
    EXPECT_EQ(topology->overrides[smp::kMaxOverrides - 1].gsi, 16u + smp::kMaxOverrides - 1);  // the first 32 kept
}

TEST(MpTable, SurvivesRandomMutations) {
    std::mt19937 random(0x50434D50);
    std::vector<Buffer> originals;
    for (const Config& config : configs_with_mp_table()) originals.push_back(load_fixture(config.name, "mp_config"));
    int accepted = 0;
    for (int i = 0; i < kMutations; ++i) {
        Buffer config = originals[i % originals.size()];
        mutate(config, random);
        if (random() & 1) fix_mp_config_checksum(config);
        auto topology = smp::parse_mp_config(view(config));
        if (!topology.ok()) continue;
        ++accepted;
        expect_within_capacities(topology.value());
    }
    EXPECT_GT(accepted, 0);
}

// --- Searching memory ------------------------------------------------------------------------

// Physical 0..1 MiB, zero-filled: no EBDA (segment word 0) and no base-memory size unless set.
class LowMemory {
public:
    explicit LowMemory(size_t size = 0x100000) : m_bytes(size, 0) {}
    void set_ebda_segment(uint16_t segment) { put16(m_bytes, 0x40E, segment); }
    void set_base_memory_kib(uint16_t kib) { put16(m_bytes, 0x413, kib); }
    void place(size_t offset, const Buffer& structure) {
        std::copy(structure.begin(), structure.end(), m_bytes.begin() + offset);
    }
    kstd::Bytes bytes() const { return view(m_bytes); }

private:
    Buffer m_bytes;
};

Buffer mp_pointer() { return load_fixture("seabios_pc_smp1", "mp_pointer"); }

Buffer bad_mp_pointer() {
    Buffer pointer = mp_pointer();
    pointer[10] ^= 0xFF;
    return pointer;
}

TEST(FindMpFloatingPointer, FindsPointerInEbdaFirstKib) {
    LowMemory memory;
    memory.set_ebda_segment(0x9FC0);
    memory.place(0x9FC00 + 0x3F0, mp_pointer());
    auto found = smp::find_mp_floating_pointer(memory.bytes());
    ASSERT_TRUE(found.ok()) << smp::describe(found.error());
    EXPECT_EQ(found.value(), 0x9FFF0u);
}

TEST(FindMpFloatingPointer, SearchesOnlyTheFirstKibOfEbda) {
    LowMemory memory;
    memory.set_ebda_segment(0x9000);
    memory.place(0x90000 + 0x400, mp_pointer());
    auto found = smp::find_mp_floating_pointer(memory.bytes());
    ASSERT_FALSE(found.ok());
    EXPECT_EQ(found.error(), TableError::NotFound);
}

// 639 KiB of base memory: its last KiB is 0x9F800-0x9FBFF.
TEST(FindMpFloatingPointer, FindsPointerInLastKibOfBaseMemory) {
    LowMemory memory;
    memory.set_base_memory_kib(639);
    memory.place(0x9F800, mp_pointer());
    auto found = smp::find_mp_floating_pointer(memory.bytes());
    ASSERT_TRUE(found.ok()) << smp::describe(found.error());
    EXPECT_EQ(found.value(), 0x9F800u);
}

TEST(FindMpFloatingPointer, FindsPointerInBiosArea) {
    LowMemory memory;
    memory.place(0xF5BB0, mp_pointer());
    auto found = smp::find_mp_floating_pointer(memory.bytes());
    ASSERT_TRUE(found.ok()) << smp::describe(found.error());
    EXPECT_EQ(found.value(), 0xF5BB0u);
}

TEST(FindMpFloatingPointer, FindsPointerInLastParagraphOfBiosArea) {
    LowMemory memory;
    memory.place(0xFFFF0, mp_pointer());
    auto found = smp::find_mp_floating_pointer(memory.bytes());
    ASSERT_TRUE(found.ok());
    EXPECT_EQ(found.value(), 0xFFFF0u);
}

TEST(FindMpFloatingPointer, PrefersEbdaOverBiosArea) {
    LowMemory memory;
    memory.set_ebda_segment(0x9FC0);
    memory.place(0xF0000, mp_pointer());
    memory.place(0x9FC40, mp_pointer());
    auto found = smp::find_mp_floating_pointer(memory.bytes());
    ASSERT_TRUE(found.ok());
    EXPECT_EQ(found.value(), 0x9FC40u);
}

TEST(FindMpFloatingPointer, PrefersEbdaOverLastKibOfBaseMemory) {
    LowMemory memory;
    memory.set_ebda_segment(0x9FC0);
    memory.set_base_memory_kib(639);
    memory.place(0x9F800, mp_pointer());
    memory.place(0x9FC00, mp_pointer());
    auto found = smp::find_mp_floating_pointer(memory.bytes());
    ASSERT_TRUE(found.ok());
    EXPECT_EQ(found.value(), 0x9FC00u);
}

TEST(FindMpFloatingPointer, PrefersLastKibOfBaseMemoryOverBiosArea) {
    LowMemory memory;
    memory.set_base_memory_kib(639);
    memory.place(0xF0000, mp_pointer());
    memory.place(0x9FBF0, mp_pointer());
    auto found = smp::find_mp_floating_pointer(memory.bytes());
    ASSERT_TRUE(found.ok());
    EXPECT_EQ(found.value(), 0x9FBF0u);
}

TEST(FindMpFloatingPointer, SkipsCopyWithBadChecksumInEbda) {
    LowMemory memory;
    memory.set_ebda_segment(0x9FC0);
    memory.place(0x9FC00, bad_mp_pointer());
    memory.place(0xF5BB0, mp_pointer());
    auto found = smp::find_mp_floating_pointer(memory.bytes());
    ASSERT_TRUE(found.ok());
    EXPECT_EQ(found.value(), 0xF5BB0u);
}

TEST(FindMpFloatingPointer, SkipsCopyWithBadChecksumInSameArea) {
    LowMemory memory;
    memory.place(0xF0000, bad_mp_pointer());
    memory.place(0xF0010, mp_pointer());
    auto found = smp::find_mp_floating_pointer(memory.bytes());
    ASSERT_TRUE(found.ok());
    EXPECT_EQ(found.value(), 0xF0010u);
}

TEST(FindMpFloatingPointer, IgnoresMisalignedCopy) {
    LowMemory memory;
    memory.place(0xF0008, mp_pointer());
    auto found = smp::find_mp_floating_pointer(memory.bytes());
    ASSERT_FALSE(found.ok());
    EXPECT_EQ(found.error(), TableError::NotFound);
}

TEST(FindMpFloatingPointer, IgnoresMisalignedCopyInEbda) {
    LowMemory memory;
    memory.set_ebda_segment(0x9FC0);
    memory.place(0x9FC04, mp_pointer());
    auto found = smp::find_mp_floating_pointer(memory.bytes());
    ASSERT_FALSE(found.ok());
    EXPECT_EQ(found.error(), TableError::NotFound);
}

TEST(FindMpFloatingPointer, ReportsNotFoundInEmptyMemory) {
    LowMemory memory;
    auto found = smp::find_mp_floating_pointer(memory.bytes());
    ASSERT_FALSE(found.ok());
    EXPECT_EQ(found.error(), TableError::NotFound);
}

// A 32-byte pointer in the last paragraph of memory: its length runs past what we have.
TEST(FindMpFloatingPointer, IgnoresPointerRunningPastMemory) {
    LowMemory memory;
    Buffer pointer = mp_pointer();
    pointer[8] = 2;
    fix_mp_pointer_checksum(pointer);
    memory.place(0xFFFF0, pointer);
    auto found = smp::find_mp_floating_pointer(memory.bytes());
    ASSERT_FALSE(found.ok());
    EXPECT_EQ(found.error(), TableError::NotFound);
}

// Spans that end before the BDA words (EBDA segment at 0x40E, base memory KiB at 0x413-0x414)
// are searched only in the (absent) BIOS area.
TEST(FindMpFloatingPointer, HandlesLowMemoryShorterThanBdaWords) {
    for (size_t size : {size_t{0}, size_t{1}, size_t{0x40E}, size_t{0x40F}, size_t{0x410}, size_t{0x413}}) {
        SCOPED_TRACE("size " + std::to_string(size));
        const Buffer memory(size, 0xFF);
        auto found = smp::find_mp_floating_pointer(view(memory));
        ASSERT_FALSE(found.ok());
        EXPECT_EQ(found.error(), TableError::NotFound);
    }
}

// 0x414 bytes hold the EBDA segment word and only the low byte of the base-memory word at 0x413.
TEST(FindMpFloatingPointer, HandlesLowMemoryEndingInsideBaseMemoryWord) {
    const Buffer memory(0x414, 0);
    auto found = smp::find_mp_floating_pointer(view(memory));
    ASSERT_FALSE(found.ok());
    EXPECT_EQ(found.error(), TableError::NotFound);
}

TEST(FindMpFloatingPointer, HandlesLowMemoryShorterThanBiosArea) {
    for (size_t size : {size_t{0x415}, size_t{0x80000}, size_t{0xEFFFF}, size_t{0xF0000}, size_t{0xF000F}}) {
        SCOPED_TRACE("size " + std::to_string(size));
        Buffer memory(size, 0);
        put16(memory, 0x40E, 0xFFFF);  // EBDA and base memory both past the end of the span
        put16(memory, 0x413, 0xFFFF);
        auto found = smp::find_mp_floating_pointer(view(memory));
        ASSERT_FALSE(found.ok());
        EXPECT_EQ(found.error(), TableError::NotFound);
    }
}

// An EBDA 16 bytes before the end of the span: its 1 KiB window is cut to what exists.
TEST(FindMpFloatingPointer, ClampsEbdaSearchToEndOfMemory) {
    LowMemory memory(0xF10);
    memory.set_ebda_segment(0x00F0);
    memory.place(0xF00, mp_pointer());
    auto found = smp::find_mp_floating_pointer(memory.bytes());
    ASSERT_TRUE(found.ok()) << smp::describe(found.error());
    EXPECT_EQ(found.value(), 0xF00u);
}

// -- find_rsdp, over a 128 KiB area standing for 0xE0000-0xFFFFF --

constexpr size_t kBiosAreaBytes = 0x20000;

TEST(FindRsdp, FindsRsdpOn16ByteBoundary) {
    Buffer area(kBiosAreaBytes, 0);
    const Buffer rsdp = load_fixture("seabios_pc_smp1", "rsdp");
    std::copy(rsdp.begin(), rsdp.end(), area.begin() + 0x15A40);
    auto found = smp::find_rsdp(view(area));
    ASSERT_TRUE(found.ok()) << smp::describe(found.error());
    EXPECT_EQ(found.value(), 0x15A40u);
}

TEST(FindRsdp, FindsRevision2Rsdp) {
    Buffer area(kBiosAreaBytes, 0);
    const Buffer rsdp = load_fixture("ovmf_q35_smp4", "rsdp");
    std::copy(rsdp.begin(), rsdp.end(), area.begin() + 0x100);
    auto found = smp::find_rsdp(view(area));
    ASSERT_TRUE(found.ok());
    EXPECT_EQ(found.value(), 0x100u);
}

TEST(FindRsdp, IgnoresMisalignedRsdp) {
    Buffer area(kBiosAreaBytes, 0);
    const Buffer rsdp = load_fixture("seabios_pc_smp1", "rsdp");
    std::copy(rsdp.begin(), rsdp.end(), area.begin() + 0x15A44);
    auto found = smp::find_rsdp(view(area));
    ASSERT_FALSE(found.ok());
    EXPECT_EQ(found.error(), TableError::NotFound);
}

TEST(FindRsdp, SkipsCopyWithBadChecksum) {
    Buffer area(kBiosAreaBytes, 0);
    Buffer bad = load_fixture("seabios_pc_smp1", "rsdp");
    const Buffer good = bad;
    bad[8] ^= 0xFF;
    std::copy(bad.begin(), bad.end(), area.begin() + 0x1000);
    std::copy(good.begin(), good.end(), area.begin() + 0x2000);
    auto found = smp::find_rsdp(view(area));
    ASSERT_TRUE(found.ok());
    EXPECT_EQ(found.value(), 0x2000u);
}

TEST(FindRsdp, FindsRsdpEndingAtEndOfArea) {
    const Buffer rsdp = load_fixture("seabios_pc_smp1", "rsdp");
    Buffer area(0x40 + rsdp.size(), 0);
    std::copy(rsdp.begin(), rsdp.end(), area.begin() + 0x40);
    auto found = smp::find_rsdp(view(area));
    ASSERT_TRUE(found.ok());
    EXPECT_EQ(found.value(), 0x40u);
}

// A revision 2 RSDP whose extended part (bytes 20-35) lies past the end of the area.
TEST(FindRsdp, IgnoresRevision2RsdpCutByEndOfArea) {
    const Buffer rsdp = load_fixture("ovmf_q35_smp4", "rsdp");
    Buffer area(0x40 + 20, 0);
    std::copy(rsdp.begin(), rsdp.begin() + 20, area.begin() + 0x40);
    auto found = smp::find_rsdp(view(area));
    ASSERT_FALSE(found.ok());
    EXPECT_EQ(found.error(), TableError::NotFound);
}

TEST(FindRsdp, ReportsNotFoundInEmptyArea) {
    const Buffer area(kBiosAreaBytes, 0);
    auto found = smp::find_rsdp(view(area));
    ASSERT_FALSE(found.ok());
    EXPECT_EQ(found.error(), TableError::NotFound);
}

TEST(FindRsdp, HandlesAreaShorterThanAnRsdp) {
    for (size_t size = 0; size < 20; ++size) {
        const Buffer area(size, 0);
        auto found = smp::find_rsdp(view(area));
        ASSERT_FALSE(found.ok());
        EXPECT_EQ(found.error(), TableError::NotFound);
    }
}

}  // namespace

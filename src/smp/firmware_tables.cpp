// ACPI and MP-table parsers (see firmware_tables.hpp).
#include "smp/firmware_tables.hpp"

#include "lib/bytes.hpp"

namespace smp {
namespace {

using kstd::Bytes;
using kstd::fail;
using kstd::load;

bool has_signature(Bytes bytes, const char* signature, size_t length) {
    if (bytes.size() < length) return false;
    for (size_t i = 0; i < length; ++i)
        if (bytes[i] != static_cast<uint8_t>(signature[i])) return false;
    return true;
}

void add_cpu(PlatformTopology& topology, CpuEntry cpu) {
    if (topology.cpu_count < kMaxCpus) topology.cpus[topology.cpu_count++] = cpu;
    else ++topology.dropped;
}

void add_io_apic(PlatformTopology& topology, IoApicEntry io_apic) {
    if (topology.io_apic_count < kMaxIoApics) topology.io_apics[topology.io_apic_count++] = io_apic;
    else ++topology.dropped;
}

constexpr size_t kSdtHeaderBytes = 36;
constexpr size_t kMadtFixedBytes = kSdtHeaderBytes + 8;  // + local APIC address + flags

}  // namespace

const char* describe(TableError error) {
    switch (error) {
    case TableError::TooShort: return "table too short";
    case TableError::BadSignature: return "bad signature";
    case TableError::BadChecksum: return "bad checksum";
    case TableError::LengthPastEnd: return "length runs past the end";
    case TableError::BadEntry: return "malformed entry";
    case TableError::NotFound: return "not found";
    }
    return "?";
}

unsigned PlatformTopology::enabled_cpu_count() const {
    unsigned count = 0;
    for (unsigned i = 0; i < cpu_count; ++i) count += cpus[i].enabled;
    return count;
}

uint32_t PlatformTopology::gsi_for_isa_irq(uint8_t irq) const {
    for (unsigned i = 0; i < override_count; ++i)
        if (overrides[i].source_irq == irq) return overrides[i].gsi;
    return irq;
}

// --- ACPI -----------------------------------------------------------------------------------

kstd::Result<Rsdp, TableError> parse_rsdp(Bytes bytes) {
    if (bytes.size() < 20) return fail(TableError::TooShort);
    if (!has_signature(bytes, "RSD PTR ", 8)) return fail(TableError::BadSignature);
    if (kstd::checksum8(bytes.subspan(0, 20)) != 0) return fail(TableError::BadChecksum);
    Rsdp rsdp{bytes[15], load<uint32_t>(bytes, 16), 0};
    if (rsdp.revision >= 2) {
        if (bytes.size() < 36) return fail(TableError::TooShort);
        const uint32_t length = load<uint32_t>(bytes, 20);
        if (length < 36) return fail(TableError::TooShort);
        if (length > bytes.size()) return fail(TableError::LengthPastEnd);
        if (kstd::checksum8(bytes.subspan(0, length)) != 0) return fail(TableError::BadChecksum);
        rsdp.xsdt_address = load<uint64_t>(bytes, 24);
    }
    return rsdp;
}

kstd::Result<size_t, TableError> find_rsdp(Bytes area) {
    for (size_t offset = 0; offset + 20 <= area.size(); offset += 16)
        if (parse_rsdp(area.subspan(offset))) return offset;
    return fail(TableError::NotFound);
}

kstd::Result<uint32_t, TableError> check_sdt(Bytes bytes, const char* signature) {
    if (bytes.size() < kSdtHeaderBytes) return fail(TableError::TooShort);
    if (!has_signature(bytes, signature, 4)) return fail(TableError::BadSignature);
    const uint32_t length = load<uint32_t>(bytes, 4);
    if (length < kSdtHeaderBytes) return fail(TableError::TooShort);
    if (length > bytes.size()) return fail(TableError::LengthPastEnd);
    if (kstd::checksum8(bytes.subspan(0, length)) != 0) return fail(TableError::BadChecksum);
    return length;
}

uint64_t SdtPointers::operator[](size_t index) const {
    const size_t offset = 36 + index * entry_bytes;
    return entry_bytes == 8 ? load<uint64_t>(table, offset) : load<uint32_t>(table, offset);
}

kstd::Result<SdtPointers, TableError> parse_root_table(Bytes bytes, bool is_xsdt) {
    auto length = check_sdt(bytes, is_xsdt ? "XSDT" : "RSDT");
    if (!length) return fail(length.error());
    return SdtPointers{bytes.subspan(0, length.value()), is_xsdt ? 8u : 4u};
}

kstd::Result<PlatformTopology, TableError> parse_madt(Bytes bytes) {
    auto length = check_sdt(bytes, "APIC");
    if (!length) return fail(length.error());
    if (length.value() < kMadtFixedBytes) return fail(TableError::TooShort);
    const Bytes table = bytes.subspan(0, length.value());

    PlatformTopology topology;
    topology.source = TableSource::Madt;
    topology.local_apic_address = load<uint32_t>(table, 36);
    topology.has_legacy_pics = load<uint32_t>(table, 40) & 1;  // PCAT_COMPAT

    // Invariant: offset + 2 <= table.size() when an entry header is read.
    for (size_t offset = kMadtFixedBytes; offset < table.size();) {
        if (offset + 2 > table.size()) return fail(TableError::BadEntry);
        const uint8_t type = table[offset];
        const uint8_t entry_length = table[offset + 1];
        if (entry_length < 2 || offset + entry_length > table.size()) return fail(TableError::BadEntry);
        const Bytes e = table.subspan(offset, entry_length);
        switch (type) {
        case 0:  // processor local APIC
            if (entry_length < 8) return fail(TableError::BadEntry);
            add_cpu(topology, {e[3], (load<uint32_t>(e, 4) & 1) != 0, false});
            break;
        case 1:  // IO APIC
            if (entry_length < 12) return fail(TableError::BadEntry);
            add_io_apic(topology, {e[2], load<uint32_t>(e, 4), load<uint32_t>(e, 8)});
            break;
        case 2:  // interrupt source override
            if (entry_length < 10) return fail(TableError::BadEntry);
            if (topology.override_count < kMaxOverrides)
                topology.overrides[topology.override_count++] = {e[3], load<uint32_t>(e, 4), load<uint16_t>(e, 8)};
            else ++topology.dropped;
            break;
        case 4:  // local APIC NMI
            if (entry_length < 6) return fail(TableError::BadEntry);
            if (topology.nmi_count < kMaxNmis)
                topology.nmis[topology.nmi_count++] = {e[2] == 0xFF ? 0xFFFFFFFFu : e[2], e[5], load<uint16_t>(e, 3)};
            else ++topology.dropped;
            break;
        case 5:  // local APIC address override (64-bit)
            if (entry_length < 12) return fail(TableError::BadEntry);
            topology.local_apic_address = load<uint64_t>(e, 4);
            break;
        case 9:  // processor local x2APIC (APIC ids above 254)
            if (entry_length < 16) return fail(TableError::BadEntry);
            add_cpu(topology, {load<uint32_t>(e, 4), (load<uint32_t>(e, 8) & 1) != 0, false});
            break;
        case 0xA:  // local x2APIC NMI
            if (entry_length < 12) return fail(TableError::BadEntry);
            if (topology.nmi_count < kMaxNmis)
                topology.nmis[topology.nmi_count++] = {load<uint32_t>(e, 4), e[8], load<uint16_t>(e, 2)};
            else ++topology.dropped;
            break;
        default:
            break;  // other controllers (GIC, SAPIC, ...) are skipped by length
        }
        offset += entry_length;
    }
    return topology;
}

// --- MP specification -----------------------------------------------------------------------

kstd::Result<MpFloatingPointer, TableError> parse_mp_floating_pointer(Bytes bytes) {
    if (bytes.size() < 16) return fail(TableError::TooShort);
    if (!has_signature(bytes, "_MP_", 4)) return fail(TableError::BadSignature);
    const size_t length = size_t{bytes[8]} * 16;
    if (length < 16) return fail(TableError::TooShort);
    if (length > bytes.size()) return fail(TableError::LengthPastEnd);
    if (kstd::checksum8(bytes.subspan(0, length)) != 0) return fail(TableError::BadChecksum);
    return MpFloatingPointer{load<uint32_t>(bytes, 4), bytes[11], (bytes[12] & 0x80) != 0};
}

kstd::Result<size_t, TableError> find_mp_floating_pointer(Bytes low_memory) {
    auto search = [&](size_t base, size_t length) -> kstd::Result<size_t, TableError> {
        if (base >= low_memory.size()) return fail(TableError::NotFound);
        if (length > low_memory.size() - base) length = low_memory.size() - base;
        for (size_t offset = base & ~size_t{15}; offset + 16 <= base + length; offset += 16)
            if (parse_mp_floating_pointer(low_memory.subspan(offset))) return offset;
        return fail(TableError::NotFound);
    };
    if (low_memory.size() >= 0x415) {  // both BDA words (0x40E and 0x413) lie inside
        // [MP spec §4] EBDA segment at 0x40E; base memory size in KiB at 0x413.
        const size_t ebda = size_t{load<uint16_t>(low_memory, 0x40E)} << 4;
        if (ebda) {
            if (auto found = search(ebda, 1024)) return found;
        }
        const size_t base_kib = load<uint16_t>(low_memory, 0x413);
        if (base_kib >= 1) {
            if (auto found = search((base_kib - 1) * 1024, 1024)) return found;
        }
    }
    return search(0xF0000, 0x10000);
}

kstd::Result<PlatformTopology, TableError> parse_mp_config(Bytes bytes) {
    constexpr size_t kHeaderBytes = 44;
    if (bytes.size() < kHeaderBytes) return fail(TableError::TooShort);
    if (!has_signature(bytes, "PCMP", 4)) return fail(TableError::BadSignature);
    const uint16_t base_length = load<uint16_t>(bytes, 4);
    if (base_length < kHeaderBytes) return fail(TableError::TooShort);
    if (base_length > bytes.size()) return fail(TableError::LengthPastEnd);
    const Bytes table = bytes.subspan(0, base_length);
    if (kstd::checksum8(table) != 0) return fail(TableError::BadChecksum);

    PlatformTopology topology;
    topology.source = TableSource::MpTable;
    topology.local_apic_address = load<uint32_t>(table, 36);
    uint64_t isa_buses[4] = {};  // bitmap of bus ids whose type string is "ISA"
    // The entry count (offset 34) is not trusted: walk the entries by the base length.
    for (size_t offset = kHeaderBytes; offset < table.size();) {
        const uint8_t type = table[offset];
        const size_t entry_length = type == 0 ? 20 : 8;  // [MP spec table 4-3]
        if (type > 4 || offset + entry_length > table.size()) return fail(TableError::BadEntry);
        const Bytes e = table.subspan(offset, entry_length);
        if (type == 0) add_cpu(topology, {e[1], (e[3] & 1) != 0, (e[3] & 2) != 0});
        else if (type == 2 && (e[3] & 1)) add_io_apic(topology, {e[1], load<uint32_t>(e, 4), 0});
        else if (type == 1 && e[2] == 'I' && e[3] == 'S' && e[4] == 'A') isa_buses[e[1] / 64] |= 1ull << (e[1] % 64);
        else if (type == 3) {
            // [MP spec §4.3.4] type, interrupt type, flags, source bus, source IRQ, IO APIC id, pin.
            // An INT assignment from an ISA bus to a different pin is what the MADT calls an
            // interrupt source override (QEMU wires IRQ 0 to pin 2).
            const bool from_isa = (isa_buses[e[4] / 64] >> (e[4] % 64)) & 1;
            if (e[1] == 0 && from_isa && e[5] < 16 && e[5] != e[7]) {
                if (topology.override_count < kMaxOverrides)
                    topology.overrides[topology.override_count++] = {e[5], e[7], load<uint16_t>(e, 2)};
                else ++topology.dropped;
            }
        }
        offset += entry_length;
    }
    return topology;
}

}  // namespace smp

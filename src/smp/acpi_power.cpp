// FADT fields and the \_S5 scan (see acpi_power.hpp).
#include "smp/acpi_power.hpp"

#include "lib/bytes.hpp"

namespace smp {
namespace {

using kstd::Bytes;
using kstd::fail;
using kstd::load;

// [ACPI 6.4 table 5.9] FADT field offsets.
constexpr size_t kDsdt = 40;
constexpr size_t kSmiCommand = 48;
constexpr size_t kAcpiEnable = 52;
constexpr size_t kPm1aControlBlock = 64;
constexpr size_t kPm1bControlBlock = 68;
constexpr size_t kPmTimerBlock = 76;
constexpr size_t kPm1ControlLength = 89;
constexpr size_t kPmTimerLength = 91;
constexpr size_t kFlags = 112;
constexpr size_t kResetRegister = 116;
constexpr size_t kResetValue = 128;
constexpr size_t kXDsdt = 140;
constexpr size_t kXPm1aControlBlock = 172;
constexpr size_t kXPm1bControlBlock = 184;
constexpr size_t kXPmTimerBlock = 208;
constexpr size_t kGenericAddressBytes = 12;
constexpr uint32_t kFlagTimerValueExtended = 1u << 8;
constexpr uint32_t kFlagResetRegisterSupported = 1u << 10;
// The shortest FADT (revision 1) ends after Flags.
constexpr size_t kFadtMinimumBytes = kFlags + 4;

constexpr size_t kSdtHeaderBytes = 36;

GenericAddress generic_address(Bytes table, size_t at) {
    return {table[at], table[at + 1], table[at + 2], table[at + 3], load<uint64_t>(table, at + 4)};
}

bool fits(Bytes table, size_t offset, size_t size) { return offset + size <= table.size(); }

// The legacy 32-bit block address, as an I/O-space register of `length_bytes`.
GenericAddress io_block(uint32_t port, uint8_t length_bytes) {
    GenericAddress address;
    address.space_id = static_cast<uint8_t>(AddressSpace::Io);
    address.bit_width = static_cast<uint8_t>(length_bytes * 8);
    address.address = port;
    return address;
}

// [ACPI 6.4 §5.2.9] "If the X_ field is non-zero, OSPM uses it and ignores the 32-bit one."
GenericAddress pm1_control(Bytes table, size_t x_offset, size_t legacy_offset, uint8_t length_bytes) {
    if (fits(table, x_offset, kGenericAddressBytes)) {
        const GenericAddress x = generic_address(table, x_offset);
        if (x.present()) return x;
    }
    return io_block(load<uint32_t>(table, legacy_offset), length_bytes);
}

// [ACPI 6.4 §20.2.3] Integer constants a package element may be: Zero, One, Ones and the
// Byte/Word/DWord/QWord prefixed data. Advances `at`; false for anything else or past `end`.
bool read_integer(Bytes aml, size_t& at, size_t end, uint64_t& value) {
    if (at >= end) return false;
    const uint8_t op = aml[at++];
    size_t size = 0;
    switch (op) {
        case 0x00:
            value = 0;
            return true;  // ZeroOp
        case 0x01:
            value = 1;
            return true;  // OneOp
        case 0xFF:
            value = ~uint64_t{0};
            return true;  // OnesOp
        case 0x0A:
            size = 1;
            break;  // BytePrefix
        case 0x0B:
            size = 2;
            break;  // WordPrefix
        case 0x0C:
            size = 4;
            break;  // DWordPrefix
        case 0x0E:
            size = 8;
            break;  // QWordPrefix
        default:
            return false;
    }
    if (size > end - at) return false;
    value = 0;
    for (size_t i = 0; i < size; ++i) value |= uint64_t{aml[at + i]} << (8 * i);
    at += size;
    return true;
}

// [ACPI 6.4 §20.2.4] PkgLength: the lead byte's top two bits count the bytes that follow; the
// length counts itself. Returns the offset one past the package, or 0 if malformed.
size_t package_end(Bytes aml, size_t at) {
    const size_t start = at;
    if (at >= aml.size()) return 0;
    const uint8_t lead = aml[at++];
    const unsigned following = lead >> 6;
    if (following == 0) return start + (lead & 0x3F);
    if (lead & 0x30) return 0;  // bits 5:4 are reserved when bytes follow
    if (following > aml.size() - at) return 0;
    size_t length = lead & 0x0F;
    for (unsigned i = 0; i < following; ++i) length |= size_t{aml[at + i]} << (4 + 8 * i);
    return start + length;
}

// The package after "_S5_" at `at` (PackageOp already checked): its first one or two integers.
kstd::Result<SleepType, TableError> read_s5_package(Bytes aml, size_t at) {
    const size_t end = package_end(aml, at);
    if (end == 0 || end > aml.size()) return fail(TableError::BadEntry);
    const uint8_t lead = aml[at];
    at += 1 + (lead >> 6);
    if (at >= end) return fail(TableError::BadEntry);
    const uint8_t element_count = aml[at++];
    uint64_t a = 0;
    if (element_count == 0 || !read_integer(aml, at, end, a)) return fail(TableError::BadEntry);
    // One element is older firmware's way of giving both: PM1b takes PM1a's value.
    uint64_t b = a;
    if (element_count >= 2 && !read_integer(aml, at, end, b)) return fail(TableError::BadEntry);
    if (a > 7 || b > 7) return fail(TableError::BadEntry);  // SLP_TYP is three bits
    return SleepType{static_cast<uint8_t>(a), static_cast<uint8_t>(b)};
}

}  // namespace

kstd::Result<Fadt, TableError> parse_fadt(Bytes bytes) {
    auto length = check_sdt(bytes, "FACP");
    if (!length) return fail(length.error());
    if (length.value() < kFadtMinimumBytes) return fail(TableError::TooShort);
    const Bytes table = bytes.subspan(0, length.value());

    Fadt fadt;
    fadt.revision = table[8];
    fadt.dsdt_address = load<uint32_t>(table, kDsdt);
    if (fits(table, kXDsdt, 8) && load<uint64_t>(table, kXDsdt) != 0) fadt.dsdt_address = load<uint64_t>(table, kXDsdt);
    fadt.smi_command_port = load<uint32_t>(table, kSmiCommand);
    fadt.acpi_enable_value = table[kAcpiEnable];
    const uint8_t pm1_length = table[kPm1ControlLength];
    fadt.pm1a_control = pm1_control(table, kXPm1aControlBlock, kPm1aControlBlock, pm1_length);
    fadt.pm1b_control = pm1_control(table, kXPm1bControlBlock, kPm1bControlBlock, pm1_length);
    // [ACPI 6.4 §4.8.3.3] The PM timer: 3.579545 MHz, 24 bits unless Flags.TMR_VAL_EXT. A
    // PM_TMR_LEN other than 4 means there is none.
    if (table[kPmTimerLength] == 4) {
        fadt.pm_timer = pm1_control(table, kXPmTimerBlock, kPmTimerBlock, 4);
        fadt.pm_timer_bits = (load<uint32_t>(table, kFlags) & kFlagTimerValueExtended) ? 32 : 24;
    }
    if (fits(table, kResetValue, 1) && (load<uint32_t>(table, kFlags) & kFlagResetRegisterSupported)) {
        fadt.reset_register = generic_address(table, kResetRegister);
        fadt.reset_value = table[kResetValue];
        const auto space = static_cast<AddressSpace>(fadt.reset_register.space_id);
        fadt.reset_supported =
            fadt.reset_register.present() && (space == AddressSpace::Io || space == AddressSpace::Memory);
    }
    return fadt;
}

kstd::Result<SleepType, TableError> find_s5_sleep_type(Bytes bytes) {
    const bool ssdt = bytes.size() >= 4 && bytes[0] == 'S';
    auto length = check_sdt(bytes, ssdt ? "SSDT" : "DSDT");
    if (!length) return fail(length.error());
    const Bytes aml = bytes.subspan(0, length.value());

    // Invariant: offset + 5 <= aml.size() when the name and the byte after it are read.
    for (size_t offset = kSdtHeaderBytes; offset + 5 <= aml.size(); ++offset) {
        if (aml[offset] != '_' || aml[offset + 1] != 'S' || aml[offset + 2] != '5' || aml[offset + 3] != '_') continue;
        // [ACPI 6.4 §20.2.5.1] DefName := NameOp NameString DataRefObject; the name may carry
        // the root prefix '\'. Anything else (a reference, a method) is not the definition.
        const bool name_op = offset - 1 >= kSdtHeaderBytes && aml[offset - 1] == 0x08;
        const bool rooted_name_op = offset - 2 >= kSdtHeaderBytes && aml[offset - 1] == '\\' && aml[offset - 2] == 0x08;
        if (!(name_op || rooted_name_op) || aml[offset + 4] != 0x12) continue;  // PackageOp
        return read_s5_package(aml, offset + 5);
    }
    return fail(TableError::NotFound);
}

}  // namespace smp

// Firmware table discovery (see discovery.hpp).
#include "smp/discovery.hpp"

#include "lib/bytes.hpp"
#include "lib/console.hpp"
#include "mm/kernel_address_space.hpp"
#include "smp/acpi_power.hpp"

namespace kernel::platform {
namespace {

smp::PlatformTopology g_topology;
bool g_from_firmware = false;

struct Found {
    kstd::Bytes rsdp, root, madt, mp_pointer, mp_config;
} g_found;
smp::SdtPointers g_root_pointers;  // the RSDT/XSDT's entries; count() 0 without ACPI

constexpr uint64_t kLowMemoryBytes = 1 << 20;
constexpr uint64_t kMaxTableBytes = 1 << 16;

// Firmware tables may sit in "reserved" memory the kernel tables do not map: map it read-only
// (identity, 4 KiB pages) before looking. Returns an empty span if that fails.
kstd::Bytes firmware_bytes(uint64_t phys, uint64_t length) {
    // Nothing is looked for in page 0, which stays unmapped (kernel_address_space.cpp).
    if (phys < mm::kPageSize || length == 0 || length > kMaxTableBytes) return {};
    auto& space = kernel_address_space();
    for (uint64_t page = phys & ~(mm::kPageSize - 1); page < phys + length; page += mm::kPageSize) {
        if (space.translate(page)) continue;
        if (!space.map(kstd::VirtAddr{page}, kstd::PhysAddr{page}, mm::kPageSize, 0)) return {};  // identity
    }
    return {reinterpret_cast<const uint8_t*>(phys), length};
}

// An SDT at `phys`: its header first (for the length), then the whole table.
kstd::Bytes sdt_bytes(uint64_t phys) {
    kstd::Bytes header = firmware_bytes(phys, 36);
    if (header.empty()) return {};
    return firmware_bytes(phys, kstd::load<uint32_t>(header, 4));
}

bool try_madt(const boot::BootInfo& info) {
    kstd::Bytes rsdp_bytes = !info.acpi_rsdp_v2.empty() ? info.acpi_rsdp_v2 : info.acpi_rsdp_v1;
    if (rsdp_bytes.empty()) {
        // No loader tag: the BIOS area (0xE0000-0xFFFFF), as ACPI allows on PCs.
        kstd::Bytes bios_area = firmware_bytes(0xE0000, 0x20000);
        auto offset = smp::find_rsdp(bios_area);
        if (!offset) return false;
        rsdp_bytes = bios_area.subspan(offset.value(), 36);
    }
    auto rsdp = smp::parse_rsdp(rsdp_bytes);
    if (!rsdp) {
        klog("smp: RSDP rejected: %s", smp::describe(rsdp.error()));
        return false;
    }
    g_found.rsdp = rsdp_bytes;
    const bool use_xsdt = rsdp.value().xsdt_address != 0;
    kstd::Bytes root_bytes = sdt_bytes(use_xsdt ? rsdp.value().xsdt_address : rsdp.value().rsdt_address);
    auto root = smp::parse_root_table(root_bytes, use_xsdt);
    if (!root) {
        klog("smp: %s rejected: %s", use_xsdt ? "XSDT" : "RSDT", smp::describe(root.error()));
        return false;
    }
    g_found.root = root.value().table;
    g_root_pointers = root.value();
    for (size_t i = 0; i < root.value().count(); ++i) {
        kstd::Bytes table = sdt_bytes(root.value()[i]);
        if (table.size() < 4 || table[0] != 'A' || table[1] != 'P' || table[2] != 'I' || table[3] != 'C') continue;
        auto madt = smp::parse_madt(table);
        if (!madt) {
            klog("smp: MADT rejected: %s", smp::describe(madt.error()));
            return false;
        }
        g_found.madt = table;
        g_topology = madt.value();
        return true;
    }
    klog("smp: ACPI has no MADT");
    return false;
}

bool try_mp_table() {
    // The first MiB through the direct map: the identity map leaves page 0 (the BIOS data
    // area, with the EBDA's segment) unmapped (kernel_address_space.cpp).
    const kstd::Bytes low{phys_to_virt<const uint8_t>(0), kLowMemoryBytes};
    auto offset = smp::find_mp_floating_pointer(low);
    if (!offset) return false;
    auto pointer = smp::parse_mp_floating_pointer(low.subspan(offset.value()));
    g_found.mp_pointer = low.subspan(offset.value(), 16);
    if (pointer.value().config_table_address == 0) {
        klog("smp: MP default configuration %u is not supported", pointer.value().default_configuration);
        return false;
    }
    kstd::Bytes header = firmware_bytes(pointer.value().config_table_address, 44);
    if (header.empty()) return false;
    kstd::Bytes table = firmware_bytes(pointer.value().config_table_address, kstd::load<uint16_t>(header, 4));
    auto config = smp::parse_mp_config(table);
    if (!config) {
        klog("smp: MP configuration table rejected: %s", smp::describe(config.error()));
        return false;
    }
    g_found.mp_config = table;
    g_topology = config.value();
    g_topology.has_legacy_pics = true;
    return true;
}

void print_hex(const char* name, kstd::Bytes bytes) {
    if (bytes.empty()) return;
    console::Hold one_line;
    console::print("FWDUMP %s ", name);
    for (uint8_t b : bytes) console::print("%02x", b);
    console::print("\n");
}

}  // namespace

void discover(const boot::BootInfo& info, bool ignore_madt) {
    // Both are looked for (the dump wants both); the MADT wins when it is valid, because
    // SeaBIOS's MP table lists one CPU per socket and UEFI machines have none.
    smp::PlatformTopology from_mp;
    const bool have_mp = try_mp_table();
    if (have_mp) from_mp = g_topology;
    const bool have_madt = !ignore_madt && try_madt(info);
    if (ignore_madt) klog("smp: sable.acpi=off: ignoring the MADT");
    if (!have_madt && have_mp) g_topology = from_mp;
    g_from_firmware = have_madt || have_mp;
    if (!g_from_firmware) {
        g_topology = {};
        g_topology.cpus[0] = {0, true, true};
        g_topology.cpu_count = 1;
        g_topology.io_apics[0] = {0, 0xFEC00000, 0};
        g_topology.io_apic_count = 1;
        g_topology.local_apic_address = 0xFEE00000;
        g_topology.has_legacy_pics = true;
        klog("smp: no MADT and no MP table: assuming one CPU and the standard IO APIC");
        return;
    }
    const char* source = g_topology.source == smp::TableSource::Madt ? "madt" : "mp";
    klog("smp: %u CPUs (%u enabled) via %s%s; local APIC at 0x%lx", g_topology.cpu_count,
         g_topology.enabled_cpu_count(), source, have_madt && have_mp ? " (MP table also present)" : "",
         g_topology.local_apic_address);
    for (unsigned i = 0; i < g_topology.cpu_count; ++i)
        klog("smp:   cpu %u: APIC id %u%s%s", i, g_topology.cpus[i].apic_id, g_topology.cpus[i].enabled ? "" : " (disabled)",
             g_topology.cpus[i].bootstrap ? " (BSP)" : "");
    for (unsigned i = 0; i < g_topology.io_apic_count; ++i)
        klog("smp:   IO APIC id %u at 0x%lx, GSI base %u", g_topology.io_apics[i].id, g_topology.io_apics[i].address,
             g_topology.io_apics[i].gsi_base);
    for (unsigned i = 0; i < g_topology.override_count; ++i)
        klog("smp:   ISA IRQ %u -> GSI %u (flags 0x%x)", g_topology.overrides[i].source_irq, g_topology.overrides[i].gsi,
             g_topology.overrides[i].flags);
    if (have_madt && have_mp && from_mp.cpu_count != g_topology.cpu_count)
        klog("smp: the MP table lists %u CPUs, the MADT %u: using the MADT", from_mp.cpu_count, g_topology.cpu_count);
}

const smp::PlatformTopology& topology() { return g_topology; }
bool from_firmware() { return g_from_firmware; }

kstd::Bytes acpi_table(const char* signature, unsigned index) {
    for (size_t i = 0; i < g_root_pointers.count(); ++i) {
        kstd::Bytes table = sdt_bytes(g_root_pointers[i]);
        if (!smp::check_sdt(table, signature) || index-- != 0) continue;
        return table;
    }
    return {};
}

kstd::Bytes acpi_table_at(uint64_t phys_addr) { return sdt_bytes(phys_addr); }

void dump_tables() {
    print_hex("rsdp", g_found.rsdp);
    print_hex("root", g_found.root);
    print_hex("madt", g_found.madt);
    print_hex("mp_pointer", g_found.mp_pointer);
    print_hex("mp_config", g_found.mp_config);
    const kstd::Bytes fadt = acpi_table("FACP");
    print_hex("fadt", fadt);
    if (auto parsed = smp::parse_fadt(fadt)) print_hex("dsdt", acpi_table_at(parsed.value().dsdt_address));
}

}  // namespace kernel::platform

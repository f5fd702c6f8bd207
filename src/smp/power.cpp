// Reset and power-off (see power.hpp). The order of the reset steps and the FADT fields used are
// explained in docs/power.md.
#include "smp/power.hpp"

#include "arch/arch.hpp"
#include "lib/clock.hpp"
#include "lib/console.hpp"
#include "mm/kernel_address_space.hpp"
#include "smp/acpi_power.hpp"
#include "smp/discovery.hpp"
#include "smp/remote_call.hpp"

namespace kernel::power {
namespace {

// A reset or S5 write takes effect within microseconds on real chipsets; this long without it
// means the step did nothing and the next one is due.
constexpr uint64_t kStepTimeoutNs = 500'000'000;
// [ACPI 6.4 §16.3.1] how long firmware may take to set SCI_EN after ACPI_ENABLE.
constexpr uint64_t kAcpiEnableTimeoutNs = 3'000'000'000;

// A register the FADT names, ready to be written: its I/O port, or its memory mapped here.
struct Register {
    bool usable = false;
    bool io = false;
    unsigned width_bytes = 0;
    uint64_t address = 0;
};

smp::Fadt g_fadt;
smp::SleepType g_s5{};
const char* g_s5_problem = "no ACPI";  // nullptr once g_s5 is valid
Register g_reset_register, g_pm1a, g_pm1b, g_pm_timer;
unsigned g_first_reset_step = 0;  // 0: the FADT's register; n: arch::kResetMethods[n - 1]

const char* space_name(const Register& r) { return r.io ? "I/O" : "memory"; }

// [ACPI 6.4 §5.2.3.2] Access size 1..4 is byte..qword; 0 (legacy) means the register's width.
Register prepare(const smp::GenericAddress& address, unsigned default_width_bytes) {
    Register r;
    if (!address.present()) return r;
    r.width_bytes = address.access_size ? 1u << (address.access_size - 1) : address.bit_width / 8;
    if (r.width_bytes == 0) r.width_bytes = default_width_bytes;
    r.address = address.address;
    if (address.space_id == static_cast<uint8_t>(smp::AddressSpace::Io)) {
        r.io = true;
        r.usable = r.address <= 0xFFFF && r.width_bytes <= 4;
        return r;
    }
    if (address.space_id != static_cast<uint8_t>(smp::AddressSpace::Memory) || r.width_bytes > 8) return r;
    // Mapped now, while this CPU is the only one: at reset time no page table may change.
    auto& space = kernel_address_space();
    const uint64_t page = r.address & ~(mm::kPageSize - 1);
    if (!space.translate(page) &&
        !space.map(kstd::VirtAddr{page}, kstd::PhysAddr{page}, mm::kPageSize, mm::kPageWritable | mm::kPageUncached))
        return r;
    r.usable = true;
    return r;
}

uint64_t read_register(const Register& r) {
    if (r.io) {
        const auto port = static_cast<uint16_t>(r.address);
        return r.width_bytes == 1   ? arch::port_read8(port)
               : r.width_bytes == 2 ? arch::port_read16(port)
                                    : arch::port_read32(port);
    }
    switch (r.width_bytes) {
        case 1:
            return *reinterpret_cast<volatile uint8_t*>(r.address);
        case 2:
            return *reinterpret_cast<volatile uint16_t*>(r.address);
        case 4:
            return *reinterpret_cast<volatile uint32_t*>(r.address);
        default:
            return *reinterpret_cast<volatile uint64_t*>(r.address);
    }
}

void write_register(const Register& r, uint64_t value) {
    if (r.io) {
        const auto port = static_cast<uint16_t>(r.address);
        if (r.width_bytes == 1)
            arch::port_write8(port, static_cast<uint8_t>(value));
        else if (r.width_bytes == 2)
            arch::port_write16(port, static_cast<uint16_t>(value));
        else
            arch::port_write32(port, static_cast<uint32_t>(value));
        return;
    }
    switch (r.width_bytes) {
        case 1:
            *reinterpret_cast<volatile uint8_t*>(r.address) = static_cast<uint8_t>(value);
            break;
        case 2:
            *reinterpret_cast<volatile uint16_t*>(r.address) = static_cast<uint16_t>(value);
            break;
        case 4:
            *reinterpret_cast<volatile uint32_t*>(r.address) = static_cast<uint32_t>(value);
            break;
        default:
            *reinterpret_cast<volatile uint64_t*>(r.address) = value;
            break;
    }
}

void wait_ns(uint64_t duration_ns) {
    const uint64_t end = clock::ns_since_boot() + duration_ns;
    while (clock::ns_since_boot() < end) arch::cpu_relax();
}

// \_S5 is in the DSDT on every firmware we know; an SSDT may hold it instead.
void find_s5() {
    const kstd::Bytes dsdt = platform::acpi_table_at(g_fadt.dsdt_address);
    auto found = smp::find_s5_sleep_type(dsdt);
    const char* source = "DSDT";
    for (unsigned i = 0; !found && found.error() == smp::TableError::NotFound; ++i) {
        const kstd::Bytes ssdt = platform::acpi_table("SSDT", i);
        if (ssdt.empty()) break;
        found = smp::find_s5_sleep_type(ssdt);
        source = "SSDT";
    }
    if (!found) {
        g_s5_problem = found.error() == smp::TableError::NotFound ? "no \\_S5 in the DSDT or SSDTs" : "\\_S5 malformed";
        klog("power: %s (%s)", g_s5_problem, smp::describe(found.error()));
        return;
    }
    g_s5 = found.value();
    g_s5_problem = nullptr;
    klog("power: \\_S5 in the %s: SLP_TYPa=%u SLP_TYPb=%u", source, g_s5.pm1a, g_s5.pm1b);
}

// [ACPI 6.4 §4.8.2.1] PM1 control belongs to the firmware until the OS writes ACPI_ENABLE to
// SMI_CMD and SCI_EN goes up; SeaBIOS and OVMF leave that to the OS.
void enter_acpi_mode() {
    if (read_register(g_pm1a) & smp::kSciEnable) return;
    if (g_fadt.smi_command_port == 0 || g_fadt.acpi_enable_value == 0 || g_fadt.smi_command_port > 0xFFFF) return;
    klog("poweroff: ACPI mode: 0x%x -> SMI_CMD 0x%x", g_fadt.acpi_enable_value, g_fadt.smi_command_port);
    arch::port_write8(static_cast<uint16_t>(g_fadt.smi_command_port), g_fadt.acpi_enable_value);
    const uint64_t end = clock::ns_since_boot() + kAcpiEnableTimeoutNs;
    while (!(read_register(g_pm1a) & smp::kSciEnable) && clock::ns_since_boot() < end) arch::cpu_relax();
}

void stop_everything_else() {
    const unsigned halted = remote_call::halt_other_cpus();
    arch::save_and_disable_interrupts();
    klog("power: %u other CPU%s halted", halted, halted == 1 ? "" : "s");
}

}  // namespace

void init(kstd::StringView first_reset_method) {
    if (first_reset_method.empty() || first_reset_method == "acpi") {
        g_first_reset_step = 0;
    } else {
        g_first_reset_step = 0;
        for (unsigned i = 0; i < arch::kResetMethodCount; ++i)
            if (first_reset_method == arch::kResetMethods[i].name) g_first_reset_step = i + 1;
        if (g_first_reset_step == 0)
            klog("power: sable.reset=%.*s is not a reset method: starting at acpi",
                 static_cast<int>(first_reset_method.size()), first_reset_method.data());
    }

    const kstd::Bytes fadt_bytes = platform::acpi_table("FACP");
    if (fadt_bytes.empty()) {
        klog("power: no FADT: power-off halts, reset starts at %s", arch::kResetMethods[0].description);
        return;
    }
    auto fadt = smp::parse_fadt(fadt_bytes);
    if (!fadt) {
        klog("power: FADT rejected: %s", smp::describe(fadt.error()));
        return;
    }
    g_fadt = fadt.value();
    if (g_fadt.reset_supported) g_reset_register = prepare(g_fadt.reset_register, 1);
    g_pm1a = prepare(g_fadt.pm1a_control, 2);
    g_pm1b = prepare(g_fadt.pm1b_control, 2);
    if (g_fadt.pm_timer_bits) g_pm_timer = prepare(g_fadt.pm_timer, 4);
    if (g_reset_register.usable)
        klog("power: FADT rev %u: reset register %s 0x%lx <- 0x%x", g_fadt.revision, space_name(g_reset_register),
             g_reset_register.address, g_fadt.reset_value);
    else
        klog("power: FADT rev %u: no reset register", g_fadt.revision);
    if (!g_pm1a.usable) {
        g_s5_problem = "no usable PM1a control block";
        klog("power: %s", g_s5_problem);
        return;
    }
    klog("power: PM1a_CNT %s 0x%lx, PM1b_CNT %s", space_name(g_pm1a), g_pm1a.address,
         g_pm1b.usable ? "present" : "none");
    find_s5();
}

unsigned pm_timer_bits() { return g_pm_timer.usable ? g_fadt.pm_timer_bits : 0; }
uint32_t pm_timer_read() { return static_cast<uint32_t>(read_register(g_pm_timer)); }

void restart() {
    klog("power: restart");
    stop_everything_else();
    if (g_first_reset_step == 0 && g_reset_register.usable) {
        klog("reset: trying the ACPI reset register (%s 0x%lx <- 0x%x)", space_name(g_reset_register),
             g_reset_register.address, g_fadt.reset_value);
        write_register(g_reset_register, g_fadt.reset_value);
        wait_ns(kStepTimeoutNs);
    }
    for (unsigned i = g_first_reset_step ? g_first_reset_step - 1 : 0; i < arch::kResetMethodCount; ++i) {
        klog("reset: trying %s", arch::kResetMethods[i].description);
        arch::kResetMethods[i].attempt();
        wait_ns(kStepTimeoutNs);
    }
    klog("reset: the machine is still running: halted");
    arch::halt_forever();
}

void power_off() {
    klog("power: power-off");
    stop_everything_else();
    if (g_s5_problem) {
        klog("poweroff: cannot power off (%s): halted with interrupts off", g_s5_problem);
        arch::halt_forever();
    }
    enter_acpi_mode();
    // [ACPI 6.4 §7.4.2.4, §4.8.3.2.1] SLP_TYP first, then SLP_EN with it; the other bits (SCI_EN)
    // are kept. PM1a and PM1b are written in turn, as ACPICA does.
    constexpr uint64_t kSleepBits = 7u << smp::kSleepTypeShift | smp::kSleepEnable;
    const uint64_t pm1a = (read_register(g_pm1a) & ~kSleepBits) | smp::pm1_sleep_value(g_s5.pm1a);
    const uint64_t pm1b = g_pm1b.usable ? (read_register(g_pm1b) & ~kSleepBits) | smp::pm1_sleep_value(g_s5.pm1b) : 0;
    klog("poweroff: entering S5: 0x%lx -> PM1a_CNT %s 0x%lx%s", pm1a, space_name(g_pm1a), g_pm1a.address,
         g_pm1b.usable ? " and PM1b_CNT" : "");
    write_register(g_pm1a, pm1a & ~uint64_t{smp::kSleepEnable});
    if (g_pm1b.usable) write_register(g_pm1b, pm1b & ~uint64_t{smp::kSleepEnable});
    write_register(g_pm1a, pm1a);
    if (g_pm1b.usable) write_register(g_pm1b, pm1b);
    wait_ns(kStepTimeoutNs);
    klog("poweroff: still running after the S5 write: halted with interrupts off");
    arch::halt_forever();
}

}  // namespace kernel::power

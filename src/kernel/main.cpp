// kernel_main: the first C++ code. Brings up the console, reads what GRUB handed over, prints
// the boot banner, and runs the self tests when the command line asks for them.
#include <stdint.h>
#include <sable/abi.h>

#include "arch/arch.hpp"
#include "boot/multiboot2.hpp"
#include "drivers/qemu_fw_cfg.hpp"
#include "drivers/uart16550.hpp"
#include "kernel/selftest/bench.hpp"
#include "kernel/boot_context.hpp"
#include "kernel/display.hpp"
#include "lib/clock.hpp"
#include "lib/console.hpp"
#include "lib/lock_debug.hpp"
#include "kernel/tsc_refine.hpp"
#include "sched/cpu_local.hpp"
#include "kernel/panic.hpp"
#include "mm/kernel_address_space.hpp"
#include "kernel/interrupts.hpp"
#include "kernel/watchdog.hpp"
#include "mm/kernel_stacks.hpp"
#include "mm/user_memory.hpp"
#include "proc/files.hpp"
#include "proc/process.hpp"
#include "smp/tlb.hpp"
#include "sched/tasks.hpp"
#include "kernel/symbols.hpp"
#include "mm/physical_memory.hpp"
#include "smp/discovery.hpp"
#include "smp/bring_up.hpp"
#include "kernel/selftest/selftest.hpp"
#include "lib/format.hpp"
#include "smp/power.hpp"

#ifndef SABLE_VERSION
#error "SABLE_VERSION comes from CMake (project version)"
#endif

namespace {

// Set by a global constructor: proves entry.S ran .init_array before kernel_main.
struct ConstructorProbe {
    ConstructorProbe() : value(0x5AB1E) {}
    uint32_t value;
};
ConstructorProbe g_constructor_probe;

// Must read 0 at entry: proves entry.S cleared BSS (GRUB does too, so this checks our layout
// keeps it inside [__bss_start, __bss_end)).
uint64_t g_bss_probe[4];

// GRUB's command line plus the per-run words QEMU passes through fw_cfg (tools/run-qemu).
char g_command_line[2048];

const char* memory_type_name(boot::MemoryType type) {
    switch (type) {
    case boot::MemoryType::Available: return "usable";
    case boot::MemoryType::Reserved: return "reserved";
    case boot::MemoryType::AcpiReclaimable: return "ACPI data";
    case boot::MemoryType::AcpiNvs: return "ACPI NVS";
    case boot::MemoryType::Defective: return "defective";
    }
    return "unknown";
}

kstd::StringView assemble_command_line(kstd::StringView from_grub) {
    size_t used = kstd::format_to_buffer(g_command_line, sizeof(g_command_line), "%.*s",
                                         static_cast<int>(from_grub.size()), from_grub.data());
    if (used >= sizeof(g_command_line)) used = sizeof(g_command_line) - 1;
    char extra[1024];
    if (drivers::qemu_fw_cfg::read_file("opt/sable/cmdline", extra, sizeof(extra)) > 0) {
        used += kstd::format_to_buffer(g_command_line + used, sizeof(g_command_line) - used,
                                       "%s%s", used ? " " : "", extra);
        if (used >= sizeof(g_command_line)) used = sizeof(g_command_line) - 1;
    }
    return {g_command_line, used};
}

void log_memory_map(const boot::BootInfo& info) {
    if (!info.has_memory_map) {
        klog("memory: no memory map from the loader; basic info says %u KiB upper memory",
             info.upper_memory_kib);
        return;
    }
    for (size_t i = 0; i < info.memory_map.count(); ++i) {
        const boot::MemoryRegion region = info.memory_map[i];
        klog("memory: [%2zu] %016lx-%016lx %s (type %u)", i, region.base, region.base + region.length - 1,
             memory_type_name(region.type), static_cast<unsigned>(region.type));
    }
}

// #DF, NMI and #MC run on their own guarded stacks, so even a kernel stack overflow (which leaves
// no room to push a #PF frame) ends in a clean double-fault report.
void init_exceptions() {
    kernel::init_panic_on_exceptions();
    uint64_t tops[3];
    for (uint64_t& top : tops) {
        auto stack = kernel::allocate_kernel_stack(4);
        if (!stack) panic("no memory for an interrupt stack");
        top = stack.value().top;
    }
    arch::init_cpu_interrupts(0, tops);
    klog("cpu0: GDT, TSS (IST stacks for #DF, NMI, #MC) and IDT loaded");
}

}  // namespace

namespace kernel {
BootContext g_boot;
}

// Its frame is live while the stack canary changes: it carries none (it never returns anyway).
namespace {

// Every CPU's timer tick: the scheduler, and the clock's one refinement a second after boot.
void on_timer_tick(arch::TrapFrame* frame) {
    kernel::tsc_refine::on_tick();
    kernel::tasks::on_timer_tick(frame);
}

}  // namespace

extern "C" [[noreturn]] __attribute__((no_stack_protector)) void kernel_main(uint32_t magic, uint32_t info_phys) {
    kernel::init_stack_protector();
    clock::mark_boot();
    // The console lock knows CPUs by their per-CPU data: the boot CPU's is in place before the
    // first line is printed.
    kernel::install_cpu_local(kernel::g_cpu_locals[0]);
#if SABLE_LOCK_DEBUG
    kernel::lock_debug::start();  // it keys its records by the per-CPU base, in place from here
#endif
    const bool serial_ok = drivers::uart16550::init();
    console::print("Sable " SABLE_VERSION "\n");
    selftest::record_boot_stage("serial", serial_ok, "no UART answered the loopback test");
    selftest::record_boot_stage("multiboot2_magic", magic == boot::kMultiboot2BootloaderMagic,
                                "entry.S let a wrong magic through");
    selftest::record_boot_stage("constructors_ran", g_constructor_probe.value == 0x5AB1E,
                                "global constructor did not run");
    bool bss_zero = true;
    for (uint64_t word : g_bss_probe) bss_zero &= word == 0;
    selftest::record_boot_stage("bss_zeroed", bss_zero, "BSS not cleared");

    // The header's total_size bounds the span; a corrupt size is capped and then rejected.
    const auto* info_bytes = reinterpret_cast<const uint8_t*>(uintptr_t{info_phys});
    const uint32_t claimed_size = *reinterpret_cast<const volatile uint32_t*>(info_bytes);
    const size_t span_size =
        claimed_size < boot::kMultiboot2MaxInfoBytes ? claimed_size : boot::kMultiboot2MaxInfoBytes;
    auto parsed = boot::parse_multiboot2({info_bytes, span_size});
    if (!parsed) panic("multiboot2: boot information rejected: %s", boot::describe(parsed.error()));
    const boot::BootInfo& info = parsed.value();

    kernel::display::init_early(info);

    const kstd::StringView command_line = assemble_command_line(info.command_line);
    kernel::g_boot = {info, kstd::CommandLine(command_line)};

    klog("loader: %.*s", static_cast<int>(info.bootloader_name.size()), info.bootloader_name.data());
    if (info.has_framebuffer)
        klog("display: %ux%u %s at 0x%lx", info.framebuffer.width, info.framebuffer.height,
             info.framebuffer.type == boot::FramebufferType::EgaText ? "text" : "framebuffer",
             info.framebuffer.address);
    for (size_t i = 0; i < info.module_count; ++i) {
        const boot::Module module = info.module(i);
        klog("module: %08x-%08x %.*s", module.start, module.end, static_cast<int>(module.name.size()),
             module.name.data());
    }
    klog("acpi: RSDP %s", !info.acpi_rsdp_v2.empty() ? "v2 from loader"
                          : !info.acpi_rsdp_v1.empty() ? "v1 from loader" : "not passed by the loader");
    log_memory_map(info);

    const uint64_t usable_mib = info.usable_bytes() >> 20;
    selftest::record_boot_stage("memory_map", info.has_memory_map && usable_mib > 0,
                                "no usable memory in the loader's memory map");
    console::print("boot: firmware=%s mem=%luMiB cmdline=\"%.*s\"\n", info.booted_by_uefi ? "uefi" : "bios", usable_mib,
                   static_cast<int>(command_line.size()), command_line.data());

    kernel::physical_memory::init(info);
    kernel::display::before_paging_switch();
    kernel::init_kernel_address_space(info);
    kernel::user_memory::init();
    kernel::display::init_after_paging(info);
    kernel::physical_memory::print_meminfo();
    kernel::symbols::init(info);
    init_exceptions();
    kernel::interrupts::start_timer();

    const kstd::CommandLine& cmdline = kernel::g_boot.command_line;
    kernel::platform::discover(info, cmdline.value("sable.acpi") == "off");
    if (kstd::list_contains(cmdline.value("sable.dump"), "firmware")) kernel::platform::dump_tables();
    kernel::power::init(cmdline.value("sable.reset"));
    // The TSC's and the LAPIC timer's calibration windows have run through the boot so far (from
    // mark_boot and start_timer): they close here, as late as they can, just before the first
    // timer. Until now log lines took their times from the PIT (clock::log_time_ns).
    const bool calibrated = clock::calibrate();
    selftest::record_boot_stage("tsc_calibrated", calibrated, "PIT channel 2 never counted");
    klog("clock: TSC %lu.%03lu MHz", (clock::tsc_hz() / 1000000), (clock::tsc_hz() / 1000 % 1000));
    kernel::tsc_refine::start();
    // 100 Hz keeps TCG guests responsive; real machines may ask for more (sable.tick_hz=1000).
    unsigned long long tick_hz = cmdline.number("sable.tick_hz", 100);
    if (tick_hz < 10 || tick_hz > 10000) tick_hz = 100;
    kernel::smp_boot::init_boot_cpu();
    char extended_state[96];
    arch::describe_extended_state(extended_state, sizeof extended_state);
    klog("fpu: %s", extended_state);
    char protections[128];
    arch::describe_protections(protections, sizeof protections);
    klog("security: %s, stack canary from %s", protections, kernel::stack_canary_source());
    kernel::tasks::use_lazy_extended_state(cmdline.value("sable.fpu") == "lazy");
    kernel::interrupts::init(static_cast<unsigned>(tick_hz));
    kernel::watchdog::init(cmdline.value("sable.watchdog"), static_cast<unsigned>(tick_hz));
    kernel::tasks::init(static_cast<unsigned>(tick_hz));
    kernel::interrupts::set_tick_hook(on_timer_tick);
    kernel::tlb::init();
    kernel::files::init();
    kernel::process::init(info, static_cast<unsigned>(cmdline.number("sable.max_procs", kernel::process::kDefaultProcessLimit)));
    kernel::smp_boot::start_application_processors(kernel::interrupts::init_application_processor,
                                                   static_cast<uint32_t>(cmdline.number("sable.smp_silent", ~0u)));
    if (cmdline.has("sable.test")) selftest::run(cmdline.value("sable.test"));
    if (cmdline.has("sable.bench")) bench::run(cmdline.value("sable.bench"));

    // Logged before init can run, so the shell's prompt is the last thing on the console.
    klog("boot complete: starting init");
    // init never ends by design; if it does, it gets one more chance (a crash may be a one-off),
    // then the kernel has nothing left to run and powers the machine off rather than idle forever.
    char init_program[SABLE_MAX_NAME] = "init";
    const kstd::StringView chosen_init = cmdline.value("sable.init");
    if (!chosen_init.empty() && chosen_init.size() < sizeof init_program) {
        __builtin_memcpy(init_program, chosen_init.data(), chosen_init.size());
        init_program[chosen_init.size()] = '\0';
    }
    constexpr unsigned kInitRuns = 2;
    for (unsigned run = 1; run <= kInitRuns; ++run) {
        const int64_t init_pid = kernel::process::spawn_init(init_program);
        if (init_pid < 0) {
            klog("boot: cannot start %s: error %ld", init_program, -init_pid);
            continue;
        }
        const int32_t status = kernel::process::kernel_wait(static_cast<int32_t>(init_pid));
        klog("init: %s (pid %ld) ended with status %d%s", init_program, init_pid, status,
             run < kInitRuns ? "; starting it again" : "");
    }
    klog("kernel: init ended twice, nothing left to run: powering off");
    kernel::power::power_off();
}

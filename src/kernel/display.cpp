// Choosing and feeding the screen console (see display.hpp).
#include "kernel/display.hpp"

#include "arch/arch.hpp"
#include "drivers/framebuffer_console.hpp"
#include "drivers/vga_text.hpp"
#include "lib/console.hpp"
#include "mm/kernel_address_space.hpp"
#include "mm/physical_memory.hpp"

namespace kernel::display {
namespace {

constexpr uint64_t kVgaTextBuffer = 0xB8000;

// Set by init_memory_types on the boot CPU: whether mm::kPageWriteCombining really combines.
bool g_write_combining = false;

uint64_t framebuffer_bytes(const boot::Framebuffer& fb) { return uint64_t{fb.pitch} * fb.height; }

drivers::PixelLayout layout_of(const boot::Framebuffer& fb) {
    return {fb.width,
            fb.height,
            fb.pitch,
            fb.bits_per_pixel,
            {fb.red.position, fb.red.mask_size},
            {fb.green.position, fb.green.mask_size},
            {fb.blue.position, fb.blue.mask_size}};
}

uint64_t align_up(uint64_t value, uint64_t alignment) { return (value + alignment - 1) & ~(alignment - 1); }

}  // namespace

void init_early(const boot::BootInfo& info) {
    // The boot CPU's PAT, before anything is mapped write-combining; APs program theirs in ap_main.
    g_write_combining = arch::init_memory_types();
    const boot::Framebuffer& fb = info.framebuffer;
    const bool text_mode = !info.booted_by_uefi && (!info.has_framebuffer || fb.type == boot::FramebufferType::EgaText);
    const char banner[] = "Sable " SABLE_VERSION "\n";  // the screen missed the first line
    if (text_mode) {
        drivers::vga_text::init(info.has_framebuffer ? fb.address : kVgaTextBuffer,
                                info.has_framebuffer ? fb.width : 80, info.has_framebuffer ? fb.height : 25);
        drivers::vga_text::write(banner, sizeof(banner) - 1);
        drivers::vga_text::show_cursor();
        return;
    }
    if (!info.has_framebuffer) {
        klog("fb: the loader passed no framebuffer; no screen console (serial only)");
        return;
    }
    if (fb.type != boot::FramebufferType::Rgb) {
        klog("fb: %ux%ux%u %s framebuffer not supported; no screen console (serial only)", fb.width, fb.height,
             fb.bits_per_pixel, fb.type == boot::FramebufferType::Indexed ? "indexed-colour" : "text");
        return;
    }
    auto started = drivers::framebuffer_console::init(layout_of(fb));
    if (!started) {
        klog("fb: %ux%ux%u pitch=%u at 0x%lx: %s; no screen console (serial only)", fb.width, fb.height,
             fb.bits_per_pixel, fb.pitch, fb.address, drivers::describe(started.error()));
        return;
    }
    console::Hold hold;
    if (fb.address + framebuffer_bytes(fb) <= kBootIdentityLimit)
        drivers::framebuffer_console::set_screen(reinterpret_cast<uint8_t*>(fb.address));
    drivers::framebuffer_console::write(banner, sizeof(banner) - 1);
}

void before_paging_switch() {
    console::Hold hold;
    drivers::framebuffer_console::set_screen(nullptr);
}

void init_after_paging(const boot::BootInfo& info) {
    if (!drivers::framebuffer_console::active()) return;
    const boot::Framebuffer& fb = info.framebuffer;
    // Identity-mapped, as the other device memory the kernel uses (the local APIC).
    const uint64_t base = fb.address & ~(mm::kPageSize - 1);
    const uint64_t end = align_up(fb.address + framebuffer_bytes(fb), mm::kPageSize);
    auto mapped = kernel_address_space().map(kstd::VirtAddr{base}, kstd::PhysAddr{base}, end - base,
                                             mm::kPageWritable | mm::kPageWriteCombining, mm::PageSize::Largest);
    if (!mapped) {
        {
            console::Hold hold;
            drivers::framebuffer_console::stop();
        }
        klog("fb: cannot map the framebuffer at 0x%lx: %s; no screen console (serial only)", fb.address,
             mm::describe(mapped.error()));
        return;
    }
    const uint64_t shadow_pages = align_up(drivers::framebuffer_console::shadow_bytes(), mm::kPageSize) / mm::kPageSize;
    auto shadow = physical_memory::allocate_run(shadow_pages, mm::PageState::Kernel);
    {
        console::Hold hold;
        drivers::framebuffer_console::set_screen(reinterpret_cast<uint8_t*>(fb.address));
        if (shadow)
            drivers::framebuffer_console::set_shadow(
                {phys_to_virt<uint32_t>(shadow.value().address()), shadow_pages * mm::kPageSize / sizeof(uint32_t)});
    }
    klog("fb: %ux%ux%u pitch=%u at 0x%lx (%s), %ux%u characters, %s", fb.width, fb.height, fb.bits_per_pixel, fb.pitch,
         fb.address, g_write_combining ? "write-combining" : "write-through: no PAT",
         drivers::framebuffer_console::columns(), drivers::framebuffer_console::rows(),
         shadow ? "shadow buffer in RAM" : "no memory for a shadow buffer: drawing in place");
}

}  // namespace kernel::display

// What the kernel learned at boot, kept for later subsystems and the self tests.
#pragma once

#include "boot/multiboot2.hpp"
#include "lib/cmdline.hpp"

namespace kernel {

struct BootContext {
    boot::BootInfo info;         // views into GRUB's boot information (identity-mapped memory)
    kstd::CommandLine command_line;  // GRUB's words plus the harness's fw_cfg words
};

extern BootContext g_boot;

}  // namespace kernel

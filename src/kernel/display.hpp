// The screen console: VGA text when a BIOS machine was left in text mode, else the framebuffer
// console on the loader's direct-colour framebuffer (always so under UEFI, which has no text
// mode). Both are console devices beside the serial port (kernel/console.cpp).
#pragma once

#include "boot/multiboot2.hpp"

namespace kernel::display {

// Before the kernel's page tables: starts the screen console. The framebuffer is drawn through
// the boot stub's identity map when it lies in its first 4 GiB; otherwise text is kept in the
// grid until init_after_paging.
void init_early(const boot::BootInfo& info);
// The kernel's tables replace the boot identity map: from here until init_after_paging the
// framebuffer console only records text.
void before_paging_switch();
// Maps the framebuffer write-combining, gives the console its shadow buffer and redraws the
// screen; logs the mode ("fb: ...").
void init_after_paging(const boot::BootInfo& info);

}  // namespace kernel::display

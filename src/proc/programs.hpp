// The programs shipped in the boot image: every GRUB module except the symbol table, named by
// its module command line (iso/boot/grub/grub.cfg: `module2 /boot/user/sh sh`).
#pragma once

#include <stddef.h>
#include <stdint.h>

#include <sable/abi.h>

#include "boot/multiboot2.hpp"
#include "lib/span.hpp"

namespace kernel::programs {

struct Program {
    char name[SABLE_MAX_NAME];
    uint64_t phys;  // first byte of the ELF file
    uint64_t size;
};

void init(const boot::BootInfo& info);
const Program* find(const char* name);
size_t count();
const Program& at(size_t index);
kstd::Span<const uint8_t> image(const Program& program);  // through the direct map

}  // namespace kernel::programs

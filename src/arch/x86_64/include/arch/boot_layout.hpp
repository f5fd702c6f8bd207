// Symbols that entry.S and linker.ld export to C++: where the kernel image and the boot stack
// lie in physical memory (identity-mapped, so these are also their virtual addresses).
#pragma once

#include <stdint.h>

extern "C" {
extern char __kernel_start[];
extern char __kernel_end[];
extern char __text_end[];
extern char __rodata_end[];
extern char __bss_start[];
extern char __bss_end[];
extern uint64_t boot_pml4[512];
extern char boot_stack_guard[];
extern char boot_stack_top[];
extern uint64_t boot_entry_tsc;  // the TSC when the 32-bit stub had checked the CPU
}

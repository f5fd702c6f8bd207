// The x86-64 data side of the arch contract (src/arch/arch.hpp includes this last): what portable
// code may know about the machine without calling into it — the page-table entry encoding, the
// per-CPU block's entry offsets and the kernel image's extent. The other headers in this folder
// are x86-private: only src/arch/x86_64 and the kernel's own x86 checks include them.
#pragma once

#include <arch/boot_layout.hpp>
#include <arch/percpu_offsets.h>
#include <arch/pte.hpp>

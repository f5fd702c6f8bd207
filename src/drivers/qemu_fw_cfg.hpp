// QEMU's fw_cfg device, read through its I/O ports. tools/run-qemu passes the per-run kernel
// command line as the fw_cfg file "opt/sable/cmdline" so one ISO serves every test.
#pragma once

#include <stddef.h>

namespace drivers::qemu_fw_cfg {

// Copies the named file into `buffer` (NUL-terminated, truncated to fit). Returns the number of
// bytes copied, or -1 if there is no fw_cfg device or no such file.
long read_file(const char* name, char* buffer, size_t capacity);

}  // namespace drivers::qemu_fw_cfg

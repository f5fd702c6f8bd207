# Portable sources, listed once. The kernel compiles them freestanding; the host preset compiles
# the same files into the GoogleTest binaries. They include no arch header (see docs/design.md).
set(SABLE_PORTABLE_SOURCES
    src/lib/format.cpp
    src/lib/cmdline.cpp
    src/boot/multiboot2.cpp
    src/mm/page_frame_allocator.cpp
    src/mm/address_space.cpp
    src/mm/heap.cpp
    src/lib/symbols.cpp
    src/sched/scheduler.cpp
    src/smp/firmware_tables.cpp
)

# Kernel-only sources: hardware, the arch layer and the code that wires it together.
set(SABLE_KERNEL_SOURCES
    src/arch/x86_64/entry.S
    src/arch/x86_64/cpu.cpp
    src/arch/x86_64/isr_stubs.S
    src/arch/x86_64/descriptors.cpp
    src/arch/x86_64/trap.cpp
    src/arch/x86_64/interrupt_controllers.cpp
    src/arch/x86_64/task_entry.S
    src/arch/x86_64/task_frame.cpp
    src/arch/x86_64/ap_trampoline.S
    src/drivers/uart16550.cpp
    src/drivers/vga_text.cpp
    src/drivers/qemu_fw_cfg.cpp
    src/kernel/main.cpp
    src/kernel/console.cpp
    src/kernel/clock.cpp
    src/kernel/panic.cpp
    src/kernel/selftest.cpp
    src/kernel/suites.cpp
    src/kernel/runtime.cpp
    src/kernel/physical_memory.cpp
    src/kernel/kernel_address_space.cpp
    src/kernel/kernel_heap.cpp
    src/kernel/bench.cpp
    src/kernel/selftest_mm.cpp
    src/kernel/kernel_stacks.cpp
    src/kernel/symbols.cpp
    src/kernel/interrupts.cpp
    src/kernel/tasks.cpp
    src/kernel/platform.cpp
    src/kernel/smp_boot.cpp
    src/kernel/selftest_sched.cpp
)

# Sources by module, listed once. A module is a folder of src/ holding one mechanism; it may
# include only the folders named in its SABLE_DEPS_<module> (cmake/modules.cmake makes that the
# build's rule). Portable sources (SABLE_PORTABLE_<module>) compile into the freestanding kernel
# and into the host test binaries; kernel sources (SABLE_KERNEL_<module>) only into the kernel.

# The dependency graph, one way only (docs/design.md draws it). `abi` is the user ABI header
# folder (src/user/include/sable), shared with user programs.
set(SABLE_MODULES lib boot drivers mm sched smp proc kernel)
set(SABLE_DEPS_lib "")
set(SABLE_DEPS_boot lib)
set(SABLE_DEPS_drivers lib)
set(SABLE_DEPS_mm lib boot abi)
set(SABLE_DEPS_sched lib boot mm abi)
set(SABLE_DEPS_smp lib boot mm sched abi)
set(SABLE_DEPS_proc lib boot mm sched smp drivers abi)
set(SABLE_DEPS_kernel lib boot mm sched smp drivers proc abi)

set(SABLE_PORTABLE_lib src/lib/format.cpp src/lib/cmdline.cpp src/lib/symbols.cpp src/lib/unwind.cpp src/lib/elf.cpp
    src/lib/lock_debug.cpp src/lib/watchdog_rule.cpp src/lib/rate_window.cpp)
set(SABLE_KERNEL_lib src/lib/clock.cpp)

set(SABLE_PORTABLE_boot src/boot/multiboot2.cpp)

set(SABLE_PORTABLE_drivers
    src/drivers/console_input.cpp
    src/drivers/console_font_data.cpp
    src/drivers/text_grid.cpp
    src/drivers/framebuffer_text.cpp)
set(SABLE_KERNEL_drivers
    src/drivers/uart16550.cpp
    src/drivers/vga_text.cpp
    src/drivers/framebuffer_console.cpp
    src/drivers/qemu_fw_cfg.cpp
    src/drivers/ps2_keyboard.cpp)

set(SABLE_PORTABLE_mm src/mm/page_frame_allocator.cpp src/mm/address_space.cpp src/mm/heap.cpp src/mm/user_copy.cpp)
set(SABLE_KERNEL_mm
    src/mm/physical_memory.cpp
    src/mm/kernel_address_space.cpp
    src/mm/kernel_heap.cpp
    src/mm/kernel_stacks.cpp
    src/mm/user_memory.cpp)

set(SABLE_PORTABLE_sched src/sched/scheduler.cpp src/sched/task_list.cpp)
set(SABLE_KERNEL_sched src/sched/tasks.cpp src/sched/cpu_local.cpp)

set(SABLE_PORTABLE_smp src/smp/firmware_tables.cpp src/smp/acpi_power.cpp)
set(SABLE_KERNEL_smp src/smp/discovery.cpp src/smp/bring_up.cpp src/smp/remote_call.cpp src/smp/tlb.cpp
    src/smp/power.cpp)

set(SABLE_PORTABLE_proc src/proc/files.cpp src/proc/process_table.cpp src/proc/region_list.cpp)
set(SABLE_KERNEL_proc src/proc/programs.cpp src/proc/process.cpp src/proc/threads.cpp src/proc/futex.cpp
    src/proc/memory.cpp src/proc/syscalls.cpp)

set(SABLE_KERNEL_kernel
    src/kernel/main.cpp
    src/kernel/tsc_refine.cpp
    src/kernel/console.cpp
    src/kernel/display.cpp
    src/kernel/panic.cpp
    src/kernel/runtime.cpp
    src/kernel/stack_protector.cpp
    src/kernel/symbols.cpp
    src/kernel/interrupts.cpp
    src/kernel/watchdog.cpp
    src/kernel/selftest/selftest.cpp
    src/kernel/selftest/suites.cpp
    src/kernel/selftest/mm_suite.cpp
    src/kernel/selftest/sched_suite.cpp
    src/kernel/selftest/smp_suite.cpp
    src/kernel/selftest/user_suite.cpp
    src/kernel/selftest/console_suite.cpp
    src/kernel/selftest/watchdog_suite.cpp
    src/kernel/selftest/bench.cpp)

# The x86-64 implementation of the arch contract; it may include lib/ and nothing else.
set(SABLE_ARCH_SOURCES
    src/arch/x86_64/entry.S
    src/arch/x86_64/cpu.cpp
    src/arch/x86_64/memory_types.cpp
    src/arch/x86_64/isr_stubs.S
    src/arch/x86_64/descriptors.cpp
    src/arch/x86_64/trap.cpp
    src/arch/x86_64/interrupt_controllers.cpp
    src/arch/x86_64/task_entry.S
    src/arch/x86_64/task_frame.cpp
    src/arch/x86_64/ap_trampoline.S
    src/arch/x86_64/smp_startup.cpp
    src/arch/x86_64/user_entry.S
    src/arch/x86_64/user_mode.cpp
    src/arch/x86_64/protections.cpp
    src/arch/x86_64/extended_state.cpp
    src/arch/x86_64/reset.cpp)

# Every portable source, for the host's fuzzers and benchmarks.
set(SABLE_PORTABLE_SOURCES "")
foreach(module IN LISTS SABLE_MODULES)
    list(APPEND SABLE_PORTABLE_SOURCES ${SABLE_PORTABLE_${module}})
endforeach()

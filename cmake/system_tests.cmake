# System tests: each boots the real ISO in QEMU (TCG) through tools/run-qemu, which enforces a
# hard timeout, and checks the serial log. The ISO comes from the kernel preset's build.
set(SABLE_ISO "${PROJECT_SOURCE_DIR}/build/kernel/sable.iso" CACHE FILEPATH "ISO the system tests boot")
set(SABLE_KERNEL_ELF "${PROJECT_SOURCE_DIR}/build/kernel/sable.elf" CACHE FILEPATH "Kernel ELF")
set(SABLE_RUN_QEMU ${PROJECT_SOURCE_DIR}/tools/run-qemu)
set(SABLE_SYSTEM_LOG_DIR ${CMAKE_BINARY_DIR}/system-logs)
file(MAKE_DIRECTORY ${SABLE_SYSTEM_LOG_DIR})

# sable_system_test(<name> QEMU_TIMEOUT <s> OUTCOME pass|fail|timeout ARGS <run-qemu args...>
#                   EXPECT <regex...> CHECK <program...>)
# Regexes are Python `re` in MULTILINE mode; avoid ';' (CMake list separator). Each CHECK program
# reads the serial log on stdin after the run and must exit 0.
function(sable_system_test name)
    cmake_parse_arguments(ARG "" "QEMU_TIMEOUT;OUTCOME" "ARGS;EXPECT;CHECK" ${ARGN})
    if(NOT ARG_QEMU_TIMEOUT)
        set(ARG_QEMU_TIMEOUT 60)
    endif()
    if(NOT ARG_OUTCOME)
        set(ARG_OUTCOME pass)
    endif()
    set(command ${SABLE_RUN_QEMU} --iso ${SABLE_ISO} --timeout ${ARG_QEMU_TIMEOUT}
        --log ${SABLE_SYSTEM_LOG_DIR}/${name}.log --expect-exit ${ARG_OUTCOME} ${ARG_ARGS})
    foreach(pattern IN LISTS ARG_EXPECT)
        list(APPEND command --expect ${pattern})
    endforeach()
    foreach(program IN LISTS ARG_CHECK)
        list(APPEND command --check ${program})
    endforeach()
    add_test(NAME system.${name} COMMAND ${command})
    # ctest's own timeout is a backstop above run-qemu's, which kills QEMU first.
    math(EXPR ctest_timeout "${ARG_QEMU_TIMEOUT} + 30")
    set_tests_properties(system.${name} PROPERTIES LABELS system TIMEOUT ${ctest_timeout})
endfunction()

set(BANNER "^Sable [0-9]+[.][0-9]+[.][0-9]+")
set(ALL_PASSED "^TESTS [1-9][0-9]* passed, 0 failed")

# --- Foundation: boot on every firmware/machine pair, banner and memory summary ---------------
sable_system_test(boot.bios_pc
    ARGS --machine pc --mem 256M --cmdline "sable.test=boot,lib"
    EXPECT ${BANNER} "^boot: firmware=bios mem=25[0-9]MiB cmdline=\".*sable[.]test=boot,lib\"" ${ALL_PASSED})
sable_system_test(boot.bios_q35
    ARGS --machine q35 --mem 512M --cmdline "sable.test=boot,lib"
    EXPECT ${BANNER} "^boot: firmware=bios mem=(50[0-9]|51[01])MiB" ${ALL_PASSED})
sable_system_test(boot.uefi_q35
    QEMU_TIMEOUT 120
    ARGS --machine q35 --uefi --mem 512M --cmdline "sable.test=boot,lib"
    EXPECT ${BANNER} "^boot: firmware=uefi mem=[1-9][0-9]+MiB" ${ALL_PASSED})
sable_system_test(boot.uefi_pc
    QEMU_TIMEOUT 120
    ARGS --machine pc --uefi --mem 256M --cmdline "sable.test=boot"
    EXPECT "^boot: firmware=uefi " ${ALL_PASSED})
sable_system_test(boot.mem_64m
    ARGS --machine pc --mem 64M --cmdline "sable.test=boot"
    EXPECT "^boot: firmware=bios mem=6[0-3]MiB" ${ALL_PASSED})
sable_system_test(boot.mem_8g
    ARGS --machine q35 --mem 8G --cmdline "sable.test=boot"
    EXPECT "^boot: firmware=bios mem=(81[0-9][0-9])MiB" ${ALL_PASSED})
sable_system_test(boot.smp_4_sockets
    ARGS --machine pc --smp 4,sockets=4 --mem 128M --cmdline "sable.test=boot"
    EXPECT ${ALL_PASSED})

# The hybrid image boots as a USB stick and as a hard disk (MBR for BIOS, GPT/ESP for UEFI), as
# it must when written to a stick with dd.
sable_system_test(boot.bios_usb_stick
    ARGS --boot-from usb --cmdline "sable.test=boot"
    EXPECT "^boot: firmware=bios " ${ALL_PASSED})
sable_system_test(boot.bios_hard_disk
    ARGS --boot-from disk --machine q35 --cmdline "sable.test=boot"
    EXPECT "^boot: firmware=bios " ${ALL_PASSED})
sable_system_test(boot.uefi_usb_stick
    QEMU_TIMEOUT 120
    ARGS --boot-from usb --uefi --machine q35 --cmdline "sable.test=boot"
    EXPECT "^boot: firmware=uefi " ${ALL_PASSED})

# The per-run command line reaches the kernel (through fw_cfg), quoted words included.
sable_system_test(boot.cmdline_passthrough
    ARGS --cmdline "sable.test=lib sable.note=\"two words\""
    EXPECT "^boot: .*cmdline=\"sable[.]test=lib sable[.]note=\"two words\"\"" ${ALL_PASSED})

# --- Memory: every frame allocated, patterned through both maps, freed; page-table rights ------
sable_system_test(mm.pc_64m
    ARGS --machine pc --mem 64M --cmdline "sable.test=mm"
    EXPECT "^mm: frames free=[0-9]+ kernel=[0-9]+ stack=0 heap=[0-9]+ " ${ALL_PASSED})
sable_system_test(mm.q35_512m
    ARGS --machine q35 --mem 512M --cmdline "sable.test=mm"
    EXPECT ${ALL_PASSED})
sable_system_test(mm.q35_4g
    QEMU_TIMEOUT 120
    ARGS --machine q35 --mem 4G --cmdline "sable.test=mm"
    EXPECT ${ALL_PASSED})
sable_system_test(mm.uefi_1g
    QEMU_TIMEOUT 120
    ARGS --machine q35 --uefi --mem 1G --cmdline "sable.test=mm"
    EXPECT ${ALL_PASSED})
# Benchmarks are not timed tests; this only checks the BENCH lines keep their shape.
sable_system_test(bench.all_print_bench_lines
    QEMU_TIMEOUT 90
    ARGS --smp 2 --cmdline "sable.bench=all"
    EXPECT "^BENCH tsc_hz unit=hz n=1 median=[0-9]+ p99=[0-9]+ min=[0-9]+$"
           "^BENCH page_alloc_free unit=cycles n=[1-9][0-9]* median=[0-9]+ p99=[0-9]+ min=[0-9]+"
           "^BENCH page_alloc_free unit=ns n=[1-9][0-9]* median=[0-9.]+ p99=[0-9.]+ min=[0-9.]+"
           "^BENCH kthread_switch unit=cycles n=[1-9][0-9]* median=[0-9]+ p99=[0-9]+ min=[0-9]+"
           "^BENCH ap_bringup unit=ms n=1 median=[0-9.]+ p99=[0-9.]+ min=[0-9.]+ cpus=2"
           "^BENCH ipi_wake unit=cycles n=100 median=[0-9]+ p99=[0-9]+ min=[0-9]+")

# --- The harness's failure paths must fail the way they should ---------------------------------
sable_system_test(panic.verdict_fail
    OUTCOME fail
    ARGS --cmdline "sable.test=panic"
    EXPECT "^PANIC: self-test panic requested" "^  rip=0x[0-9a-f]+ rsp=" "^  #0 0x" "^TESTS 0 passed, 1 failed")
# --- The clock: a 1 ms PIT calibration at boot, refined a second later against the ACPI PM timer.
# Under --icount the TSC runs at exactly 1 GHz, so the refined rate must be within 10 ppm of it
# (the boot calibration alone is ~100 ppm off there, and percent off on a busy host).
sable_system_test(clock.refined_against_pm_timer_icount
    QEMU_TIMEOUT 300
    ARGS --icount --smp 2 --until-expected
    EXPECT "clock: TSC (99999[0-9]{4}|100000[0-9]{4}) Hz against the ACPI PM timer over 1[0-9][0-9][0-9] ms")
sable_system_test(clock.refined_against_pm_timer_uefi_q35
    QEMU_TIMEOUT 120
    ARGS --uefi --machine q35 --smp 2 --until-expected
    EXPECT "clock: TSC [0-9]+ Hz against the ACPI PM timer over [0-9]+ ms")
# --- Interrupts: LAPIC tick against the TSC, IO APIC-routed COM1 input ---------------------------
sable_system_test(irq.pc
    ARGS --machine pc --cmdline "sable.test=irq"
    EXPECT "^\\[ *[0-9.]+\\] interrupts: PIC masked, LAPIC id 0 [(]x?APIC[)] timer [0-9]+ Hz -> tick 100 Hz" ${ALL_PASSED})
sable_system_test(irq.q35_uefi_tick_250
    QEMU_TIMEOUT 120
    ARGS --machine q35 --uefi --cmdline "sable.test=irq sable.tick_hz=250"
    EXPECT "tick 250 Hz" ${ALL_PASSED})
sable_system_test(irq.serial_input
    ARGS --cmdline "sable.test=serial_input" --serial-input "sable-input-test\\n" --input-after "waiting for a line"
    EXPECT "^TEST serial_input.line_received_by_interrupt PASS" ${ALL_PASSED})
# --- Tasks and the scheduler: 100 spinning tasks share the CPU fairly, sleeps, wait queues --------
sable_system_test(sched.pc
    QEMU_TIMEOUT 90
    ARGS --machine pc --cmdline "sable.test=sched"
    EXPECT "^\\[ *[0-9.]+\\] tasks: task list of 16-byte entries" ${ALL_PASSED})
sable_system_test(sched.q35_uefi_tick_250
    QEMU_TIMEOUT 120
    ARGS --machine q35 --uefi --cmdline "sable.test=sched sable.tick_hz=250"
    EXPECT ${ALL_PASSED})

# --- SMP: every CPU found (MADT preferred, MP table as fallback) and started with INIT-SIPI-SIPI ---
foreach(config IN ITEMS "pc;1;1" "pc;2;2" "pc;4,sockets=4;4" "q35;4;4" "q35;8;8" "pc;8,sockets=8;8")
    list(GET config 0 machine)
    list(GET config 1 smp)
    list(GET config 2 cpus)
    string(REPLACE "," "_" smp_name "${smp}")
    string(REPLACE "=" "" smp_name "${smp_name}")
    sable_system_test(smp.${machine}_bios_smp${smp_name}
        ARGS --machine ${machine} --smp ${smp} --cmdline "sable.test=smp"
        EXPECT "^smp: ${cpus}/${cpus} CPUs online via madt in [0-9]+ ms" ${ALL_PASSED})
endforeach()
# The MP-table fallback, as on firmware without ACPI: SeaBIOS lists one CPU per socket there.
sable_system_test(smp.mp_table_fallback_sockets
    ARGS --machine pc --smp 4,sockets=4 --cmdline "sable.test=smp sable.acpi=off"
    EXPECT "^smp: 4/4 CPUs online via mp in [0-9]+ ms" "cpu 0: APIC id 0 [(]BSP[)]" ${ALL_PASSED})
# An AP that never answers INIT-SIPI-SIPI is reported and left out; the others run on.
sable_system_test(smp.unanswering_cpu_left_out
    ARGS --machine q35 --smp 4 --cmdline "sable.test=sched sable.smp_silent=2"
    EXPECT "CPU 2 [(]APIC id 2[)] did not answer INIT-SIPI-SIPI" "^smp: 3/4 CPUs online via madt" ${ALL_PASSED})
sable_system_test(smp.q35_uefi_smp4
    QEMU_TIMEOUT 120
    ARGS --machine q35 --uefi --smp 4 --cmdline "sable.test=smp"
    EXPECT "^smp: 4/4 CPUs online via madt in [0-9]+ ms" ${ALL_PASSED})

# Console lines stay whole with every CPU printing at once, from kernel tasks and user processes:
# the kernel checks the screen (VGA text or framebuffer), tools/check-console-lines the serial
# log (none missing).
foreach(config IN ITEMS "pc;1" "q35;4" "q35;8")
    list(GET config 0 machine)
    list(GET config 1 smp)
    sable_system_test(console.lines_whole_${machine}_smp${smp}
        QEMU_TIMEOUT 120
        ARGS --machine ${machine} --smp ${smp} --cmdline "sable.test=console"
        EXPECT "^TEST console[.]vga_rows_whole PASS" ${ALL_PASSED}
        CHECK ${PROJECT_SOURCE_DIR}/tools/check-console-lines)
endforeach()
sable_system_test(console.lines_whole_uefi_smp2
    QEMU_TIMEOUT 120
    ARGS --machine q35 --uefi --smp 2 --cmdline "sable.test=console"
    EXPECT "^TEST console[.]fb_rows_whole PASS" "^TEST console[.]vga_rows_whole SKIP" ${ALL_PASSED}
    CHECK ${PROJECT_SOURCE_DIR}/tools/check-console-lines)

# Every suite that belongs in "all", on two machine types.
sable_system_test(all.pc_smp2
    QEMU_TIMEOUT 90
    ARGS --machine pc --smp 2 --mem 512M --cmdline "sable.test=all"
    EXPECT ${ALL_PASSED}
    CHECK ${PROJECT_SOURCE_DIR}/tools/check-watchdog-reports)
sable_system_test(all.q35_1g
    QEMU_TIMEOUT 300
    ARGS --machine q35 --mem 1G --cmdline "sable.test=all"
    EXPECT ${ALL_PASSED})

# Deliberate kernel faults: a symbolized dump (exception, RIP with its symbol, backtrace through
# the suite runner into kernel_main) and a failure verdict. A stack overflow must reach the #DF
# handler on its IST stack instead of triple-faulting.
set(SYMBOLIZED_BACKTRACE "^  #1 0x[0-9a-f]+ selftest::run" "^  #2 0x[0-9a-f]+ kernel_main[+]0x")
sable_system_test(fault.divide_error
    OUTCOME fail ARGS --cmdline "sable.test=fault_de"
    EXPECT "^PANIC: #DE divide error in kernel mode at 0x[0-9a-f]+ .*fault_divide_suite" "^  rax=0x" ${SYMBOLIZED_BACKTRACE})
sable_system_test(fault.invalid_opcode
    OUTCOME fail ARGS --cmdline "sable.test=fault_ud"
    EXPECT "^PANIC: #UD invalid opcode in kernel mode at 0x[0-9a-f]+ .*fault_invalid_opcode_suite" ${SYMBOLIZED_BACKTRACE})
sable_system_test(fault.page_fault
    OUTCOME fail ARGS --cmdline "sable.test=fault_pf"
    EXPECT "^PANIC: #PF page fault in kernel mode at 0x[0-9a-f]+ .*fault_page_suite"
           "error=0x2 cr2=0xffff800000000000 [(]page not present, write[)]" ${SYMBOLIZED_BACKTRACE})
sable_system_test(fault.kernel_stack_overflow
    OUTCOME fail ARGS --cmdline "sable.test=fault_stack_overflow"
    EXPECT "^PANIC: #DF double fault in kernel mode at 0x[0-9a-f]+ .*recurse_forever"
           "on the IST stack: a kernel stack overflow ends here" "^  #1 0x[0-9a-f]+ .*recurse_forever")
# The hardening of docs/security.md, each broken on purpose: a NULL read (page 0 is never
# mapped), a kernel read of a user page outside a user copy (SMAP), a smashed stack canary.
sable_system_test(fault.null_dereference
    OUTCOME fail ARGS --cmdline "sable.test=fault_null"
    EXPECT "^PANIC: #PF page fault in kernel mode at 0x[0-9a-f]+ .*fault_null_suite"
           "error=0x0 cr2=0x0000000000000000 [(]page not present, read, NULL pointer: page 0 is never mapped[)]"
           ${SYMBOLIZED_BACKTRACE})
sable_system_test(fault.smap_violation
    OUTCOME fail ARGS --cmdline "sable.test=smap_violation"
    EXPECT "security: umip on, smep on, smap on,"
           "^PANIC: kernel touched user memory at 0x0000000008000000 outside a user copy [(]SMAP[)] at 0x[0-9a-f]+ .*smap_violation_suite"
           "error=0x1 cr2=0x0000000008000000 [(]protection violation, read[)]" ${SYMBOLIZED_BACKTRACE})
sable_system_test(fault.smep_violation
    OUTCOME fail ARGS --cmdline "sable.test=smep_violation"
    EXPECT "security: umip on, smep on, smap on,"
           "^PANIC: kernel executed user memory at 0x0000000008000000 outside a user copy [(]SMEP[)] at 0x0000000008000000"
           "error=0x11 cr2=0x0000000008000000 [(]protection violation, instruction fetch[)]"
           "^  #1 0x[0-9a-f]+ .*smep_violation_suite" "^  #2 0x[0-9a-f]+ selftest::run")
sable_system_test(fault.stack_smash
    OUTCOME fail ARGS --cmdline "sable.test=stack_smash"
    EXPECT "stack canary from rdrand$"
           "^PANIC: stack smashed in [(]anonymous namespace[)]::smash_own_canary[(][)] [(]its stack canary was overwritten[)]"
           "^  #1 0x[0-9a-f]+ __stack_chk_fail")
sable_system_test(panic.backtrace_symbolized
    OUTCOME fail ARGS --cmdline "sable.test=panic"
    EXPECT "^  #0 0x[0-9a-f]+ panic[(]" "^  #1 0x[0-9a-f]+ .*panic_suite" "^  #2 0x[0-9a-f]+ selftest::run")

# The lockup detector (docs/watchdog.md): a CPU made stuck with interrupts off, then in the kernel
# with interrupts on but never scheduling. Warn mode reports both and goes on (the suite checks
# each report's CPU, stall and frames; the check that no other report appeared); the default
# panic mode ends the run at the first, with the symbolized dump.
sable_system_test(watchdog.warn_reports_both
    QEMU_TIMEOUT 90
    ARGS --machine pc --smp 2 --cmdline "sable.test=watchdog sable.watchdog=warn,3"
    EXPECT "^watchdog: CPU 1 stuck: interrupts off for [0-9]+[.][0-9] s, task wd_irqs_off at 0x[0-9a-f]+ .*spin_until_reported"
           "^  #1 0x[0-9a-f]+ .*spin_with_interrupts_off"
           "^watchdog: CPU 1 stuck: in the kernel without scheduling for [0-9]+[.][0-9] s, task wd_no_schedule at 0x"
           "^  #1 0x[0-9a-f]+ .*spin_in_kernel_without_scheduling"
           "^TEST watchdog[.]no_other_cpu_reported PASS" ${ALL_PASSED}
    CHECK "${PROJECT_SOURCE_DIR}/tools/check-watchdog-reports --expect 1:irqs-off --expect 1:no-schedule")
sable_system_test(watchdog.panic_dump
    QEMU_TIMEOUT 90 OUTCOME fail
    ARGS --machine q35 --smp 4 --cmdline "sable.test=watchdog sable.watchdog=3"
    EXPECT "^PANIC: watchdog: CPU 3 stuck: interrupts off for [0-9]+[.][0-9] s, task wd_irqs_off at 0x[0-9a-f]+ .*spin_until_reported"
           "^  rip=0x[0-9a-f]+ cs=0x8 rflags=0x[0-9a-f]+ ss="
           "^  #1 0x[0-9a-f]+ .*spin_with_interrupts_off"
           "^TESTS 0 passed, 1 failed"
    CHECK "${PROJECT_SOURCE_DIR}/tools/check-watchdog-reports --expect 3:irqs-off")

# The run always lasts the whole timeout (the guest hangs on purpose): long enough that a loaded
# host still boots to the kernel within it (15 s did not, at a load of 13).
sable_system_test(harness.hang_times_out
    QEMU_TIMEOUT 45 OUTCOME timeout
    ARGS --cmdline "sable.test=hang"
    EXPECT "^boot: firmware=bios")
sable_system_test(harness.unknown_suite_fails
    OUTCOME fail
    ARGS --cmdline "sable.test=nonesuch"
    EXPECT "^TEST selftest[.]nonesuch FAIL no such suite")
# A 32-bit CPU: the stub must say why it stops instead of triple-faulting.
sable_system_test(boot.rejects_cpu_without_long_mode
    QEMU_TIMEOUT 45 OUTCOME timeout
    ARGS --accel tcg --cpu qemu32 --cmdline "sable.test=boot"
    EXPECT "no 64-bit long mode")

# --- The ELF itself -----------------------------------------------------------------------------
find_program(SABLE_GRUB_FILE NAMES grub-file grub2-file)
if(SABLE_GRUB_FILE)
    add_test(NAME system.kernel.is_multiboot2 COMMAND ${SABLE_GRUB_FILE} --is-x86-multiboot2 ${SABLE_KERNEL_ELF})
    set_tests_properties(system.kernel.is_multiboot2 PROPERTIES LABELS system TIMEOUT 30)
endif()

# --- User mode: processes, system calls, faults, the shell -------------------------------------
# sable.test=user runs the usertest program case by case (src/kernel/selftest/user_suite.cpp); every
# deliberate fault must leave the one-line kill report and the kernel serving.
set(USER_KILL_LINES
    # Stack probes (-fstack-clash-protection) touch every page, so a 64 KiB frame past the
    # region faults in the guard page 0x3EBFF000 itself instead of jumping over it.
    "^\\[pid [0-9]+ usertest\\] killed: stack overflow at 0x[0-9a-f]+ [(]address 0x000000003ebff[0-9a-f][0-9a-f][0-9a-f],"
    "^\\[pid [0-9]+ usertest\\] killed: divide error at 0x[0-9a-f]+"
    "^\\[pid [0-9]+ usertest\\] killed: invalid opcode at 0x[0-9a-f]+"
    "^\\[pid [0-9]+ usertest\\] killed: general protection fault at 0x[0-9a-f]+"
    "^\\[pid [0-9]+ usertest\\] killed: page fault at 0x[0-9a-f]+"
    # usertest syscall_at_top: the kernel ends the child before an iretq to 2^47, which a real
    # CPU would fault on in ring 0 (QEMU's fetch fault in ring 3 would say "vector 13").
    "^\\[pid [0-9]+ usertest\\] killed: general protection fault at 0x0000800000000000 [(]returning to a non-canonical address[)]"
    # A jump into the guard page is a fetch, not a stack overflow (usertest fetch_guard).
    "^\\[pid [0-9]+ usertest\\] killed: page fault at 0x000000003ebff100 [(]address 0x000000003ebff100, fetch, not present[)]"
    "^\\[pid [0-9]+ usertest\\] killed: x87 floating-point error at 0x[0-9a-f]+ [(]divide by zero, vector 16[)]"
    # A thread's fault ends its process; the line names the thread (thread stack slot 0 ends at
    # 0x10002000000, so its guard zone is just below 0x10000c00000).
    "^\\[pid [0-9]+ usertest\\] killed: page fault at 0x[0-9a-f]+ in thread [0-9]+ [(]address 0x0000000000000010, write,"
    "^\\[pid [0-9]+ usertest\\] killed: stack overflow at 0x[0-9a-f]+ in thread [0-9]+ [(]address 0x0000010000bff[0-9a-f][0-9a-f][0-9a-f],")
sable_system_test(user.pc_smp1
    QEMU_TIMEOUT 240
    ARGS --machine pc --smp 1 --cmdline "sable.test=user"
    EXPECT "^TEST user.no_leak PASS" "^TEST user.umip PASS" ${USER_KILL_LINES} ${ALL_PASSED})
sable_system_test(user.q35_smp4
    QEMU_TIMEOUT 240
    ARGS --machine q35 --smp 4 --mem 1G --cmdline "sable.test=user"
    EXPECT "^TEST user.no_leak PASS" ${USER_KILL_LINES} ${ALL_PASSED})
# Eight CPUs: threads, futexes, shootdowns and copy-on-write with the most CPUs at once.
sable_system_test(user.q35_smp8
    QEMU_TIMEOUT 300
    ARGS --machine q35 --smp 8 --mem 2G --cmdline "sable.test=user sable.watchdog=warn"
    EXPECT "^TEST user.no_leak PASS" "usertest: threads: 64 threads joined in random order, ran on [2-8] of 8 CPUs"
           ${USER_KILL_LINES} ${ALL_PASSED}
    CHECK ${PROJECT_SOURCE_DIR}/tools/check-watchdog-reports)
# x87/SSE/AVX per process (docs/fpu.md): the fpu_* cases again with the other two ways of keeping
# the state — lazy switching through #NM, and FXSAVE on a CPU without XSAVE (or AVX).
sable_system_test(user.fpu_lazy_smp4
    QEMU_TIMEOUT 240
    ARGS --smp 4 --cmdline "sable.test=user sable.fpu=lazy"
    EXPECT "fpu: xsave [(]xsaveopt[)] area=[0-9]+ bytes components=x87,sse,avx$"
           "^TEST user.fpu_switch PASS" "^TEST user.fpu_migrate PASS" "^TEST user.fpu_clean PASS"
           "^TEST user.fpu_fork PASS" ${ALL_PASSED})
sable_system_test(user.fpu_fxsave_nehalem_smp4
    QEMU_TIMEOUT 240
    ARGS --smp 4 --cpu Nehalem --cmdline "sable.test=user"
    EXPECT "fpu: fxsave area=512 bytes components=x87,sse$"
           "usertest: fpu_switch: 2 processes, [0-9]+ steps, xmm [(]no AVX[)] and x87, one CPU"
           "^TEST user.fpu_migrate PASS" "^TEST user.fpu_clean PASS" "^TEST user.fpu_fork PASS" ${ALL_PASSED})
sable_system_test(user.uefi_smp2_64m
    QEMU_TIMEOUT 240
    ARGS --machine q35 --uefi --smp 2 --mem 64M --cmdline "sable.test=user"
    EXPECT "^TEST user.no_leak PASS" ${ALL_PASSED})
# A normal boot ends at the shell; lines typed over the serial port run a pipeline and builtins.
sable_system_test(shell.pipeline_over_serial
    QEMU_TIMEOUT 90
    ARGS --smp 2 --until-expected --serial-input "echo hello sable world | wc\\n"
    EXPECT "^1 3 18$")
sable_system_test(shell.builtins_and_background
    QEMU_TIMEOUT 90
    ARGS --smp 2 --until-expected --serial-input "hello | cat\\nspin &\\nps\\nmem\\ncpus\\nhelp\\n"
    EXPECT "^hello from pid [0-9]+ on cpu [0-9]+" "^ *[0-9]+ +[0-9]+ +running +[0-9]+.* spin"
           "free=[0-9]+ kernel=[0-9]+" "^ *1 +" "usertest")
# --- The screen and the keyboard ------------------------------------------------------------------
# UEFI has no text mode: the console is drawn on GRUB's framebuffer. Once the prompt is on the
# serial port, run-qemu pauses the guest and dumps the screen; test/drivers/screen_check replays
# the serial log through the kernel's own console code and font and wants every pixel the same.
set(SCREEN_CHECK "${CMAKE_BINARY_DIR}/screen_check --screen")
set(FB_MODE_LINE "^\\[ *[0-9.]+\\] fb: [0-9]+x[0-9]+x32 pitch=[0-9]+ at 0x[0-9a-f]+ [(]write-combining[)]")
sable_system_test(fbcon.uefi_q35_screen_shows_boot_log
    QEMU_TIMEOUT 120
    ARGS --machine q35 --uefi --smp 2 --until-expected
         --screendump ${SABLE_SYSTEM_LOG_DIR}/fbcon.uefi_q35_screen_shows_boot_log.ppm
    EXPECT ${FB_MODE_LINE} "^sable[$] "
    CHECK "${SCREEN_CHECK} ${SABLE_SYSTEM_LOG_DIR}/fbcon.uefi_q35_screen_shows_boot_log.ppm")
# BIOS machines boot VGA text by default; the ISO's second GRUB entry (chosen here through the
# SMBIOS family, as a user picks it at the menu) asks for a 32-bpp VESA mode instead, and the
# same framebuffer console must draw the same screen there.
sable_system_test(fbcon.bios_pc_framebuffer_entry
    QEMU_TIMEOUT 90
    ARGS --machine pc --grub-entry framebuffer --smp 2 --until-expected
         --screendump ${SABLE_SYSTEM_LOG_DIR}/fbcon.bios_pc_framebuffer_entry.ppm
    EXPECT ${FB_MODE_LINE} "^boot: firmware=bios " "^sable[$] "
    CHECK "${SCREEN_CHECK} ${SABLE_SYSTEM_LOG_DIR}/fbcon.bios_pc_framebuffer_entry.ppm")
# Keys typed on the PS/2 keyboard (QEMU send-key) once the prompt is up: a typo erased with
# Backspace, a command that runs, and Ctrl-D, which ends the shell (init starts a new one). On
# the framebuffer the echo and the erased glyph must be on the screen as well.
set(TYPED_KEYS "hellx\\bo\\necho a b | wc\\n<ctrl-d>")
set(TYPED_OUTPUT "^hello from pid [0-9]+ on cpu [0-9]+" "^1 2 4$"
    "init: sh [(]pid [0-9]+[)] ended: exit 0. starting a new one\\n(.*\\n)*sable[$] ")
sable_system_test(keyboard.bios_vga_runs_commands
    QEMU_TIMEOUT 90
    ARGS --machine pc --until-expected --keys ${TYPED_KEYS}
    EXPECT ${TYPED_OUTPUT})
sable_system_test(keyboard.uefi_framebuffer_runs_commands
    QEMU_TIMEOUT 120
    ARGS --machine q35 --uefi --until-expected --keys ${TYPED_KEYS}
         --screendump ${SABLE_SYSTEM_LOG_DIR}/keyboard.uefi_framebuffer_runs_commands.ppm
    EXPECT ${TYPED_OUTPUT}
    CHECK "${SCREEN_CHECK} ${SABLE_SYSTEM_LOG_DIR}/keyboard.uefi_framebuffer_runs_commands.ppm")

sable_system_test(bench.user_print_bench_lines
    QEMU_TIMEOUT 240
    ARGS --smp 2 --cmdline "sable.bench=user"
    # The benchmarks read the TSC in ring 3: CR4.TSD stays clear on purpose (docs/security.md).
    EXPECT "security: .*rdtsc open to ring 3"
           "^BENCH syscall_null unit=cycles n=[1-9][0-9]* median=[0-9]+ p99=[0-9]+ min=[0-9]+"
           "^BENCH yield_switch unit=cycles n=[1-9][0-9]* median=[0-9]+"
           "^BENCH yield_switch_sse unit=cycles n=[1-9][0-9]* median=[0-9]+"
           "^BENCH pipe_pingpong unit=cycles n=[1-9][0-9]* median=[0-9]+"
           "^BENCH page_fault_grow unit=cycles n=[1-9][0-9]* median=[0-9]+"
           "^BENCH fork_exit_wait unit=cycles n=[1-9][0-9]* median=[0-9]+"
           "^BENCH spawn_exit_wait unit=cycles n=[1-9][0-9]* median=[0-9]+"
           "^BENCH thread_create_join unit=cycles n=[1-9][0-9]* median=[0-9]+"
           "^BENCH futex_pingpong unit=cycles n=[1-9][0-9]* median=[0-9]+"
           "^BENCH mmap_touch_unmap unit=cycles n=[1-9][0-9]* median=[0-9]+"
           "^BENCH cow_fault unit=cycles n=[1-9][0-9]* median=[0-9]+")
# The performance gate: every single-CPU path length under --icount (exact and repeatable) against
# test/bench/baseline.txt; more than 2 % over fails and prints the old and new figure.
sable_system_test(bench.icount_gate
    QEMU_TIMEOUT 600
    ARGS --smp 2 --icount --cmdline "sable.bench=all"
    CHECK "${PROJECT_SOURCE_DIR}/tools/bench-gate --baseline ${PROJECT_SOURCE_DIR}/test/bench/baseline.txt --ungated boot_to_init_cycles")
# The boot on one CPU, gated on its own: at --smp 2 most of boot_to_init is QEMU's --icount round
# robin starting the AP, so the figure above would hide a change to the boot CPU's own path.
sable_system_test(bench.icount_gate_boot_1cpu
    QEMU_TIMEOUT 300
    ARGS --smp 1 --icount --cmdline "sable.bench=boot"
    CHECK "${PROJECT_SOURCE_DIR}/tools/bench-gate --baseline ${PROJECT_SOURCE_DIR}/test/bench/baseline_boot_1cpu.txt")
# The same boot with 8 GiB: what the boot does per frame of RAM (the allocator's state bytes, the
# direct map's page entries) shows here and not at the default 256 MiB, where the TSC's PIT
# window holds the figure at its 1 ms floor.
sable_system_test(bench.icount_gate_boot_8g
    QEMU_TIMEOUT 300
    ARGS --smp 1 --mem 8G --icount --cmdline "sable.bench=boot"
    CHECK "${PROJECT_SOURCE_DIR}/tools/bench-gate --baseline ${PROJECT_SOURCE_DIR}/test/bench/baseline_boot_8g.txt")
# With the process limit raised, a fork bomb in 32 MiB runs out of memory first (copy-on-write
# children are small: in 64 MiB the 1024-process table fills first): fork must fail with ENOMEM
# while the bomb itself keeps running, and the leak check after it proves the failed forks left
# nothing behind.
sable_system_test(user.fork_until_out_of_memory
    QEMU_TIMEOUT 240
    ARGS --smp 2 --mem 32M --cmdline "sable.test=user sable.max_procs=1024"
    EXPECT "forkbomb: [0-9]+ children, then fork failed: out of memory" "^TEST user.no_leak PASS" ${ALL_PASSED})

# --- The system-call fuzzer and the stress soak (docs/testing.md) -------------------------------
# fuzz: 100,000 calls from forked workers with a per-call oracle; every worker reaped, every
# frame back (the census line). A worker the kernel kills is expected only where the fuzzer
# asked for it (its own kill, a thread at faulting code, all of memory); any other kill, a
# result the oracle refuses, or a hang (stuck=) fails the run with the worker's seed to replay.
set(FUZZ_PASSED
    "^fuzz: seed=1 calls=(1[0-9]{5}|[2-9][0-9]{5}) workers=[0-9]+ killed=[0-9]+ expected_kills=[0-9]+ stuck=0 bugs=0 "
    "^fuzz: census processes ([0-9]+)->\\1 .*: conserved$"
    "^fuzz: PASS$")
sable_system_test(user.fuzz_smp1
    QEMU_TIMEOUT 240
    ARGS --smp 1 --until-expected --serial-input "fuzz seed=1 calls=100000\\n"
    EXPECT ${FUZZ_PASSED})
sable_system_test(user.fuzz_smp4
    QEMU_TIMEOUT 300
    ARGS --smp 4 --until-expected --serial-input "fuzz seed=1 calls=100000\\n"
    EXPECT ${FUZZ_PASSED})
# stress: eight actors forking, piping checked data, spawning, killing, growing the break and
# their stacks, moving between CPUs and running threads for 60 s of the kernel's clock; every
# step of the mix ran, no actor stalled or failed, every process reaped, every frame back.
sable_system_test(user.stress_smp4
    QEMU_TIMEOUT 300
    ARGS --smp 4 --until-expected --serial-input "stress seconds=60 actors=8\\n"
    EXPECT "^stress: seconds=[0-9]+ actors=8 rounds=[1-9][0-9]* .* failed=0 stalls=0$"
           "^stress: census processes ([0-9]+)->\\1 .*: conserved$"
           "^stress: PASS$")

# --- Reset and power-off (docs/power.md) -----------------------------------------------------------
# `poweroff` and `reboot` typed into the shell on every firmware/machine pair. QEMU's SHUTDOWN
# event tells a power-off from a reset (run-qemu --expect-exit); the last line of the log must be
# the step that worked, so a step that did nothing (and let the next one act) fails the test.
# Two CPUs, one of them busy with `spin`: the other must be stopped first.
foreach(config IN ITEMS "bios_pc;pc;0" "bios_q35;q35;0" "uefi_pc;pc;1" "uefi_q35;q35;1")
    list(GET config 0 name)
    list(GET config 1 machine)
    list(GET config 2 uefi)
    set(firmware_args --machine ${machine} --smp 2)
    if(uefi)
        list(APPEND firmware_args --uefi)
    endif()
    sable_system_test(power.poweroff_${name}
        QEMU_TIMEOUT 120 OUTCOME poweroff
        ARGS ${firmware_args} --serial-input "spin &\\npoweroff\\n"
        EXPECT "power: [\\\\]_S5 in the DSDT: SLP_TYPa=0 SLP_TYPb=0" "power: 1 other CPU halted"
               "poweroff: entering S5: 0x2001 -> PM1a_CNT I/O 0x[0-9a-f]+\\n\\Z")
    # q35's FADT (revision 3) has the reset register; pc's (revision 1) does not, so port 0xCF9 resets.
    if(machine STREQUAL "q35")
        set(reset_step "the ACPI reset register [(]I/O 0xcf9 <- 0xf[)]")
    else()
        set(reset_step "port 0xcf9 [(]0x02 then 0x06[)]")
    endif()
    sable_system_test(power.reboot_${name}
        QEMU_TIMEOUT 120 OUTCOME reset
        ARGS ${firmware_args} --serial-input "spin &\\nreboot\\n"
        EXPECT "power: 1 other CPU halted" "reset: trying ${reset_step}\\n\\Z")
endforeach()
# Each later step of the reset sequence alone (sable.reset= starts the sequence there).
foreach(config IN ITEMS "cf9;port 0xcf9 [(]0x02 then 0x06[)]" "keyboard;keyboard controller [(]0x64 <- 0xfe[)]"
                        "triple-fault;triple fault [(]empty IDT, int3[)]")
    list(GET config 0 method)
    list(GET config 1 step)
    sable_system_test(power.reset_via_${method}
        OUTCOME reset
        ARGS --machine q35 --cmdline "sable.reset=${method}" --serial-input "reboot\\n"
        EXPECT "reset: trying ${step}\\n\\Z")
endforeach()
# A kernel with nothing left to run powers off: init (here `hello`, which exits at once) is
# started twice, then the machine goes off.
sable_system_test(power.init_ends_twice_powers_off
    OUTCOME poweroff
    ARGS --cmdline "sable.init=hello"
    EXPECT "init: hello [(]pid [0-9]+[)] ended with status 0. starting it again"
           "kernel: init ended twice, nothing left to run: powering off"
           "poweroff: entering S5: ")
# Without ACPI (sable.acpi=off, as on firmware without it) power-off says so and halts.
sable_system_test(power.poweroff_without_acpi_says_so
    ARGS --cmdline "sable.acpi=off" --until-expected --serial-input "poweroff\\n"
    EXPECT "poweroff: cannot power off [(]no ACPI[)]: halted with interrupts off")

# --- The debug build's lock checker (preset kernel-lockdebug, src/lib/lock_debug.hpp) ------------
# Every self test on four CPUs with every spinlock checking its rules: a breach would panic and
# end the run without the pass verdict.
# Then one deliberate breach per rule, each of which the checker must stop with a panic naming it.
set(SABLE_LOCKDEBUG_ISO "${PROJECT_SOURCE_DIR}/build/kernel-lockdebug/sable.iso" CACHE FILEPATH
    "ISO of the kernel with the lock checker")
sable_system_test(lockdebug.all_smp4
    QEMU_TIMEOUT 400
    ARGS --iso ${SABLE_LOCKDEBUG_ISO} --smp 4 --cmdline "sable.test=all"
    EXPECT ${ALL_PASSED})
set(LOCK_CHECK_PANIC "^PANIC: lock check: this CPU")
sable_system_test(lockdebug.order_breach_stopped
    OUTCOME fail ARGS --iso ${SABLE_LOCKDEBUG_ISO} --smp 2 --cmdline "sable.test=lock_order"
    EXPECT "${LOCK_CHECK_PANIC} takes locks out of order: process table lock 0x[0-9a-f]+ [(]level 10[)] while holding physical memory lock"
           "^  #[0-9] 0x[0-9a-f]+ .*lock_order_suite")
sable_system_test(lockdebug.recursion_stopped
    OUTCOME fail ARGS --iso ${SABLE_LOCKDEBUG_ISO} --smp 2 --cmdline "sable.test=lock_recursion"
    EXPECT "${LOCK_CHECK_PANIC} takes a lock it already holds" "^  #[0-9] 0x[0-9a-f]+ .*lock_recursion_suite")
sable_system_test(lockdebug.interrupts_on_stopped
    OUTCOME fail ARGS --iso ${SABLE_LOCKDEBUG_ISO} --smp 2 --cmdline "sable.test=lock_interrupts"
    EXPECT "${LOCK_CHECK_PANIC} has interrupts on while holding an IrqSpinLock" "^  #[0-9] 0x[0-9a-f]+ .*lock_interrupts_suite")
# The normal kernel has no checker: the same suites report SKIP there instead of hanging (beside
# the lib suite, since a run in which nothing but skips happened is a failure of its own).
sable_system_test(lockdebug.normal_build_skips
    ARGS --cmdline "sable.test=lib,lock_order,lock_recursion,lock_interrupts"
    EXPECT "^TEST lock_order.order_breach_stopped SKIP" "^TEST lock_recursion.recursion_stopped SKIP"
           "^TEST lock_interrupts.interrupts_on_stopped SKIP" ${ALL_PASSED})

# --- Debugging: gdb on QEMU's stub, record and replay (docs/debugging.md) ---------------------------
# tools/debug without a terminal: gdb stops at kernel_main, then at init's first system call, and
# the helpers of tools/gdb/sable.py must name the real tasks, CPUs and process.
add_test(NAME system.debug.gdb_helpers
    COMMAND ${PROJECT_SOURCE_DIR}/test/debug/check_gdb_session --cpus 2 --
            ${PROJECT_SOURCE_DIR}/tools/debug --elf ${SABLE_KERNEL_ELF} --iso ${SABLE_ISO} --smp 2
            --serial-log ${SABLE_SYSTEM_LOG_DIR}/debug.gdb_helpers.log --timeout 120
            --batch ${PROJECT_SOURCE_DIR}/test/debug/gdb_session.gdb)
set_tests_properties(system.debug.gdb_helpers PROPERTIES LABELS system TIMEOUT 150)

# Reverse stepping on a replay of a recorded 1-CPU boot: three stepi forward, three reverse-stepi
# back to the same PC.
add_test(NAME system.debug.reverse_stepping
    COMMAND ${PROJECT_SOURCE_DIR}/test/debug/check_reverse_stepping
            ${SABLE_SYSTEM_LOG_DIR}/debug.reverse_stepping.rr --iso ${SABLE_ISO})
# Up to two gdb sessions of up to 120 s each: QEMU 7.2 sometimes hangs stepping back.
set_tests_properties(system.debug.reverse_stepping PROPERTIES LABELS system TIMEOUT 420 SKIP_RETURN_CODE 77)

# A boot with the self tests recorded and replayed: the replay must send the recorded serial
# output byte for byte (tools/run-qemu --replay checks) and end with the same verdict. On several
# CPUs QEMU 7.2 refuses to record (its replay blocker "smp"): that test then reports SKIP.
foreach(config IN ITEMS "smp1;1" "smp4;4")
    list(GET config 0 name)
    list(GET config 1 cpus)
    add_test(NAME system.replay.${name}_self_tests
        COMMAND ${PROJECT_SOURCE_DIR}/test/debug/record_and_replay
                ${SABLE_SYSTEM_LOG_DIR}/replay.${name}.rr --timeout 300 --expect-exit pass
                --expect "${ALL_PASSED}" --log ${SABLE_SYSTEM_LOG_DIR}/replay.${name}_self_tests.log
                -- --iso ${SABLE_ISO} --smp ${cpus} --mem 512M --cmdline "sable.test=all")
    set_tests_properties(system.replay.${name}_self_tests PROPERTIES
        LABELS system TIMEOUT 660 SKIP_RETURN_CODE 77)
endforeach()

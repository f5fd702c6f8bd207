# The kernel ELF (build/kernel/sable.elf) and the hybrid BIOS/UEFI ISO (build/kernel/sable.iso).

set(SABLE_KERNEL_FLAGS
    -ffreestanding -nostdlibinc          # only the compiler's own headers (stdint.h, stdarg.h)
    -fno-exceptions -fno-rtti -fno-threadsafe-statics
    -mno-red-zone                        # interrupts push onto the stack below RSP
    -mno-mmx -mno-sse -mno-sse2 -mno-80387 -msoft-float   # no FPU/SIMD state in the kernel
    # No frame pointers: backtraces walk the stack with the unwind table (sable.unwind, below).
    -fomit-frame-pointer
    # A canary below the locals of every function with an array or an address-taken local,
    # checked before it returns (kernel/stack_protector.cpp); a global one: no TLS in the kernel.
    -fstack-protector-strong -mstack-protector-guard=global
    -fno-pic -fno-pie -mcmodel=small     # linked at 1 MiB, below 2 GiB
    -Wall -Wextra -Werror=return-type -Werror=format   # a format that does not match its argument is a bug
    # Whole-kernel ThinLTO: the arch contract is a set of small out-of-line functions (one file
    # per mechanism), which the linker inlines across files into the hot paths.
    -flto=thin
)

# The debug build (preset kernel-lockdebug): every spinlock checks its own invariants
# (src/lib/lock_debug.hpp). ctest boots it too (system tests lockdebug.*).
option(SABLE_LOCK_DEBUG "Build the kernel with the lock checker" OFF)
if(SABLE_LOCK_DEBUG)
    set(SABLE_KERNEL_DEFINITIONS SABLE_LOCK_DEBUG=1)
endif()

include(cmake/modules.cmake)

# One object library per module, each compiled against its include view (cmake/modules.cmake):
# portable modules see the arch contract only; the x86-64 arch code and kernel/ (interrupt
# controller set-up, self tests of x86 facts) also see the x86-private headers.
set(SABLE_X86_INCLUDE ${PROJECT_SOURCE_DIR}/src/arch/x86_64/include/arch)
sable_contract_files(SABLE_CONTRACT_FILES ${SABLE_X86_INCLUDE})
file(GLOB SABLE_X86_HEADERS ${SABLE_X86_INCLUDE}/*)
set(SABLE_KERNEL_OBJECTS "")

function(sable_kernel_module name view)
    add_library(sable_module_${name} OBJECT ${ARGN})
    target_include_directories(sable_module_${name} PRIVATE ${view})
    target_compile_definitions(sable_module_${name} PRIVATE SABLE_VERSION="${PROJECT_VERSION}" SABLE_KERNEL=1
                               ${SABLE_KERNEL_DEFINITIONS})
    target_compile_options(sable_module_${name} PRIVATE
        $<$<COMPILE_LANGUAGE:CXX>:${SABLE_KERNEL_FLAGS}>
        $<$<COMPILE_LANGUAGE:C>:${SABLE_KERNEL_FLAGS}>
        $<$<COMPILE_LANGUAGE:ASM>:-fno-pic>)
    set(SABLE_KERNEL_OBJECTS ${SABLE_KERNEL_OBJECTS} $<TARGET_OBJECTS:sable_module_${name}> PARENT_SCOPE)
endfunction()

foreach(module IN LISTS SABLE_MODULES)
    set(sources ${SABLE_PORTABLE_${module}} ${SABLE_KERNEL_${module}})
    if(module STREQUAL "kernel")
        sable_module_view(view ${module} kernel-${module} ${SABLE_X86_HEADERS} ${PROJECT_SOURCE_DIR}/src/arch/arch.hpp)
    else()
        sable_module_view(view ${module} kernel-${module} ${SABLE_CONTRACT_FILES})
    endif()
    sable_kernel_module(${module} ${view} ${sources})
endforeach()
sable_include_view(SABLE_ARCH_VIEW kernel-arch FOLDERS lib
                   ARCH_FILES ${SABLE_X86_HEADERS} ${PROJECT_SOURCE_DIR}/src/arch/arch.hpp)
sable_kernel_module(arch ${SABLE_ARCH_VIEW} ${SABLE_ARCH_SOURCES})

add_executable(sable_kernel ${SABLE_KERNEL_OBJECTS})
set_target_properties(sable_kernel PROPERTIES OUTPUT_NAME sable.elf SUFFIX "" LINKER_LANGUAGE CXX)
set(SABLE_LINKER_SCRIPT ${PROJECT_SOURCE_DIR}/src/arch/x86_64/linker.ld)
target_link_options(sable_kernel PRIVATE   # ld.lld's own options (see the toolchain file)
    -static -T ${SABLE_LINKER_SCRIPT} -z max-page-size=4096 --build-id=none)
set_target_properties(sable_kernel PROPERTIES LINK_DEPENDS ${SABLE_LINKER_SCRIPT})

# User programs and their libc (SABLE_USER_PROGRAM_FILES, SABLE_USER_PROGRAM_TARGETS).
include(cmake/user.cmake)

# --- ISO -------------------------------------------------------------------------------------
find_program(SABLE_GRUB_MKRESCUE NAMES grub-mkrescue grub2-mkrescue)
find_program(SABLE_XORRISO NAMES xorriso)
if(NOT SABLE_GRUB_MKRESCUE OR NOT SABLE_XORRISO)
    message(WARNING "grub-mkrescue or xorriso missing: the ISO will not be built. "
                    "Install: apt-get install grub-pc-bin grub-efi-amd64-bin grub-common xorriso mtools")
    return()
endif()
foreach(platform i386-pc x86_64-efi)
    if(NOT EXISTS /usr/lib/grub/${platform})
        message(WARNING "GRUB platform ${platform} is not installed: the ISO will not boot there "
                        "(apt-get install grub-pc-bin grub-efi-amd64-bin)")
    endif()
endforeach()

# Symbols for backtraces ride along as a boot module (docs/design.md).
find_program(SABLE_NM NAMES llvm-nm llvm-nm-14 llvm-nm-15 llvm-nm-16 nm REQUIRED)
set(SABLE_SYMBOLS ${CMAKE_BINARY_DIR}/sable.sym)
add_custom_command(
    OUTPUT ${SABLE_SYMBOLS}
    COMMAND sh -c "'${SABLE_NM}' -n --defined-only -C '$<TARGET_FILE:sable_kernel>' > '${SABLE_SYMBOLS}'"
    DEPENDS sable_kernel
    COMMENT "Extracting kernel symbols"
    VERBATIM)
# And the unwind table the backtraces walk the stack with (src/lib/unwind.hpp), from the ELF's
# call-frame information; readelf comes with binutils, which clang depends on.
set(SABLE_UNWIND ${CMAKE_BINARY_DIR}/sable.unwind)
add_custom_command(
    OUTPUT ${SABLE_UNWIND}
    COMMAND ${PROJECT_SOURCE_DIR}/tools/make-unwind-table $<TARGET_FILE:sable_kernel> ${SABLE_UNWIND}
    DEPENDS sable_kernel ${PROJECT_SOURCE_DIR}/tools/make-unwind-table
    COMMENT "Making the kernel's unwind table"
    VERBATIM)

# grub.cfg with one module2 line per user program, from the one list in user.cmake.
set(SABLE_USER_MODULE_LINES "")
foreach(program IN LISTS SABLE_USER_PROGRAMS)
    string(APPEND SABLE_USER_MODULE_LINES "    module2 /boot/user/${program} ${program}\n")
endforeach()
set(SABLE_GRUB_CFG ${CMAKE_BINARY_DIR}/grub.cfg)
configure_file(${PROJECT_SOURCE_DIR}/iso/boot/grub/grub.cfg.in ${SABLE_GRUB_CFG} @ONLY)

set(SABLE_ISO_ROOT ${CMAKE_BINARY_DIR}/isoroot)
set(SABLE_ISO ${CMAKE_BINARY_DIR}/sable.iso)
add_custom_command(
    OUTPUT ${SABLE_ISO}
    COMMAND ${CMAKE_COMMAND} -E rm -rf ${SABLE_ISO_ROOT}
    COMMAND ${CMAKE_COMMAND} -E make_directory ${SABLE_ISO_ROOT}/boot/grub
    COMMAND ${CMAKE_COMMAND} -E copy ${SABLE_GRUB_CFG} ${SABLE_ISO_ROOT}/boot/grub/grub.cfg
    COMMAND ${CMAKE_COMMAND} -E copy $<TARGET_FILE:sable_kernel> ${SABLE_ISO_ROOT}/boot/sable.elf
    COMMAND ${CMAKE_COMMAND} -E copy ${SABLE_SYMBOLS} ${SABLE_ISO_ROOT}/boot/sable.sym
    COMMAND ${CMAKE_COMMAND} -E copy ${SABLE_UNWIND} ${SABLE_ISO_ROOT}/boot/sable.unwind
    COMMAND ${CMAKE_COMMAND} -E make_directory ${SABLE_ISO_ROOT}/boot/user
    COMMAND ${CMAKE_COMMAND} -E copy ${SABLE_USER_PROGRAM_FILES} ${SABLE_ISO_ROOT}/boot/user/
    # Write a new file, then rename: a QEMU booting the old ISO never sees a half-written one.
    COMMAND sh -c "'${SABLE_GRUB_MKRESCUE}' -o '${SABLE_ISO}.tmp' '${SABLE_ISO_ROOT}' > '${CMAKE_BINARY_DIR}/grub-mkrescue.log' 2>&1 || { cat '${CMAKE_BINARY_DIR}/grub-mkrescue.log'; exit 1; }"
    COMMAND ${CMAKE_COMMAND} -E rename ${SABLE_ISO}.tmp ${SABLE_ISO}
    DEPENDS sable_kernel ${SABLE_SYMBOLS} ${SABLE_UNWIND} ${SABLE_GRUB_CFG}
            ${SABLE_USER_PROGRAM_TARGETS} ${SABLE_USER_PROGRAM_FILES}
    COMMENT "Making the hybrid BIOS/UEFI ISO with grub-mkrescue"
    VERBATIM)
add_custom_target(sable_iso ALL DEPENDS ${SABLE_ISO})

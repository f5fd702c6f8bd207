# User programs (src/user): a small static libc built once, and one static ELF64 executable per
# program, linked at SABLE_USER_BASE by src/user/user.ld. kernel.cmake copies SABLE_USER_PROGRAM_FILES
# into the ISO as boot/user/<name>; the generated grub.cfg (iso/boot/grub/grub.cfg.in) loads each as a Multiboot2 module
# whose command line is the program name.

set(SABLE_USER_PROGRAMS init sh echo cat wc true spin hello usertest bench lines parallel fuzz stress)

# Ring-3 code: the normal x86-64 ABI, x87 and SSE2 included (the kernel keeps each user task's
# x87/SSE/AVX registers, docs/fpu.md), stack probes so a large frame touches the stack page by
# page and hits the guard page instead of jumping it (docs/userspace.md), frame pointers for
# backtraces. The red zone is allowed: interrupts and `syscall` move to the ring-0 stack before
# pushing anything.
set(SABLE_USER_FLAGS
    -ffreestanding -nostdlibinc
    -fno-exceptions -fno-rtti -fno-threadsafe-statics
    # Clang's driver drops -fstack-clash-protection for targets other than Linux/FreeBSD (with
    # an "unused argument" warning), so the option goes straight to the compiler proper.
    -Xclang -fstack-clash-protection -fno-stack-protector
    -fno-pic -fno-pie -mcmodel=small -fno-omit-frame-pointer
    -ffunction-sections -fdata-sections
    -O2 -Wall -Wextra -Werror=return-type -Werror=format
)

add_library(sable_user_options INTERFACE)
target_compile_options(sable_user_options INTERFACE
    $<$<COMPILE_LANGUAGE:CXX>:${SABLE_USER_FLAGS}>
    $<$<COMPILE_LANGUAGE:C>:${SABLE_USER_FLAGS}>
    $<$<COMPILE_LANGUAGE:ASM>:-fno-pic>)
target_include_directories(sable_user_options INTERFACE
    ${PROJECT_SOURCE_DIR}/src/user/include
    ${PROJECT_SOURCE_DIR}/src/user/libc/include)

# _start is an object of its own, linked into every program: an archive member is only pulled in
# by an undefined symbol, and nothing references _start.
add_library(sable_user_crt0 OBJECT src/user/libc/crt0.S)
target_link_libraries(sable_user_crt0 PRIVATE sable_user_options)

add_library(sable_libc STATIC
    src/user/libc/start.cpp
    src/user/libc/syscalls.cpp
    src/user/libc/string.cpp
    src/user/libc/stdlib.cpp
    src/user/libc/malloc.cpp
    src/user/libc/stdio.cpp
    src/user/libc/pthread.cpp
    src/lib/format.cpp          # the kernel's printf engine, compiled again for ring 3
)
target_link_libraries(sable_libc PUBLIC sable_user_options)
target_include_directories(sable_libc PRIVATE ${PROJECT_SOURCE_DIR}/src)
# memcpy/memset/strlen must not be recognised in their own loops and turned into calls to
# themselves.
target_compile_options(sable_libc PRIVATE -fno-builtin)

set(SABLE_USER_LINKER_SCRIPT ${PROJECT_SOURCE_DIR}/src/user/user.ld)
set(SABLE_USER_PROGRAM_FILES "")
set(SABLE_USER_PROGRAM_TARGETS "")
foreach(program IN LISTS SABLE_USER_PROGRAMS)
    set(target user_${program})
    add_executable(${target} src/user/${program}.cpp)
    target_link_libraries(${target} PRIVATE sable_user_crt0 sable_libc)
    target_link_options(${target} PRIVATE   # ld.lld's own options (see the toolchain file)
        -static -T ${SABLE_USER_LINKER_SCRIPT} -z max-page-size=4096 --build-id=none --gc-sections)
    set_target_properties(${target} PROPERTIES
        OUTPUT_NAME ${program} SUFFIX ""
        RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/user
        LINK_DEPENDS ${SABLE_USER_LINKER_SCRIPT})
    list(APPEND SABLE_USER_PROGRAM_FILES $<TARGET_FILE:${target}>)
    list(APPEND SABLE_USER_PROGRAM_TARGETS ${target})
endforeach()

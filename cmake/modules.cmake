# Module boundaries the build enforces. Each module of src/ compiles with one include directory:
# a "view" (build/<preset>/include-views/<module>/) holding symbolic links to exactly the folders
# it may include — its own and those in SABLE_DEPS_<module> — and an arch/ folder with the arch
# contract. `#include "proc/process.hpp"` in src/mm/ therefore fails with "file not found".
# (A quoted include is also looked up beside the including file; paths are always rooted at the
# module folder, so that finds nothing else.)

set(SABLE_VIEW_ROOT ${CMAKE_BINARY_DIR}/include-views)

# sable_include_view(<out-var> <name> FOLDERS <module...> ARCH_FILES <file...>)
function(sable_include_view out name)
    cmake_parse_arguments(ARG "" "" "FOLDERS;ARCH_FILES" ${ARGN})
    set(view ${SABLE_VIEW_ROOT}/${name})
    file(REMOVE_RECURSE ${view})
    file(MAKE_DIRECTORY ${view}/arch)
    foreach(folder IN LISTS ARG_FOLDERS)
        if(folder STREQUAL "abi")
            file(CREATE_LINK ${PROJECT_SOURCE_DIR}/src/user/include/sable ${view}/sable SYMBOLIC)
        else()
            file(CREATE_LINK ${PROJECT_SOURCE_DIR}/src/${folder} ${view}/${folder} SYMBOLIC)
        endif()
    endforeach()
    foreach(file IN LISTS ARG_ARCH_FILES)
        get_filename_component(file_name ${file} NAME)
        file(CREATE_LINK ${file} ${view}/arch/${file_name} SYMBOLIC)
    endforeach()
    set(${out} ${view} PARENT_SCOPE)
endfunction()

# The arch contract as portable code sees it: arch.hpp and the data side (impl.hpp and what it
# includes); `arch_include` is src/arch/x86_64/include/arch (kernel) or test/fake_arch/arch (host).
function(sable_contract_files out arch_include)
    set(files ${PROJECT_SOURCE_DIR}/src/arch/arch.hpp)
    foreach(header impl.hpp pte.hpp percpu_offsets.h boot_layout.hpp x86_defs.h)
        if(EXISTS ${arch_include}/${header})
            list(APPEND files ${arch_include}/${header})
        endif()
    endforeach()
    set(${out} ${files} PARENT_SCOPE)
endfunction()

# sable_module_view(<out-var> <module> <view-name> <arch-file...>): the view of `module` —
# itself, its dependencies and the given arch files.
function(sable_module_view out module view_name)
    sable_include_view(view ${view_name} FOLDERS ${module} ${SABLE_DEPS_${module}} ARCH_FILES ${ARGN})
    set(${out} ${view} PARENT_SCOPE)
endfunction()

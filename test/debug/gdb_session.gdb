# The session system.debug.gdb_helpers runs through `tools/debug --batch` (from kernel_main on):
# stop at the first system call, which only a user process can make, so init exists and runs;
# then ask the helpers what they see. test/debug/check_gdb_session checks their answers.
break syscall_entry_call
continue
delete
sable-tasks
sable-cpu 1
sable-current

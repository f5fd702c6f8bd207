# The session system.debug.reverse_stepping runs on a replay (tools/debug --replay --batch, which
# stops at kernel_main first): three instructions forward, three back, printing the PC at each
# end. test/debug/check_reverse_stepping wants the PC moved forward and back to where it started.
# QEMU 7.2 hangs stepping back across the TSC calibration's PIT polling more often than here
# (docs/debugging.md), so the steps stay at kernel_main's first instructions.
printf "REVERSE start pc=%#lx\n", $pc
stepi
stepi
stepi
printf "REVERSE forward pc=%#lx\n", $pc
reverse-stepi
reverse-stepi
reverse-stepi
printf "REVERSE back pc=%#lx\n", $pc

# tools/gdb/sable.py — gdb's view of Sable: commands that read the kernel's own structures (the
# per-CPU data, every CPU's scheduler, the process table), so a stopped kernel can be asked which
# tasks exist, what each CPU holds and which process runs.
# Loaded by tools/debug (gdb -x); by hand: gdb -x tools/gdb/sable.py build/kernel/sable.elf.
# docs/debugging.md shows each command's output.

import gdb

MAX_LIST_STEPS = 1 << 16  # a corrupt list must not loop forever: the task list holds 65,536 tasks


def value(expression):
    return gdb.parse_and_eval(expression)


def kernel_task_type():
    return gdb.lookup_type("kernel::tasks::KernelTask").pointer()


def process_type():
    return gdb.lookup_type("kernel::process::Process").pointer()


def cpu_tasks():
    # The per-CPU scheduler state lives in tasks.cpp's unnamed namespace.
    return value("'kernel::tasks::(anonymous namespace)::g_cpus'")


def cpu_count():
    return int(value("kernel::g_cpu_count"))


def task_state(task):
    return str(task["sched"]["state"]).split("::")[-1].lower()


def task_name(task):
    return task["name"].string(length=24).split("\0")[0]


def walk(first, next_of):
    """Yields the non-null pointers of a linked list, stopping at a loop's MAX_LIST_STEPS."""
    node = first
    for _ in range(MAX_LIST_STEPS):
        if int(node) == 0:
            return
        yield node
        node = next_of(node)


def task_queue(queue):
    task_pointer = kernel_task_type()
    return [t.cast(task_pointer) for t in walk(queue["m_head"], lambda t: t["queue_next"])]


def process_of(task):
    """(pid, tid) of a user task, (None, None) for a kernel task."""
    if int(task["process"]) == 0:
        return None, None
    process = task["process"].cast(process_type())
    thread = task["thread"].cast(gdb.lookup_type("kernel::process::Thread").pointer())
    return int(process["pid"]), int(thread["tid"]) if int(thread) else None


def all_tasks():
    """Every task the kernel's structures lead to, with where it was found. The kernel keeps no
    single list of its tasks: each CPU's scheduler holds its running, idle, ready and sleeping
    ones, the reap lists the dead ones, the process table every user thread, and the boot task
    is a global. A kernel task blocked on a wait queue is on none of these."""
    found = {}
    task_pointer = kernel_task_type()

    def add(pointer, where):
        if int(pointer) != 0 and int(pointer) not in found:
            found[int(pointer)] = (pointer.cast(task_pointer), where)

    add(value("&'kernel::tasks::(anonymous namespace)::g_boot_task'"), "boot task")
    cpus = cpu_tasks()
    for index in range(cpu_count()):
        scheduler = cpus[index]["scheduler"]
        add(scheduler["m_current"], f"cpu {index} running")
        add(scheduler["m_idle"], f"cpu {index} idle")
        for task in task_queue(scheduler["m_ready"]):
            add(task, f"cpu {index} run queue")
        for task in task_queue(scheduler["m_sleepers"]):
            add(task, f"cpu {index} timer queue")
        for task in walk(cpus[index]["reap_head"], lambda t: t["sched"]["queue_next"].cast(task_pointer)):
            add(task, f"cpu {index} reap list")
    dead = value("'kernel::tasks::(anonymous namespace)::g_dead_head'")
    for task in walk(dead, lambda t: t["sched"]["queue_next"].cast(task_pointer)):
        add(task, "reaper's list")
    table = value("'kernel::process::(anonymous namespace)::g_table'")
    for slot in range(int(table["m_slots_used"])):
        process = table["m_slots"][slot]
        if int(process) == 0:
            continue
        for thread in walk(process["threads"], lambda t: t["next"]):
            add(thread["task"], f"pid {int(process['pid'])}")
    # The APs' idle tasks share id 0 with main (they adopt the AP's boot context): then by CPU.
    return sorted(found.values(), key=lambda entry: (int(entry[0]["sched"]["id"]), int(entry[0]["sched"]["cpu"])))


def cpu_local_base():
    """This gdb thread's (vCPU's) CpuLocal, from its GS base: IA32_GS_BASE in the kernel, or
    IA32_KERNEL_GS_BASE while ring 3 runs with the user's (swapgs). None before it is set."""
    locals_array = value("kernel::g_cpu_locals")
    start = int(locals_array.address)
    end = start + locals_array.type.sizeof
    for register in ("gs_base", "k_gs_base"):
        try:
            base = int(gdb.selected_frame().read_register(register))
        except (gdb.error, ValueError):
            continue
        if start <= base < end:
            return base
    return None


def this_cpu_index():
    base = cpu_local_base()
    if base is None:
        return None
    return int(gdb.Value(base).cast(gdb.lookup_type("kernel::CpuLocal").pointer())["index"])


def parse_cpu_argument(argument, command):
    argument = argument.strip()
    if argument:
        try:
            index = int(argument, 0)
        except ValueError:
            raise gdb.GdbError(f"{command}: '{argument}' is not a CPU number")
    else:
        index = this_cpu_index()
        if index is None:
            raise gdb.GdbError(f"{command}: this vCPU has no per-CPU data yet (GS base unset); "
                               f"name a CPU: {command} N")
    if not 0 <= index < cpu_count():
        raise gdb.GdbError(f"{command}: CPU {index} does not exist (g_cpu_count = {cpu_count()})")
    return index


def describe_task(task):
    return f"{task_name(task)} (task {int(task['sched']['id'])}, {task_state(task)})"


class SableTasks(gdb.Command):
    """List every task: id, name, state, the CPU whose queues hold it, pid/tid for user threads,
    and where it was found. Usage: sable-tasks"""

    def __init__(self):
        super().__init__("sable-tasks", gdb.COMMAND_DATA)

    def invoke(self, argument, from_tty):
        tasks = all_tasks()
        print(f"{'ID':>4} {'NAME':<16} {'STATE':<9} {'CPU':>3} {'PID':>5} {'TID':>4}  FOUND ON")
        for task, where in tasks:
            pid, tid = process_of(task)
            print(f"{int(task['sched']['id']):>4} {task_name(task):<16} {task_state(task):<9} "
                  f"{int(task['sched']['cpu']):>3} {pid if pid is not None else '-':>5} "
                  f"{tid if tid is not None else '-':>4}  {where}")
        live = int(value("'kernel::tasks::(anonymous namespace)::g_task_list'")["m_live"])
        print(f"{len(tasks)} tasks found, {live} live in the task list", end="")
        if live > len(tasks):
            print(f"; {live - len(tasks)} not reachable (kernel tasks blocked on a wait queue)")
        else:
            print()


class SableCpu(gdb.Command):
    """Show CPU n's per-CPU data (kernel::g_cpu_locals[n]) and its scheduler's queues.
    Without n: the CPU of the selected gdb thread. Usage: sable-cpu [N]"""

    def __init__(self):
        super().__init__("sable-cpu", gdb.COMMAND_DATA)

    def invoke(self, argument, from_tty):
        index = parse_cpu_argument(argument, "sable-cpu")
        cpu = value("kernel::g_cpu_locals")[index]
        tasks = cpu_tasks()[index]
        scheduler = tasks["scheduler"]
        task_pointer = kernel_task_type()
        current = cpu["current_task"].cast(task_pointer)
        print(f"cpu {index}: apic_id={int(cpu['apic_id'])} online={'yes' if bool(cpu['online']) else 'no'} "
              f"takes_tasks={'yes' if bool(tasks['running']) else 'no'} ticks={int(cpu['ticks'])} "
              f"scheduler_tick={int(scheduler['m_tick'])} at {cpu.address}")
        print(f"  current: {describe_task(current) if int(current) else '-'}")
        idle = scheduler["m_idle"].cast(task_pointer)
        print(f"  idle:    {describe_task(idle) if int(idle) else '-'}")
        for title, queue in (("ready", scheduler["m_ready"]), ("sleeping", scheduler["m_sleepers"])):
            members = task_queue(queue)
            names = ", ".join(describe_task(t) for t in members) or "-"
            print(f"  {title}: {int(queue['m_size'])} [{names}]")
        def address(word):
            return f"{int(word):#x}" if int(word) else "-"
        print(f"  ring-0 stack for user entry: {address(cpu['user_entry_stack_top'])}, "
              f"interrupt stacks (IST 1-3): " + ", ".join(address(cpu['interrupt_stack_tops'][i]) for i in range(3)))


class SableCurrent(gdb.Command):
    """Print the task and the process running on a CPU (default: the selected gdb thread's).
    Usage: sable-current [N]"""

    def __init__(self):
        super().__init__("sable-current", gdb.COMMAND_DATA)

    def invoke(self, argument, from_tty):
        index = parse_cpu_argument(argument, "sable-current")
        task = value("kernel::g_cpu_locals")[index]["current_task"].cast(kernel_task_type())
        if int(task) == 0:
            print(f"cpu {index}: no task yet")
            return
        print(f"cpu {index}: task {describe_task(task)}")
        if int(task["process"]) == 0:
            print("  a kernel task: no process")
            return
        process = task["process"].cast(process_type())
        thread = task["thread"].cast(gdb.lookup_type("kernel::process::Thread").pointer())
        parent = process["parent"]
        print(f"  process: pid {int(process['pid'])} {process['name'].string(length=process['name'].type.sizeof).split(chr(0))[0]}, "
              f"{str(process['state']).split('::')[-1].lower()}, "
              f"parent {int(parent['pid']) if int(parent) else 'the kernel'}, thread tid {int(thread['tid'])}")
        threads = []
        for other in walk(process["threads"], lambda t: t["next"]):
            other_task = other["task"].cast(kernel_task_type())
            state = task_state(other_task) if int(other_task) else "exited"
            threads.append(f"tid {int(other['tid'])} {state}")
        print(f"  threads: {int(process['live_threads'])} live [{', '.join(threads)}]")
        print(f"  memory: {int(process['user_pages'])} user pages, break {int(process['break_base']):#x}-"
              f"{int(process['break_end']):#x}, kill_reason={int(process['kill_reason'])}")


SableTasks()
SableCpu()
SableCurrent()

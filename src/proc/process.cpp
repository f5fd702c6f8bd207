// User processes (see process.hpp and docs/userspace.md).
#include "proc/process.hpp"

#include "arch/arch.hpp"
#include "lib/console.hpp"
#include "mm/kernel_address_space.hpp"
#include "mm/kernel_heap.hpp"
#include "mm/physical_memory.hpp"
#include "proc/programs.hpp"
#include "smp/tlb.hpp"
#include "lib/spinlock.hpp"
#include "mm/user_memory.hpp"
#include "lib/elf.hpp"
#include "lib/format.hpp"

namespace kernel::process {
namespace {

constexpr uint64_t kPageSize = mm::kPageSize;
constexpr uint64_t kInitialStackBytes = user_memory::kInitialStackPages * kPageSize;

// The process table (process_table.hpp). Wait conditions read only atomics, never its lock.
ProcessTable g_table;
// Children of the kernel (spawn_from_kernel without auto_reap) report here.
tasks::WaitQueue g_kernel_child_events;
uint64_t g_kernel_event_count = 0;
uint64_t g_child_event_counts[kProcessTableSize];  // per table slot: zombie events of its children

uint64_t align_up(uint64_t value) { return (value + kPageSize - 1) & ~(kPageSize - 1); }
uint64_t align_down(uint64_t value) { return value & ~(kPageSize - 1); }

// A table slot and pid for a new process, or -EAGAIN at the limit.
int64_t reserve(Process* process) {
    IrqLockGuard guard(g_table.lock());
    const int32_t pid = g_table.insert_locked(process);
    if (pid < 0) return -SABLE_EAGAIN;
    g_child_event_counts[process->slot] = 0;
    return pid;
}

void unreserve(Process* process) {
    IrqLockGuard guard(g_table.lock());
    g_table.remove_locked(process);
}

Process* new_process(const char* name, Process* parent, bool auto_reap) {
    auto* process = new (kstd::nothrow) Process{};
    if (!process) return nullptr;
    kstd::format_to_buffer(process->name, sizeof(process->name), "%s", name);
    process->state = State::Alive;
    process->parent = parent;
    process->auto_reap = auto_reap;
    process->main_thread = {1, -1, false, false, process, nullptr, 0, nullptr};
    process->threads = &process->main_thread;
    process->next_tid = 2;
    return process;
}

void release_files(Process& process) {
    for (files::File*& file : process.fds) {
        if (file) files::release(file);
        file = nullptr;
    }
}

// Undoes a process that never ran: its memory, descriptors and table slot.
void discard(Process* process) {
    user_memory::destroy(process->space);
    free_regions(*process);
    release_files(*process);
    unreserve(process);
    delete process;
}

uint64_t condition_counter(Process* parent) {
    if (!parent) return __atomic_load_n(&g_kernel_event_count, __ATOMIC_ACQUIRE);
    return __atomic_load_n(&g_child_event_counts[parent->slot], __ATOMIC_ACQUIRE);
}

// --- program loading ------------------------------------------------------------------------

struct Arguments {
    const char* argv[SABLE_MAX_ARGS];
    int argc;
};

// Maps every segment of the ELF image: fresh zeroed pages, the file's bytes copied in.
int64_t load_image(Process& process, kstd::Span<const uint8_t> file, uint64_t& entry) {
    auto parsed = elf::parse(file, {user_memory::kUserBase, user_memory::kHeapLimit});
    if (!parsed) {
        klog("process: %s: not a loadable program: %s", process.name, elf::describe(parsed.error()));
        return -SABLE_ENOEXEC;
    }
    const elf::Image& image = parsed.value();
    for (size_t s = 0; s < image.segment_count; ++s) {
        const elf::Segment& segment = image.segments[s];
        uint32_t flags = 0;
        if (segment.writable) flags |= mm::kPageWritable;
        if (segment.executable) flags |= mm::kPageExecutable;
        for (uint64_t page = align_down(segment.vaddr); page < segment.vaddr + segment.mem_size; page += kPageSize) {
            // The part of [vaddr, vaddr + file_size) inside this page comes from the file.
            const uint64_t from = page > segment.vaddr ? page : segment.vaddr;
            const uint64_t file_end = segment.vaddr + segment.file_size;
            const uint64_t to = page + kPageSize < file_end ? page + kPageSize : file_end;
            const uint64_t phys = user_memory::map_page_to_fill(process.space, page, flags, from - page,
                                                                from < to ? to - page : from - page);
            if (!phys) return -SABLE_ENOMEM;
            ++process.user_pages;
            if (from < to)
                __builtin_memcpy(phys_to_virt<uint8_t>(phys + (from - page)),
                                 file.data() + segment.file_offset + (from - segment.vaddr), to - from);
        }
    }
    entry = image.entry;
    process.break_base = process.break_end = image.end;
    return 0;
}

// Commits the top of the stack region and lays out argv there: the strings at the very top,
// below them the NULL-terminated pointer array, and RSP 16-byte aligned just below that. Written
// through the direct map into the frames just committed (zeroed already): no staging buffer.
int64_t build_stack(Process& process, const Arguments& arguments, uint64_t& user_rsp, uint64_t& user_argv) {
    const uint64_t base = user_memory::kStackTop - kInitialStackBytes;  // user address of offset 0
    uint8_t* pages[user_memory::kInitialStackPages];
    for (unsigned page = 0; page < user_memory::kInitialStackPages; ++page) {
        const uint64_t phys = user_memory::map_page_to_fill(process.space, base + page * kPageSize, mm::kPageWritable, 0, 0);
        if (!phys) return -SABLE_ENOMEM;  // discard() returns the pages committed so far
        ++process.user_pages;
        pages[page] = phys_to_virt<uint8_t>(phys);
    }
    // Copies `bytes` to `offset` from the start of the committed pages, which are not contiguous.
    auto put = [&pages](uint64_t offset, const void* from, uint64_t bytes) {
        const auto* source = static_cast<const uint8_t*>(from);
        while (bytes) {
            const uint64_t in_page = offset % kPageSize;
            const uint64_t chunk = bytes < kPageSize - in_page ? bytes : kPageSize - in_page;
            __builtin_memcpy(pages[offset / kPageSize] + in_page, source, chunk);
            offset += chunk;
            source += chunk;
            bytes -= chunk;
        }
    };
    static_assert(SABLE_MAX_ARG_BYTES + 8 * (SABLE_MAX_ARGS + 1) + 32 <= kInitialStackBytes,
                  "the largest argv fits the pages committed at start");
    uint64_t cursor = kInitialStackBytes;
    uint64_t pointers[SABLE_MAX_ARGS + 1];
    for (int i = arguments.argc - 1; i >= 0; --i) {
        uint64_t length = 0;
        while (arguments.argv[i][length]) ++length;
        cursor -= length + 1;
        put(cursor, arguments.argv[i], length + 1);
        pointers[i] = base + cursor;
    }
    pointers[arguments.argc] = 0;
    cursor &= ~uint64_t{15};
    cursor -= 8 * (arguments.argc + 1);
    cursor &= ~uint64_t{15};
    put(cursor, pointers, 8 * (arguments.argc + 1));
    user_argv = base + cursor;
    user_rsp = base + cursor;
    return 0;
}

struct StartFrame {
    uint64_t entry, user_rsp, argc, argv;
};

uint64_t build_start_frame(uint64_t stack_top, void* context) {
    const auto* start = static_cast<const StartFrame*>(context);
    return arch::build_user_task_frame(stack_top, start->entry, start->user_rsp, start->argc, start->argv);
}

uint64_t build_fork_frame(uint64_t stack_top, void* context) {
    return arch::build_forked_task_frame(stack_top, static_cast<const arch::TrapFrame*>(context), 0);
}

int64_t error_of(tasks::TaskError error) {
    return error == tasks::TaskError::TooManyTasks ? -SABLE_EAGAIN : -SABLE_ENOMEM;
}

// A new process with a pid and an empty address space that owns the descriptors in `stdio`
// (released if this fails). Returns the pid, or a negative SABLE_E* code with nothing left
// behind; until it runs, discard() undoes it.
int64_t create_process(const char* name, Process* parent, bool auto_reap, files::File* const (&stdio)[3],
                       Process*& created) {
    Process* process = new_process(name, parent, auto_reap);
    if (!process) {
        for (files::File* file : stdio)
            if (file) files::release(file);
        return -SABLE_ENOMEM;
    }
    for (unsigned i = 0; i < 3; ++i) process->fds[i] = stdio[i];
    const int64_t pid = reserve(process);
    if (pid < 0) {
        release_files(*process);
        delete process;
        return pid;
    }
    auto space = user_memory::create();
    if (!space) {
        discard(process);
        return -SABLE_ENOMEM;
    }
    process->space = space.value();
    created = process;
    return pid;
}

// Creates, loads and starts a process running `program`. Takes over the references in `stdio`.
int64_t start_process(const programs::Program& program, const Arguments& arguments, files::File* (&stdio)[3],
                      Process* parent, bool auto_reap, const kstd::CpuMask& affinity, bool is_init = false) {
    Process* process = nullptr;
    const int64_t pid = create_process(program.name, parent, auto_reap, stdio, process);
    if (pid < 0) return pid;
    process->is_init = is_init;
    StartFrame start{};
    int64_t result = load_image(*process, programs::image(program), start.entry);
    if (result == 0) result = build_stack(*process, arguments, start.user_rsp, start.argv);
    if (result < 0) {
        discard(process);
        return result;
    }
    start.argc = static_cast<uint64_t>(arguments.argc);
    result = start_thread_task(*process, process->main_thread, build_start_frame, &start, affinity);
    if (result < 0) {
        discard(process);
        return result;
    }
    return pid;
}

// --- faults ----------------------------------------------------------------------------------

// A fault its memory map did not resolve (`memory`; NotMine for other exceptions): the process
// dies with a reason, or a copy_user fails. Kept out of on_fault, whose page-fault path would
// otherwise pay for this one's message buffer, saved registers and stack-protector check.
[[gnu::noinline, gnu::cold]] bool on_unresolved_fault(Process* process, arch::TrapFrame* frame,
                                                      const arch::FaultInfo& fault, MemoryFault memory) {
    uint32_t reason;
    const char* words;
    char detail[96] = "";
    if (fault.kind == arch::FaultKind::PageFault) {
        const uint64_t address = fault.address;
        const uint64_t user_rsp = fault.from_user ? arch::frame_stack_pointer(frame) : 0;
        // Only the message needs the stack's layout.
        user_memory::StackRegion stack{};
        bool in_guard = false, in_stack = false;
        {
            IrqLockGuard guard(process->lock);
            in_stack = find_stack_region(*process, address, stack, in_guard);
        }
        if (memory == MemoryFault::OutOfMemory) {
            reason = SABLE_KILL_OUT_OF_MEMORY;
            words = "out of memory";
        } else if (!fault.from_user) {
            return false;  // inside copy_user: the copy fails, the call returns -EFAULT
        } else if (!fault.instruction_fetch &&  // a jump into the guard page is no overflow
                   ((in_stack && in_guard) ||
                    (user_rsp && user_rsp < user_memory::kStackBottom && user_rsp >= user_memory::kUserBase &&
                     address >= align_up(process->break_end) && address < user_memory::kStackBottom))) {
            reason = SABLE_KILL_STACK_OVERFLOW;
            words = "stack overflow";
        } else {
            reason = SABLE_KILL_PAGE_FAULT;
            words = "page fault";
        }
        kstd::format_to_buffer(detail, sizeof(detail), " (address %p, %s, %s)", reinterpret_cast<void*>(address),
                               fault.instruction_fetch ? "fetch" : fault.write ? "write" : "read",
                               fault.not_present ? "not present" : "protection");
    } else {
        switch (fault.kind) {
        case arch::FaultKind::DivideError: reason = SABLE_KILL_DIVIDE_ERROR; break;
        case arch::FaultKind::InvalidOpcode: reason = SABLE_KILL_INVALID_OPCODE; break;
        case arch::FaultKind::GeneralProtection: reason = SABLE_KILL_GENERAL_PROTECTION; break;
        case arch::FaultKind::X87Error:
        case arch::FaultKind::SimdError:
            reason = SABLE_KILL_FLOATING_POINT;
            break;
        default: reason = SABLE_KILL_OTHER_EXCEPTION; break;
        }
        words = arch::describe(fault.kind);
        if (reason == SABLE_KILL_FLOATING_POINT)
            kstd::format_to_buffer(detail, sizeof(detail), " (%s, vector %u)",
                                   arch::describe_floating_point_error(fault), fault.vector);
        else
            kstd::format_to_buffer(detail, sizeof(detail), " (vector %u, error 0x%lx)", fault.vector, fault.error_code);
    }
    if (!fault.from_user) return false;  // out of memory inside copy_user: -EFAULT too
    arch::interrupts_on();
    kill_current(reason, words, arch::frame_instruction_pointer(frame), detail);
}

// Every fault but a ring-3 page fault (user_page_fault_hook in memory.cpp takes those): page
// faults inside copy_user, and the other exceptions from ring 3.
bool on_fault(arch::TrapFrame* frame, const arch::FaultInfo& fault) {
    Process* process = current();
    if (!process) return false;
    MemoryFault memory = MemoryFault::NotMine;
    if (fault.kind == arch::FaultKind::PageFault) {
        const uint64_t access = (fault.not_present ? 0 : arch::kPageFaultProtection) |
                                (fault.write ? arch::kPageFaultWrite : 0) |
                                (fault.instruction_fetch ? arch::kPageFaultFetch : 0);
        memory = resolve_memory_fault(*process, frame, fault.address, access);
        if (memory == MemoryFault::Resolved) return true;
    }
    return on_unresolved_fault(process, frame, fault, memory);
}

void free_threads(Process& process) {
    for (Thread* thread = process.threads; thread;) {
        Thread* next = thread->next;
        if (thread != &process.main_thread) delete thread;
        thread = next;
    }
    process.threads = nullptr;
}

// The last thread has left `self`: its descriptors and memory go now, the process becomes a
// zombie (or is freed), its children go to init, and the calling task ends.
[[noreturn]] void tear_down(Process* self) {
    release_files(*self);
    // Off the process's page tables (on every CPU) before freeing them.
    tasks::leave_address_space(self->space_loaded_on);
    user_memory::destroy(self->space);
    free_regions(*self);
    free_threads(*self);
    const int32_t status = self->end_status;
    Process* to_free = nullptr;
    {
        IrqLockGuard guard(g_table.lock());
        Process* init = nullptr;
        g_table.for_each_locked([&](Process* p) {
            if (p->is_init && p->state == State::Alive && p != self) init = p;
            return true;
        });
        // Children: zombies are collected now (no one else will); live ones go to init, or, with
        // no init, free themselves when they exit.
        g_table.for_each_locked([&](Process* child) {
            if (child->parent != self) return true;
            if (child->state == State::Zombie) {
                g_table.remove_locked(child);
                child->free_next = to_free;
                to_free = child;
            } else if (init) {
                child->parent = init;
            } else {
                child->parent = nullptr;
                child->auto_reap = true;
            }
            return true;
        });
        self->status = status;
        if (self->auto_reap) {
            g_table.remove_locked(self);
            self->free_next = to_free;
            to_free = self;
        } else {
            self->state = State::Zombie;
            Process* parent = self->parent;
            if (parent) {
                __atomic_fetch_add(&g_child_event_counts[parent->slot], 1, __ATOMIC_RELEASE);
                tasks::wake_all(parent->child_events);
            } else {
                __atomic_fetch_add(&g_kernel_event_count, 1, __ATOMIC_RELEASE);
                tasks::wake_all(g_kernel_child_events);
            }
        }
    }
    while (to_free) {
        Process* next = to_free->free_next;
        delete to_free;
        to_free = next;
    }
    tasks::exit();
}

}  // namespace

// Cold, like on_unresolved_fault: the FaultInfo the report reads is built only here.
[[gnu::cold]] bool on_unresolved_page_fault(Process& process, arch::TrapFrame* frame, uint64_t address,
                                            uint64_t access, MemoryFault memory) {
    const arch::FaultInfo fault{arch::FaultKind::PageFault,
                                arch::kPageFaultVector,
                                access,
                                address,
                                (access & arch::kPageFaultProtection) == 0,
                                (access & arch::kPageFaultWrite) != 0,
                                true,
                                (access & arch::kPageFaultFetch) != 0,
                                0};
    return on_unresolved_fault(&process, frame, fault, memory);
}

void init(const boot::BootInfo& info, unsigned process_limit) {
    g_table.set_limit(process_limit);
    klog("process: limit %u processes", g_table.limit());
    programs::init(info);
    arch::set_fault_handler(on_fault);
}

Process* current() {
    tasks::KernelTask* task = tasks::current();
    return task ? static_cast<Process*>(task->process) : nullptr;
}

Thread* current_thread() {
    tasks::KernelTask* task = tasks::current();
    return task ? static_cast<Thread*>(task->thread) : nullptr;
}

int64_t start_thread_task(Process& process, Thread& thread, uint64_t (*build_frame)(uint64_t, void*), void* context,
                          const kstd::CpuMask& affinity, bool copy_callers_extended_state) {
    const tasks::UserTaskSpec spec{process.name, process.space.root().address(), &process.space_loaded_on, &process,
                                   &thread,      affinity,                       copy_callers_extended_state};
    // Counted live before it can run (and so before it can leave).
    {
        IrqLockGuard guard(process.lock);
        ++process.live_threads;
    }
    auto task = tasks::spawn_user(spec, build_frame, context, &thread.task);
    if (!task) {
        IrqLockGuard guard(process.lock);
        --process.live_threads;
        return error_of(task.error());
    }
    return 0;
}

bool begin_ending(Process& process, int32_t status) {
    uint32_t none = 0;
    const bool decided =
        __atomic_compare_exchange_n(&process.ending, &none, 1, false, __ATOMIC_ACQ_REL, __ATOMIC_RELAXED);
    if (decided) process.end_status = status;
    const tasks::KernelTask* self = tasks::current();
    IrqLockGuard guard(process.lock);
    for (Thread* thread = process.threads; thread; thread = thread->next)
        if (thread->task && thread->task != self) tasks::interrupt_wait(thread->task);
    return decided;
}

void leave_thread() {
    Thread* thread = current_thread();
    Process* process = thread->process;
    {
        IrqLockGuard guard(process->lock);
        thread->exited = true;
        thread->task = nullptr;
    }
    // A joiner may free `thread` from here on; the process stays until the last thread leaves.
    tasks::wake_all(process->thread_events);
    bool last;
    {
        IrqLockGuard guard(process->lock);
        last = --process->live_threads == 0;
    }
    if (!last) tasks::exit();
    tear_down(process);
}

uint64_t unmap_range(Process& process, uint64_t start, uint64_t end) {
    uint64_t freed = 0;
    user_memory::FrameBatch batch;
    for (uint64_t at = start; at < end;) {
        uint64_t stopped;
        {
            IrqLockGuard guard(process.lock);
            stopped = user_memory::unmap_batch(process.space, at, end, batch);
            process.user_pages -= batch.count;
        }
        if (batch.count) tlb::shootdown_user_range(process.space_loaded_on, at, stopped);
        freed += batch.count;
        user_memory::free_batch(batch);
        at = stopped;
    }
    return freed;
}

FileRef get_shared_file(Process& self, uint64_t fd) {
    IrqLockGuard guard(self.lock);
    return self.fds[fd] ? FileRef{files::retain(self.fds[fd]), true} : FileRef{nullptr, false};
}

void put_file(const FileRef& ref) {
    if (ref.counted) files::release(ref.file);
}

void for_each_process_locked(bool (*visit)(Process& process, void* context), void* context) {
    IrqLockGuard guard(g_table.lock());
    g_table.for_each_locked([&](Process* p) { return visit(*p, context); });
}

uint64_t live_count() {
    IrqLockGuard guard(g_table.lock());
    return g_table.live_locked();
}

files::Interruption interruption(const Process& process) { return {&process.kill_reason, &process.ending}; }

bool current_killed() {
    const Process* process = current();
    return process && interruption(*process).interrupted();
}

namespace {
int64_t spawn_for_kernel(const char* program_name, const char* const* argv, int argc, bool auto_reap, bool is_init,
                         const kstd::CpuMask& affinity = kstd::CpuMask::all()) {
    const programs::Program* program = programs::find(program_name);
    if (!program) return -SABLE_ENOENT;
    Arguments arguments{};
    if (argc > SABLE_MAX_ARGS) return -SABLE_E2BIG;
    uint64_t bytes = 0;
    for (int i = 0; i < argc; ++i) {
        arguments.argv[i] = argv[i];
        for (const char* c = argv[i]; *c; ++c) ++bytes;
        ++bytes;
    }
    if (bytes > SABLE_MAX_ARG_BYTES) return -SABLE_E2BIG;  // the same limit spawn() applies
    arguments.argc = argc;
    files::File* stdio[3] = {files::console(), files::console(), files::console()};
    return start_process(*program, arguments, stdio, nullptr, auto_reap, affinity, is_init);
}
}  // namespace

int64_t spawn_from_kernel(const char* program_name, const char* const* argv, int argc, bool auto_reap,
                          const kstd::CpuMask& affinity) {
    return spawn_for_kernel(program_name, argv, argc, auto_reap, false, affinity);
}

int64_t spawn_init(const char* program_name) {
    const char* const argv[] = {program_name};
    return spawn_for_kernel(program_name, argv, 1, false, true);
}

int64_t spawn(uint64_t user_program, uint64_t user_argv, uint64_t user_stdio) {
    Process* self = current();
    char name[SABLE_MAX_NAME];
    const int64_t name_length = user_memory::copy_string_from(name, sizeof(name), user_program);
    if (name_length == -1) return -SABLE_EFAULT;
    if (name_length < 0) return -SABLE_ENAMETOOLONG;

    Arguments arguments{};
    auto* strings = static_cast<char*>(kmalloc(SABLE_MAX_ARG_BYTES));
    if (!strings) return -SABLE_ENOMEM;
    int64_t result = 0;
    uint64_t used = 0;
    if (user_argv == 0) {
        __builtin_memcpy(strings, name, name_length + 1);
        arguments.argv[0] = strings;
        arguments.argc = 1;
    } else {
        for (;;) {
            uint64_t pointer;
            if (!user_memory::copy_from(&pointer, user_argv + 8 * arguments.argc, 8)) {
                result = -SABLE_EFAULT;
                break;
            }
            if (pointer == 0) break;
            if (arguments.argc == SABLE_MAX_ARGS) {
                result = -SABLE_E2BIG;
                break;
            }
            const int64_t length = user_memory::copy_string_from(strings + used, SABLE_MAX_ARG_BYTES - used, pointer);
            if (length < 0) {
                result = length == -1 ? -SABLE_EFAULT : -SABLE_E2BIG;
                break;
            }
            arguments.argv[arguments.argc++] = strings + used;
            used += length + 1;
        }
    }
    int32_t stdio_fds[3] = {0, 1, 2};
    if (result == 0 && user_stdio && !user_memory::copy_from(stdio_fds, user_stdio, sizeof(stdio_fds)))
        result = -SABLE_EFAULT;
    files::File* stdio[3] = {};
    for (unsigned i = 0; result == 0 && i < 3; ++i) {
        IrqLockGuard guard(self->lock);  // other threads may close them meanwhile
        const int32_t fd = stdio_fds[i];
        if (fd < 0 || fd >= SABLE_MAX_FDS || !self->fds[fd]) {
            // The caller's own 0, 1, 2 may be closed; an explicit bad descriptor is an error.
            if (user_stdio) result = -SABLE_EBADF;
            continue;
        }
        stdio[i] = files::retain(self->fds[fd]);
    }
    const programs::Program* program = result == 0 ? programs::find(name) : nullptr;
    if (result == 0 && !program) result = -SABLE_ENOENT;
    if (result < 0) {
        for (files::File* file : stdio)
            if (file) files::release(file);
        kfree(strings);
        return result;
    }
    result = start_process(*program, arguments, stdio, self, false, kstd::CpuMask::all());
    kfree(strings);
    return result;
}

int64_t fork(const arch::TrapFrame* frame) {
    Process* self = current();
    // Copy-on-write promises memory it does not take yet: a write on either side later needs a
    // frame. Refuse a fork that would leave less than a reserve beyond what the parent could
    // copy, so a fork bomb meets ENOMEM in fork while processes that already run still find
    // frames for their copies (else their writes would die of "out of memory").
    constexpr uint64_t kForkReserveFrames = 128;
    if (physical_memory::count(mm::PageState::Free) < kForkReserveFrames + self->user_pages) return -SABLE_ENOMEM;
    files::File* const no_descriptors_yet[3] = {};  // the whole table is copied below
    Process* child = nullptr;
    const int64_t pid = create_process(self->name, self, false, no_descriptors_yet, child);
    if (pid < 0) return pid;
    const bool copied = fork_memory(*self, *child);
    {
        IrqLockGuard guard(self->lock);
        child->break_base = self->break_base;
        child->break_end = self->break_end;
        for (unsigned fd = 0; fd < SABLE_MAX_FDS; ++fd)
            if (self->fds[fd]) child->fds[fd] = files::retain(self->fds[fd]);
    }
    if (!copied) {
        discard(child);
        return -SABLE_ENOMEM;
    }
    // Only the calling thread goes on in the child (as POSIX has it), on the same stack: as its
    // main thread, with the caller's stack slot (whose pages were copied) marked in use.
    const Thread* caller = current_thread();
    child->main_thread.stack_slot = caller->stack_slot;
    if (caller->stack_slot >= 0) child->stack_slots[caller->stack_slot / 64] |= 1ull << (caller->stack_slot % 64);
    // The other threads' stacks came along with the rest of the memory; their threads did not.
    // Drop them, so their slots are free in the child (it is not running yet: no shootdown).
    uint64_t parent_slots[sizeof(self->stack_slots) / sizeof(uint64_t)];
    {
        IrqLockGuard guard(self->lock);
        __builtin_memcpy(parent_slots, self->stack_slots, sizeof(parent_slots));
    }
    if (caller->stack_slot >= 0) parent_slots[caller->stack_slot / 64] &= ~(1ull << (caller->stack_slot % 64));
    for (unsigned word = 0; word < sizeof(parent_slots) / sizeof(uint64_t); ++word) {
        for (uint64_t bits = parent_slots[word]; bits; bits &= bits - 1) {  // the slots in use only
            const unsigned slot = word * 64 + static_cast<unsigned>(__builtin_ctzll(bits));
            const user_memory::StackRegion stack = user_memory::thread_stack_region(slot);
            user_memory::FrameBatch batch;
            for (uint64_t at = stack.bottom; at < stack.top;) {
                at = user_memory::unmap_batch(child->space, at, stack.top, batch);
                child->user_pages -= batch.count;
                user_memory::free_batch(batch);
            }
        }
    }
    const tasks::KernelTask* task = tasks::current();
    const int64_t started = start_thread_task(*child, child->main_thread, build_fork_frame,
                                              const_cast<arch::TrapFrame*>(frame), task->sched.affinity,
                                              /*copy_callers_extended_state=*/true);
    if (started < 0) {
        discard(child);
        return started;
    }
    return pid;
}

void exit_current(int32_t status) {
    begin_ending(*current(), status);
    leave_thread();
}

void kill_current(uint32_t reason, const char* words, uint64_t rip, const char* detail) {
    Process* self = current();
    // Only the thread that decides how the process ends reports it; a thread that faults while
    // the process is ending just leaves.
    if (begin_ending(*self, 256 + static_cast<int32_t>(reason))) {
        char thread[24] = "";
        const Thread* me = current_thread();
        if (me->tid != 1 || self->threads != &self->main_thread || me->next)
            kstd::format_to_buffer(thread, sizeof(thread), " in thread %d", me->tid);
        console::print("[pid %d %s] killed: %s at %p%s%s\n", self->pid, self->name, words, reinterpret_cast<void*>(rip),
                       thread, detail);
    }
    leave_thread();
}

namespace {

struct WaitCondition {
    uint64_t seen;
    Process* parent;
};

bool child_event(void* context) {
    auto* condition = static_cast<WaitCondition*>(context);
    return condition_counter(condition->parent) != condition->seen || current_killed();
}

// waitpid for `parent` (nullptr: the kernel). Returns the pid reaped, 0 (no_hang and none yet)
// or a negative SABLE_E* code.
int64_t wait_for_child(Process* parent, int32_t pid, uint64_t user_status, bool no_hang, int32_t* kernel_status) {
    if (user_status && !user_memory::range_ok(user_status, sizeof(int32_t))) return -SABLE_EFAULT;
    tasks::WaitQueue& events = parent ? parent->child_events : g_kernel_child_events;
    for (;;) {
        Process* found = nullptr;
        bool any_child = false;
        WaitCondition condition{0, parent};
        {
            IrqLockGuard guard(g_table.lock());
            condition.seen = condition_counter(parent);
            g_table.for_each_locked([&](Process* p) {
                if (p->parent != parent || (pid != -1 && p->pid != pid)) return true;
                if (!parent && p->auto_reap) return true;
                any_child = true;
                if (p->state == State::Zombie) found = p;
                return found == nullptr;
            });
        }
        if (!any_child) return -SABLE_ECHILD;
        if (found) {
            // Only the parent collects its zombies, so `found` stays until we take it. Report the
            // status first: a bad pointer leaves the zombie for a retry.
            const int32_t status = found->status;
            if (user_status && !user_memory::copy_to(user_status, &status, sizeof(status))) return -SABLE_EFAULT;
            if (kernel_status) *kernel_status = status;
            const int32_t reaped = found->pid;
            {
                IrqLockGuard guard(g_table.lock());
                g_table.remove_locked(found);
            }
            delete found;
            return reaped;
        }
        if (no_hang) return 0;
        if (current_killed()) return -SABLE_EINTR;
        tasks::block_unless(events, child_event, &condition);
    }
}

}  // namespace

int64_t waitpid(int32_t pid, uint64_t user_status, uint32_t flags) {
    if (flags & ~uint32_t{SABLE_WNOHANG}) return -SABLE_EINVAL;
    return wait_for_child(current(), pid, user_status, flags & SABLE_WNOHANG, nullptr);
}

int32_t kernel_wait(int32_t pid) {
    int32_t status = -1;
    if (wait_for_child(nullptr, pid, 0, false, &status) < 0) return -1;
    return status;
}

int64_t kill(int32_t pid) {
    IrqLockGuard guard(g_table.lock());
    Process* p = g_table.find_locked(pid);
    if (!p) return -SABLE_ESRCH;
    if (p->is_init) return -SABLE_EPERM;
    if (p->state != State::Alive) return 0;  // already dead: nothing to do
    uint32_t none = 0;
    __atomic_compare_exchange_n(&p->kill_reason, &none, SABLE_KILL_SIGNAL, false, __ATOMIC_ACQ_REL, __ATOMIC_RELAXED);
    // Every thread's wait ends; the first back at ring 3 reports the kill and ends the process.
    IrqLockGuard threads_guard(p->lock);
    for (Thread* thread = p->threads; thread; thread = thread->next)
        if (thread->task) tasks::interrupt_wait(thread->task);
    return 0;
}

int64_t brk(uint64_t new_break) {
    Process* self = current();
    if (new_break == 0) return static_cast<int64_t>(self->break_end);
    if (new_break < self->break_base || new_break > user_memory::kHeapLimit) return -SABLE_ENOMEM;
    tasks::MutexGuard map_guard(self->map_lock);
    const uint64_t old_top = align_up(self->break_end), new_top = align_up(new_break);
    // Growing commits nothing: each page is committed at its first touch (resolve_memory_fault),
    // as stack and mmap pages are, so a far break costs no frames and no time. A growth larger
    // than all free memory could never be touched in full: refuse it now, not page by page.
    if (new_top > old_top && (new_top - old_top) / kPageSize > physical_memory::count(mm::PageState::Free))
        return -SABLE_ENOMEM;
    {
        // Under the lock the fault path reads the break with: after a shrink no thread can
        // commit a page above the new break, so the unmap below leaves nothing behind.
        IrqLockGuard guard(self->lock);
        self->break_end = new_break;
    }
    if (new_top < old_top) unmap_range(*self, new_top, old_top);
    return static_cast<int64_t>(new_break);
}

uint32_t state_of(const tasks::KernelTask& task) {  // as process_list and thread_list report it
    switch (task.sched.state) {
    case sched::TaskState::Running: return SABLE_PROC_RUNNING;
    case sched::TaskState::Blocked: return SABLE_PROC_BLOCKED;
    case sched::TaskState::Sleeping: return SABLE_PROC_SLEEPING;
    default: return SABLE_PROC_READY;
    }
}

int64_t process_list(uint64_t user_out, uint64_t max) {
    constexpr uint64_t kMaxReported = kProcessTableSize;
    if (max > kMaxReported) max = kMaxReported;
    if (max && !user_memory::range_ok(user_out, max * sizeof(sable_process_info))) return -SABLE_EFAULT;
    auto* infos = static_cast<sable_process_info*>(kmalloc(sizeof(sable_process_info) * kMaxReported));
    if (!infos) return -SABLE_ENOMEM;
    uint64_t count = 0;
    {
        IrqLockGuard guard(g_table.lock());
        g_table.for_each_locked([&](Process* p) {
            if (count < max) {
                sable_process_info& info = infos[count];
                info = {};
                info.pid = p->pid;
                info.ppid = p->parent ? p->parent->pid : 0;
                info.user_pages = p->user_pages;
                __builtin_memcpy(info.name, p->name, sizeof(info.name));
                if (p->state == State::Zombie) {
                    info.state = SABLE_PROC_ZOMBIE;
                } else {
                    // The process shows its most active thread (running before ready before
                    // waiting) and the ticks of all of them.
                    IrqLockGuard threads_guard(p->lock);
                    info.state = SABLE_PROC_READY;
                    bool first = true;
                    for (const Thread* thread = p->threads; thread; thread = thread->next) {
                        if (!thread->task) continue;
                        info.runtime_ticks += thread->task->sched.runtime_ticks;
                        const uint32_t state = state_of(*thread->task);
                        if (first || state < info.state) {
                            info.state = state;
                            info.cpu = thread->task->sched.cpu;
                        }
                        first = false;
                    }
                }
            }
            ++count;
            return true;
        });
    }
    const uint64_t reported = count < max ? count : max;
    const bool copied = reported == 0 || user_memory::copy_to(user_out, infos, reported * sizeof(sable_process_info));
    kfree(infos);
    return copied ? static_cast<int64_t>(count) : -SABLE_EFAULT;
}

}  // namespace kernel::process

namespace {

// The rare ways out of return_to_user_hook, kept out of its path.
[[noreturn]] __attribute__((noinline, cold)) void end_before_returning(uint64_t rip, bool ending, uint32_t reason) {
    using namespace kernel;
    arch::interrupts_on();  // the exit runs like a system call
    if (ending) process::leave_thread();
    if (reason == 0)
        process::kill_current(SABLE_KILL_GENERAL_PROTECTION, "general protection fault", rip,
                              " (returning to a non-canonical address)");
    process::kill_current(reason, "kill request", rip, "");
}

}  // namespace

extern "C" void return_to_user_hook(arch::TrapFrame* frame) {
    using namespace kernel;
    process::Process* self = process::current();
    if (!self) return;
    const bool ending = __atomic_load_n(&self->ending, __ATOMIC_ACQUIRE) != 0;
    const uint32_t reason = __atomic_load_n(&self->kill_reason, __ATOMIC_ACQUIRE);
    const uint64_t rip = arch::frame_instruction_pointer(frame);
    // A `syscall` in the last bytes of the lower half returns to 2^47 (it, and a fork child's
    // copy of its frame, take this iretq path): a real CPU's iretq raises #GP in ring 0 on a
    // non-canonical RIP, before it leaves the kernel. The program's next fetch would fault
    // anyway, so it ends here, as that fault would end it. Ring 3 runs only in the lower half.
    constexpr uint64_t kLowerHalfEnd = 1ull << 47;
    if (!ending && reason == 0 && rip < kLowerHalfEnd) return;
    end_before_returning(rip, ending, reason);
}

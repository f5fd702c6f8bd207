// sh: the Sable shell. Reads a line, splits it into whitespace-separated words, runs the stages
// of a pipeline (`a | b | c`) connected by pipes, in the foreground or, with a trailing `&`, in
// the background. Builtins (help ps mem cpus kill exit reboot poweroff) run in the shell itself.
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

namespace {

constexpr size_t kLineBytes = 512;
// Every word is at least one byte plus a separator, so a line cannot hold more.
constexpr size_t kMaxWords = kLineBytes / 2 + 1;

// One pipeline, parsed in place in the line buffer.
struct Job {
    // The words of every stage, each stage's list ended by a null: the argv spawn takes.
    const char* argv_storage[2 * kMaxWords];
    const char* const* stage_argv[kMaxWords];
    size_t stage_count;
    bool background;
};

// Pids of background stages other than the last: reaped quietly (only the last is announced).
constexpr size_t kMaxQuiet = 64;
int g_quiet_pids[kMaxQuiet];
size_t g_quiet_count = 0;

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'; }

void status_words(int status, char* out, size_t size) {
    if (SABLE_WIFEXITED(status))
        snprintf(out, size, "%d", SABLE_WEXITSTATUS(status));
    else
        snprintf(out, size, "killed (%s)", sable_kill_reason_string(SABLE_WKILLREASON(status)));
}

bool take_quiet(int pid) {
    for (size_t i = 0; i < g_quiet_count; ++i) {
        if (g_quiet_pids[i] == pid) {
            g_quiet_pids[i] = g_quiet_pids[--g_quiet_count];
            return true;
        }
    }
    return false;
}

// Before each prompt: collect every finished background process without blocking.
void reap_background() {
    for (;;) {
        int status = 0;
        int pid = waitpid(-1, &status, SABLE_WNOHANG);
        if (pid <= 0) return;  // 0: children still running; -1 (ECHILD): none at all
        if (take_quiet(pid)) continue;
        char words[48];
        status_words(status, words, sizeof words);
        printf("[%d] done %s\n", pid, words);
    }
}

// Splits `line` into a Job; `|` and `&` are words of their own even without spaces around them.
// Returns false (after saying why) on a syntax error; an empty line gives stage_count == 0.
bool parse(char* line, Job& job) {
    job.stage_count = 0;
    job.background = false;
    size_t used = 0;        // entries of argv_storage
    size_t stage_start = 0;  // first entry of the stage being collected
    bool ended = false;      // saw '&': nothing may follow
    char* p = line;
    for (;;) {
        while (is_space(*p)) *p++ = '\0';
        if (*p == '\0') break;
        if (ended) {
            dprintf(2, "sh: syntax error: '&' must end the line\n");
            return false;
        }
        if (*p == '|' || *p == '&') {
            const char separator = *p;
            *p++ = '\0';
            if (used == stage_start) {
                dprintf(2, "sh: syntax error: empty command before '%c'\n", separator);
                return false;
            }
            job.argv_storage[used++] = nullptr;
            job.stage_argv[job.stage_count++] = &job.argv_storage[stage_start];
            stage_start = used;
            if (separator == '&') {
                job.background = true;
                ended = true;
            }
            continue;
        }
        job.argv_storage[used++] = p;
        while (*p != '\0' && !is_space(*p) && *p != '|' && *p != '&') ++p;
    }
    if (used != stage_start) {
        job.argv_storage[used++] = nullptr;
        job.stage_argv[job.stage_count++] = &job.argv_storage[stage_start];
    } else if (job.stage_count > 0 && !ended) {
        dprintf(2, "sh: syntax error: '|' at the end of the line\n");
        return false;
    }
    return true;
}

// --- builtins ---------------------------------------------------------------------------------

void builtin_help() {
    printf("builtins: help ps mem cpus kill <pid>... exit [code] reboot poweroff\n");
    printf("syntax:   prog args... [| prog args...]... [&]\n");
    static char names[4096];
    long length = program_list(names, sizeof names - 1);
    if (length < 0) {
        printf("programs: (program_list failed: %s)\n", strerror(errno));
        return;
    }
    if (static_cast<size_t>(length) > sizeof names - 1) length = sizeof names - 1;
    while (length > 0 && names[length - 1] == '\n') --length;
    names[length] = '\0';
    for (long i = 0; i < length; ++i) {
        if (names[i] == '\n') names[i] = ' ';
    }
    printf("programs: %s\n", names);
}

const char* state_word(uint32_t state) {
    switch (state) {
    case SABLE_PROC_RUNNING: return "running";
    case SABLE_PROC_READY: return "ready";
    case SABLE_PROC_BLOCKED: return "blocked";
    case SABLE_PROC_SLEEPING: return "sleeping";
    case SABLE_PROC_ZOMBIE: return "zombie";
    default: return "?";
    }
}

void builtin_ps() {
    constexpr size_t kMaxShown = 256;
    static sable_process_info processes[kMaxShown];
    long count = process_list(processes, kMaxShown);
    if (count < 0) {
        dprintf(2, "sh: ps: %s\n", strerror(errno));
        return;
    }
    const size_t shown = static_cast<size_t>(count) < kMaxShown ? static_cast<size_t>(count)
                                                                 : kMaxShown;
    printf("%5s %5s %-8s %3s %10s %6s %s\n", "PID", "PPID", "STATE", "CPU", "TICKS", "PAGES",
           "NAME");
    // A process with more than one thread gets a line per thread under it (tid, state, CPU).
    constexpr size_t kMaxThreadsShown = 1024;
    static sable_thread_info threads[kMaxThreadsShown];
    long thread_count = thread_list(threads, kMaxThreadsShown);
    if (thread_count < 0) thread_count = 0;
    const size_t threads_shown =
        static_cast<size_t>(thread_count) < kMaxThreadsShown ? static_cast<size_t>(thread_count) : kMaxThreadsShown;
    for (size_t i = 0; i < shown; ++i) {
        const sable_process_info& p = processes[i];
        printf("%5d %5d %-8s %3u %10lu %6lu %.*s\n", p.pid, p.ppid, state_word(p.state), p.cpu, p.runtime_ticks,
               p.user_pages, static_cast<int>(SABLE_MAX_NAME), p.name);
        size_t of_process = 0;
        for (size_t t = 0; t < threads_shown; ++t) of_process += threads[t].pid == p.pid;
        if (of_process < 2) continue;
        for (size_t t = 0; t < threads_shown; ++t) {
            const sable_thread_info& thread = threads[t];
            if (thread.pid != p.pid) continue;
            printf("%5s %5s %-8s %3u %10lu %6s   thread %d\n", "", "", state_word(thread.state), thread.cpu,
                   thread.runtime_ticks, "", thread.tid);
        }
    }
    if (shown < static_cast<size_t>(count))
        printf("(%ld processes, %zu shown)\n", count, shown);
}

void builtin_mem() {
    sable_meminfo info;
    if (meminfo(&info) < 0) {
        dprintf(2, "sh: mem: %s\n", strerror(errno));
        return;
    }
    const uint64_t free_mib = info.free * info.page_size / (1024 * 1024);
    printf(
        "free=%lu kernel=%lu stack=%lu heap=%lu pagetable=%lu user=%lu firmware=%lu "
        "absent=%lu (%lu MiB free; %lu user frames shared copy-on-write or by MAP_SHARED)\n",
        info.free, info.kernel, info.stack, info.heap, info.page_table, info.user, info.firmware, info.absent,
        free_mib, info.shared);
}

void builtin_cpus() {
    constexpr size_t kMaxCpusListed = 64;
    static sable_cpu_info cpus[kMaxCpusListed];
    long count = cpu_info(cpus, kMaxCpusListed);
    if (count < 0) {
        dprintf(2, "sh: cpus: %s\n", strerror(errno));
        return;
    }
    const size_t shown = static_cast<size_t>(count) < kMaxCpusListed ? static_cast<size_t>(count)
                                                                : kMaxCpusListed;
    for (size_t i = 0; i < shown; ++i) {
        printf("cpu %u: apic=%u ticks=%lu ready=%lu %s\n", cpus[i].index, cpus[i].apic_id, cpus[i].ticks,
               cpus[i].ready_tasks, cpus[i].idle != 0 ? "idle" : "busy");
    }
}

void builtin_kill(const char* const* argv) {
    if (argv[1] == nullptr) {
        dprintf(2, "usage: kill <pid>...\n");
        return;
    }
    for (size_t i = 1; argv[i] != nullptr; ++i) {
        char* end;
        long pid = strtol(argv[i], &end, 10);
        if (*end != '\0' || end == argv[i] || pid <= 0 || pid > 0x7fffffff) {
            dprintf(2, "sh: kill: %s: not a pid\n", argv[i]);
            continue;
        }
        if (kill(static_cast<int>(pid)) < 0) dprintf(2, "sh: kill: %ld: %s\n", pid, strerror(errno));
    }
}

// reboot and poweroff: the call returns only if it was refused.
void builtin_reboot(const char* name, int how) {
    reboot(how);
    dprintf(2, "sh: %s: %s\n", name, strerror(errno));
}

// Runs argv as a builtin if it names one; false if it does not.
bool run_builtin(const char* const* argv) {
    const char* name = argv[0];
    if (strcmp(name, "help") == 0) {
        builtin_help();
    } else if (strcmp(name, "ps") == 0) {
        builtin_ps();
    } else if (strcmp(name, "mem") == 0) {
        builtin_mem();
    } else if (strcmp(name, "cpus") == 0) {
        builtin_cpus();
    } else if (strcmp(name, "kill") == 0) {
        builtin_kill(argv);
    } else if (strcmp(name, "exit") == 0) {
        exit(argv[1] != nullptr ? atoi(argv[1]) : 0);
    } else if (strcmp(name, "reboot") == 0) {
        builtin_reboot(name, SABLE_REBOOT_RESTART);
    } else if (strcmp(name, "poweroff") == 0) {
        builtin_reboot(name, SABLE_REBOOT_POWER_OFF);
    } else {
        return false;
    }
    return true;
}

bool is_builtin(const char* name) {
    static const char* const builtins[] = {"help", "ps", "mem", "cpus", "kill", "exit", "reboot", "poweroff"};
    for (const char* builtin : builtins) {
        if (strcmp(name, builtin) == 0) return true;
    }
    return false;
}

// --- pipelines --------------------------------------------------------------------------------

void report_spawn_error(const char* name) {
    if (errno == ENOENT)
        dprintf(2, "sh: %s: no such program\n", name);
    else
        dprintf(2, "sh: %s: %s\n", name, strerror(errno));
}

// Starts every stage, stage i's stdout feeding stage i+1's stdin. Each pipe is made just before
// the stage that writes it and both its ends are closed in the shell as soon as the stages using
// them exist, so the shell holds at most three pipe descriptors whatever the stage count (it has
// SABLE_MAX_FDS in all), and a reader sees end of file once its writer exits.
void run_job(const Job& job) {
    static int pids[kMaxWords];
    int previous_read = -1;  // read end of the pipe from the stage before
    for (size_t i = 0; i < job.stage_count; ++i) {
        const char* const* argv = job.stage_argv[i];
        int next[2] = {-1, -1};
        pids[i] = -1;
        const bool last = i + 1 == job.stage_count;
        if (!last && pipe(next) < 0) {
            dprintf(2, "sh: pipe: %s\n", strerror(errno));
            if (previous_read >= 0) close(previous_read);
            previous_read = -1;
            // Stages already started see end of file / a broken pipe and finish on their own.
            for (size_t j = i; j < job.stage_count; ++j) pids[j] = -1;
            break;
        }
        if (is_builtin(argv[0])) {
            dprintf(2, "sh: %s: a builtin cannot be part of a pipeline\n", argv[0]);
        } else {
            const int stdio[3] = {i == 0 ? 0 : previous_read, last ? 1 : next[1], 2};
            pids[i] = spawn(argv[0], argv, stdio);
            if (pids[i] < 0) report_spawn_error(argv[0]);
        }
        if (previous_read >= 0) close(previous_read);
        if (next[1] >= 0) close(next[1]);
        previous_read = next[0];
    }
    if (previous_read >= 0) close(previous_read);

    if (job.background) {
        int announced = -1;
        for (size_t i = 0; i < job.stage_count; ++i) {
            if (pids[i] < 0) continue;
            if (i + 1 == job.stage_count)
                announced = pids[i];
            else if (g_quiet_count < kMaxQuiet)
                g_quiet_pids[g_quiet_count++] = pids[i];
        }
        if (announced > 0) printf("[%d]\n", announced);
        return;
    }
    for (size_t i = 0; i < job.stage_count; ++i) {
        if (pids[i] < 0) continue;
        int status = 0;
        if (waitpid(pids[i], &status, 0) < 0) {
            dprintf(2, "sh: waitpid %d: %s\n", pids[i], strerror(errno));
            continue;
        }
        if (SABLE_WIFKILLED(status))
            dprintf(2, "sh: %s (pid %d): killed (%s)\n", job.stage_argv[i][0], pids[i],
                    sable_kill_reason_string(SABLE_WKILLREASON(status)));
    }
}

// Drops the rest of a line longer than the buffer, up to and including its '\n'.
bool discard_rest_of_line(char* line) {
    for (;;) {
        long length = read_line(0, line, kLineBytes);
        if (length <= 0) return false;
        if (line[length - 1] == '\n') return true;
    }
}

}  // namespace

int main(int, char**) {
    static char line[kLineBytes];
    static Job job;
    for (;;) {
        reap_background();
        write(1, "sable$ ", 7);
        long length = read_line(0, line, sizeof line);
        if (length == 0) {
            write(1, "\n", 1);  // end of input (Ctrl-D): leave the prompt line tidy
            return 0;
        }
        if (length < 0) {
            dprintf(2, "sh: read: %s\n", strerror(errno));
            return 1;
        }
        if (line[length - 1] != '\n' && static_cast<size_t>(length) == sizeof line - 1) {
            dprintf(2, "sh: line longer than %zu bytes ignored\n", sizeof line - 2);
            if (!discard_rest_of_line(line)) return 0;
            continue;
        }
        if (!parse(line, job) || job.stage_count == 0) continue;
        if (job.stage_count == 1 && run_builtin(job.stage_argv[0])) continue;
        run_job(job);
    }
}

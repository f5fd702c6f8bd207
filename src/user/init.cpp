// init, pid 1: keeps a shell on the console and reaps every child, including the orphans the
// kernel re-parents to it. It never exits.
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

namespace {

constexpr uint64_t kRetryDelayMs = 1000;  // after a failed spawn: do not spin on the console

void describe_status(int status, char* out, size_t size) {
    if (SABLE_WIFEXITED(status))
        snprintf(out, size, "exit %d", SABLE_WEXITSTATUS(status));
    else
        snprintf(out, size, "killed (%s)", sable_kill_reason_string(SABLE_WKILLREASON(status)));
}

}  // namespace

int main(int, char**) {
    const char* const shell_argv[] = {"sh", nullptr};
    printf("init: pid %d, starting sh\n", getpid());
    for (;;) {
        int shell = spawn("sh", shell_argv, nullptr);  // stdio: init's own 0, 1, 2
        if (shell < 0) {
            dprintf(2, "init: cannot start sh: %s; retrying\n", strerror(errno));
            int status;
            while (waitpid(-1, &status, SABLE_WNOHANG) > 0) {
            }
            sleep_ms(kRetryDelayMs);
            continue;
        }
        for (;;) {
            int status = 0;
            int pid = waitpid(-1, &status, 0);
            if (pid == shell) {
                char words[48];
                describe_status(status, words, sizeof words);
                printf("init: sh (pid %d) ended: %s; starting a new one\n", shell, words);
                break;
            }
            // Any other pid is an orphan reaped; nothing to say. ECHILD cannot happen while the
            // shell lives, but if it does, start a shell rather than wait forever.
            if (pid < 0 && errno == ECHILD) break;
        }
    }
}

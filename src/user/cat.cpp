// cat: copies standard input to standard output until end of file. Sable has no file system, so
// file arguments are an error.
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char** argv) {
    if (argc > 1) {
        for (int i = 1; i < argc; ++i)
            dprintf(2, "cat: %s: no file system (cat copies standard input only)\n", argv[i]);
        return 1;
    }
    static char buffer[4096];
    for (;;) {
        ssize_t got = read(0, buffer, sizeof buffer);
        if (got == 0) return 0;
        if (got < 0) {
            dprintf(2, "cat: read: %s\n", strerror(errno));
            return 1;
        }
        for (ssize_t done = 0; done < got;) {
            ssize_t written = write(1, buffer + done, static_cast<size_t>(got - done));
            if (written <= 0) {
                // EPIPE: the reader went away, which ends a pipeline quietly.
                if (errno != EPIPE) dprintf(2, "cat: write: %s\n", strerror(errno));
                return 1;
            }
            done += written;
        }
    }
}

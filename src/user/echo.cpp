// echo: prints its arguments joined by single spaces and a newline, in one write.
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char** argv) {
    size_t total = 1;  // the newline
    for (int i = 1; i < argc; ++i) total += strlen(argv[i]) + 1;
    char* line = static_cast<char*>(malloc(total));
    if (line == nullptr) return 1;
    size_t used = 0;
    for (int i = 1; i < argc; ++i) {
        if (i > 1) line[used++] = ' ';
        size_t length = strlen(argv[i]);
        memcpy(line + used, argv[i], length);
        used += length;
    }
    line[used++] = '\n';
    // Short writes (a nearly full pipe) continue where they stopped.
    for (size_t done = 0; done < used;) {
        ssize_t written = write(1, line + done, used - done);
        if (written <= 0) return 1;
        done += static_cast<size_t>(written);
    }
    return 0;
}

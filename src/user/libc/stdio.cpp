// Formatted output on descriptors through the kernel's shared formatter (src/lib/format.cpp),
// and read_line. See stdio.h for the buffering rule: nothing outlives a call.
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "lib/format.hpp"

namespace {

// Writes all of [data, data + length), looping over short writes (a pipe may take part).
bool write_all(int fd, const char* data, size_t length) {
    while (length > 0) {
        ssize_t written = write(fd, data, length);
        if (written <= 0) return false;
        data += written;
        length -= static_cast<size_t>(written);
    }
    return true;
}

// Collects one call's output and writes it in as few writes as the buffer allows.
class DescriptorSink final : public kstd::FormatSink {
public:
    explicit DescriptorSink(int fd) : m_fd(fd) {}
    void put(char c) override {
        if (m_used == sizeof m_buffer) flush();
        m_buffer[m_used++] = c;
    }
    void flush() {
        if (m_used != 0 && !write_all(m_fd, m_buffer, m_used)) m_failed = true;
        m_used = 0;
    }
    bool failed() const { return m_failed; }

private:
    int m_fd;
    size_t m_used = 0;
    bool m_failed = false;  // a write failed: the call returns -1 (errno from write)
    char m_buffer[512];
};

}  // namespace

extern "C" {

int vdprintf(int fd, const char* format, va_list args) {
    DescriptorSink sink(fd);
    size_t count = kstd::vformat(sink, format, args);
    sink.flush();
    return sink.failed() ? -1 : static_cast<int>(count);
}

int dprintf(int fd, const char* format, ...) {
    va_list args;
    va_start(args, format);
    int count = vdprintf(fd, format, args);
    va_end(args);
    return count;
}

int vprintf(const char* format, va_list args) { return vdprintf(1, format, args); }

int printf(const char* format, ...) {
    va_list args;
    va_start(args, format);
    int count = vdprintf(1, format, args);
    va_end(args);
    return count;
}

int vsnprintf(char* buffer, size_t size, const char* format, va_list args) {
    return static_cast<int>(kstd::vformat_to_buffer(buffer, size, format, args));
}

int snprintf(char* buffer, size_t size, const char* format, ...) {
    va_list args;
    va_start(args, format);
    int count = vsnprintf(buffer, size, format, args);
    va_end(args);
    return count;
}

int putchar(int c) {
    char byte = static_cast<char>(c);
    return write_all(1, &byte, 1) ? static_cast<unsigned char>(byte) : EOF;
}

int puts(const char* s) { return dprintf(1, "%s\n", s) < 0 ? EOF : 1; }

// Bytes read past the end of a line, per descriptor, for the next read_line on it.
struct LineBuffer {
    char data[512];
    size_t start;  // first byte not yet returned
    size_t end;    // one past the last byte read
};
static LineBuffer g_line_buffers[SABLE_MAX_FDS];

long read_line(int fd, char* buf, size_t n) {
    if (buf == nullptr || n == 0) {
        errno = EINVAL;
        return -1;
    }
    if (fd < 0 || fd >= SABLE_MAX_FDS) {
        errno = EBADF;
        return -1;
    }
    LineBuffer& line = g_line_buffers[fd];
    size_t stored = 0;
    for (;;) {
        while (line.start < line.end && stored + 1 < n) {
            const char c = line.data[line.start++];
            buf[stored++] = c;
            if (c == '\n') {
                buf[stored] = '\0';
                return static_cast<long>(stored);
            }
        }
        if (stored + 1 >= n) break;  // caller's buffer full: the rest comes next call
        ssize_t got = read(fd, line.data, sizeof line.data);
        line.start = 0;
        line.end = 0;
        if (got < 0) {
            if (stored == 0) return -1;
            break;  // hand over what we have; the error repeats on the next call
        }
        if (got == 0) break;  // end of file: a last line without '\n', or 0
        line.end = static_cast<size_t>(got);
    }
    buf[stored] = '\0';
    return static_cast<long>(stored);
}

}  // extern "C"

#include "child_process.hpp"

#include <sys/prctl.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <csignal>

namespace amb::ipc_anchors {

pid_t fork_serving(const std::function<int()>& serve) {
    const pid_t parent = getpid();
    const pid_t child = fork();
    if (child != 0)
        return child;
    // An orphaned server would wait forever on descriptors nobody writes.
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent)
        _exit(2);
    int status = 1;
    try {
        status = serve();
    } catch (...) {
        status = 1;
    }
    _exit(status);
}

bool reap(pid_t child) {
    int status = 0;
    pid_t ended;
    do {
        ended = waitpid(child, &status, 0);
    } while (ended < 0 && errno == EINTR);
    return ended == child && WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

bool read_exact(int fd, std::span<std::uint8_t> out) {
    while (!out.empty()) {
        const ssize_t got = read(fd, out.data(), out.size());
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0)
            return false;
        out = out.subspan(static_cast<std::size_t>(got));
    }
    return true;
}

bool write_all(int fd, std::span<const std::span<const std::uint8_t>> parts) {
    // On the stack: the pipe anchor's timed path allocates nothing.
    std::array<iovec, max_write_parts> vectors;
    std::size_t count = 0;
    for (std::span<const std::uint8_t> part : parts) {
        if (part.empty())
            continue;
        if (count == vectors.size())
            return false;
        vectors[count++] = {const_cast<std::uint8_t*>(part.data()), part.size()};
    }
    std::size_t first = 0;
    while (first < count) {
        const ssize_t wrote = writev(fd, vectors.data() + first, static_cast<int>(count - first));
        if (wrote < 0 && errno == EINTR)
            continue;
        if (wrote <= 0)
            return false;
        // Drop what went out: whole vectors, then the front of a partly written one.
        auto left = static_cast<std::size_t>(wrote);
        while (first < count && left >= vectors[first].iov_len) {
            left -= vectors[first].iov_len;
            ++first;
        }
        if (first < count) {
            vectors[first].iov_base = static_cast<std::uint8_t*>(vectors[first].iov_base) + left;
            vectors[first].iov_len -= left;
        }
    }
    return true;
}

bool signal_eventfd(int fd, std::uint64_t count) {
    ssize_t wrote;
    do {
        wrote = write(fd, &count, sizeof count);
    } while (wrote < 0 && errno == EINTR);
    return wrote == sizeof count;
}

std::uint64_t wait_eventfd(int fd) {
    std::uint64_t count = 0;
    ssize_t got;
    do {
        got = read(fd, &count, sizeof count);
    } while (got < 0 && errno == EINTR);
    return got == sizeof count ? count : 0;
}

} // namespace amb::ipc_anchors

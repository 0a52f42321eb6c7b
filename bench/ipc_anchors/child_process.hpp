// Private helpers of the ipc anchors: forking a serving child, reaping it, and whole reads and
// writes on blocking file descriptors (retrying after EINTR and partial transfers).
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>

namespace amb::ipc_anchors {

// Forks a child that runs `serve` and exits with its result through _exit (so the parent's
// atexit handlers and static destructors never run twice); an exception escaping `serve` exits
// with 1. The child is killed if this process dies first (PR_SET_PDEATHSIG). Returns the child's
// pid, or -1 with errno set when fork fails.
pid_t fork_serving(const std::function<int()>& serve);

// Waits for the child to end. True when it exited with status 0.
bool reap(pid_t child);

// Reads exactly out.size() bytes. False on end of file or error.
bool read_exact(int fd, std::span<std::uint8_t> out);

// Writes all of every part (at most max_write_parts non-empty ones, else false), in order, with
// as few system calls as the kernel allows.
inline constexpr std::size_t max_write_parts = 4;
bool write_all(int fd, std::span<const std::span<const std::uint8_t>> parts);

// An eventfd's counter: signal adds count, wait takes the whole counter (blocking until it is
// non-zero). wait returns 0 on error.
bool signal_eventfd(int fd, std::uint64_t count);
std::uint64_t wait_eventfd(int fd);

} // namespace amb::ipc_anchors

// Shared memory between the processes of a hosted node (DESIGN.md §8, docs/hosted.md).
//
// `shared_region` is an anonymous memory file (memfd) of a fixed size, mapped read-write into
// this process. The supervisor creates one per group before forking; the group process maps the
// same file again from its descriptor number (`map`), possibly at another address, which is why
// everything placed in it (the ring region) uses offsets only. `unique_fd` owns one descriptor.
//
//     auto region = hosted::node::shared_region::create(size);   // result<shared_region, errno>
//     int fd = region->fd();                                      // ... in the child:
//     auto again = hosted::node::shared_region::map(unique_fd(fd), size);
//
// Both are move-only owners: destruction unmaps and closes. Errors are the errno of the call
// that failed. Not thread-safe (one owner), but the mapped bytes may be used from any thread or
// process; whatever a peer wrote there must be validated before use.
#pragma once

#include <base/result.hpp>

#include <cstddef>
#include <span>
#include <utility>

namespace amb::hosted::node {

/// Owns one file descriptor (-1 when empty) and closes it on destruction.
class unique_fd {
public:
    unique_fd() = default;
    explicit unique_fd(int fd) noexcept : fd_(fd) {}
    unique_fd(unique_fd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
    unique_fd& operator=(unique_fd&& other) noexcept {
        if (this != &other) {
            reset();
            fd_ = std::exchange(other.fd_, -1);
        }
        return *this;
    }
    unique_fd(const unique_fd&) = delete;
    unique_fd& operator=(const unique_fd&) = delete;
    ~unique_fd() { reset(); }

    int get() const noexcept { return fd_; }
    explicit operator bool() const noexcept { return fd_ >= 0; }
    /// Closes the descriptor (if any).
    void reset() noexcept;
    /// Gives up ownership without closing.
    int release() noexcept { return std::exchange(fd_, -1); }

private:
    int fd_ = -1;
};

/// Clears FD_CLOEXEC on `fd` so that it survives an exec in a child. Error: errno.
result<void, int> keep_across_exec(int fd) noexcept;

/// A memfd mapped read-write (MAP_SHARED) into this process.
class shared_region {
public:
    /// Creates a memfd of `size` bytes (zero-filled, MFD_CLOEXEC) and maps it. EINVAL for a size
    /// of zero; otherwise the errno of memfd_create, ftruncate or mmap.
    static result<shared_region, int> create(std::size_t size) noexcept;

    /// Maps the memfd `fd` (taking ownership) read-write, for instance in a child that received
    /// the descriptor number. `size` is what the caller expects; EINVAL if the file is smaller
    /// (a peer cannot make us map past its end), otherwise the errno of fstat or mmap.
    static result<shared_region, int> map(unique_fd fd, std::size_t size) noexcept;

    /// Maps the memfd `fd` (taking ownership) read-only (PROT_READ) and closes `fd`: the view
    /// keeps no descriptor (fd() is -1), because any memfd descriptor, even one opened
    /// read-only, can be reopened read-write through /proc/self/fd. The mapping itself can never
    /// be made writable when `fd` came from `open_readonly`.
    static result<shared_region, int> map_readonly(unique_fd fd, std::size_t size) noexcept;

    /// A new descriptor of the same memfd opened read-only (through /proc/self/fd), to give a
    /// process that must read the region but never write it. Error: errno.
    result<unique_fd, int> open_readonly() const noexcept;

    /// An empty region (no mapping, no descriptor).
    shared_region() = default;
    shared_region(shared_region&& other) noexcept;
    shared_region& operator=(shared_region&& other) noexcept;
    shared_region(const shared_region&) = delete;
    shared_region& operator=(const shared_region&) = delete;
    ~shared_region() { reset(); }

    /// The mapped bytes (page-aligned). Empty after reset or a move.
    std::span<std::byte> bytes() const noexcept { return {base_, size_}; }
    /// The memfd's descriptor number, to hand to a child (-1 when empty).
    int fd() const noexcept { return fd_.get(); }
    /// Clears FD_CLOEXEC so that the descriptor survives an exec in a child.
    result<void, int> share_with_child() const noexcept { return keep_across_exec(fd_.get()); }
    /// Unmaps and closes.
    void reset() noexcept;

private:
    static result<shared_region, int> map_with(unique_fd fd, std::size_t size,
                                               bool writable) noexcept;
    shared_region(unique_fd fd, std::byte* base, std::size_t size) noexcept
        : fd_(std::move(fd)), base_(base), size_(size) {}

    unique_fd fd_;
    std::byte* base_ = nullptr;
    std::size_t size_ = 0;
};

}  // namespace amb::hosted::node

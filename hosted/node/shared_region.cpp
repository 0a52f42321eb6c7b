#include <hosted/node/shared_region.hpp>

#include <cerrno>
#include <cstdio>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

namespace amb::hosted::node {

void unique_fd::reset() noexcept {
    if (fd_ >= 0)
        ::close(fd_);
    fd_ = -1;
}

result<void, int> keep_across_exec(int fd) noexcept {
    int flags = ::fcntl(fd, F_GETFD);
    if (flags < 0 || ::fcntl(fd, F_SETFD, flags & ~FD_CLOEXEC) < 0)
        return failure{errno};
    return {};
}

namespace {

result<std::byte*, int> map_shared(int fd, std::size_t size, bool writable = true) noexcept {
    void* base =
        ::mmap(nullptr, size, writable ? PROT_READ | PROT_WRITE : PROT_READ, MAP_SHARED, fd, 0);
    if (base == MAP_FAILED)
        return failure{errno};
    return static_cast<std::byte*>(base);
}

}  // namespace

result<shared_region, int> shared_region::create(std::size_t size) noexcept {
    if (size == 0)
        return failure{EINVAL};
    unique_fd fd(::memfd_create("amb-shared-region", MFD_CLOEXEC));
    if (!fd)
        return failure{errno};
    if (::ftruncate(fd.get(), static_cast<off_t>(size)) < 0)
        return failure{errno};
    auto base = map_shared(fd.get(), size);
    if (!base)
        return failure{base.error()};
    return shared_region(std::move(fd), *base, size);
}

result<shared_region, int> shared_region::map(unique_fd fd, std::size_t size) noexcept {
    return map_with(std::move(fd), size, true);
}

result<shared_region, int> shared_region::map_readonly(unique_fd fd, std::size_t size) noexcept {
    return map_with(std::move(fd), size, false);
}

result<unique_fd, int> shared_region::open_readonly() const noexcept {
    if (!fd_)
        return failure{EBADF};
    // Reopening the memfd through /proc gives a descriptor of the same file without write
    // access: whoever holds only this one cannot map it writable (mmap and mprotect fail).
    char path[64];
    std::snprintf(path, sizeof path, "/proc/self/fd/%d", fd_.get());
    unique_fd readonly(::open(path, O_RDONLY | O_CLOEXEC));
    if (!readonly)
        return failure{errno};
    return readonly;
}

result<shared_region, int> shared_region::map_with(unique_fd fd, std::size_t size,
                                                   bool writable) noexcept {
    if (size == 0 || !fd)
        return failure{EINVAL};
    struct stat status {};
    if (::fstat(fd.get(), &status) < 0)
        return failure{errno};
    if (status.st_size < 0 || static_cast<std::size_t>(status.st_size) < size)
        return failure{EINVAL};
    auto base = map_shared(fd.get(), size, writable);
    if (!base)
        return failure{base.error()};
    // A read-only view keeps no descriptor: a memfd descriptor opened read-only can be reopened
    // read-write through /proc/self/fd, so holding one would undo the protection. The mapping
    // alone keeps the memory.
    if (!writable)
        fd.reset();
    return shared_region(std::move(fd), *base, size);
}

shared_region::shared_region(shared_region&& other) noexcept
    : fd_(std::move(other.fd_)),
      base_(std::exchange(other.base_, nullptr)),
      size_(std::exchange(other.size_, 0)) {}

shared_region& shared_region::operator=(shared_region&& other) noexcept {
    if (this != &other) {
        reset();
        fd_ = std::move(other.fd_);
        base_ = std::exchange(other.base_, nullptr);
        size_ = std::exchange(other.size_, 0);
    }
    return *this;
}

void shared_region::reset() noexcept {
    if (base_ != nullptr)
        ::munmap(base_, size_);
    base_ = nullptr;
    size_ = 0;
    fd_.reset();
}

}  // namespace amb::hosted::node

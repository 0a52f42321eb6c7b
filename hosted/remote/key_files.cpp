#include <hosted/remote/key_files.hpp>

#include <crypto/crypto.hpp>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace amb::hosted::remote {

const char* describe(key_file_error error) {
    switch (error) {
    case key_file_error::cannot_open:
        return "cannot open the file";
    case key_file_error::exists:
        return "the file exists (refusing to overwrite a key)";
    case key_file_error::insecure_permissions:
        return "the file is accessible to group or others";
    case key_file_error::bad_size:
        return "the file has the wrong size";
    case key_file_error::io_error:
        return "read or write failed";
    case key_file_error::random_unavailable:
        return "no randomness available";
    }
    return "unknown key file error";
}

result<void, key_file_error> write_private_file(const std::string& path,
                                                std::span<const std::uint8_t> bytes) {
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0)
        return failure{errno == EEXIST ? key_file_error::exists : key_file_error::cannot_open};
    // The umask can only remove bits; set the mode explicitly anyway.
    bool ok = ::fchmod(fd, 0600) == 0;
    std::size_t written = 0;
    while (ok && written < bytes.size()) {
        ssize_t n = ::write(fd, bytes.data() + written, bytes.size() - written);
        if (n < 0 && errno == EINTR)
            continue;
        ok = n > 0;
        if (ok)
            written += static_cast<std::size_t>(n);
    }
    ok = ok && ::fsync(fd) == 0;
    ::close(fd);
    if (!ok) {
        ::unlink(path.c_str());
        return failure{key_file_error::io_error};
    }
    return {};
}

result<std::vector<std::uint8_t>, key_file_error> read_private_file(const std::string& path,
                                                                    std::size_t max_size) {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return failure{key_file_error::cannot_open};
    struct stat info {};
    if (::fstat(fd, &info) != 0) {
        ::close(fd);
        return failure{key_file_error::io_error};
    }
    if ((info.st_mode & 077) != 0) {
        ::close(fd);
        return failure{key_file_error::insecure_permissions};
    }
    if (info.st_size <= 0 || static_cast<std::size_t>(info.st_size) > max_size) {
        ::close(fd);
        return failure{key_file_error::bad_size};
    }
    std::vector<std::uint8_t> bytes(static_cast<std::size_t>(info.st_size));
    std::size_t got = 0;
    while (got < bytes.size()) {
        ssize_t n = ::read(fd, bytes.data() + got, bytes.size() - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        got += static_cast<std::size_t>(n);
    }
    ::close(fd);
    if (got != bytes.size())
        return failure{key_file_error::io_error};
    return bytes;
}

result<void, key_file_error> create_deployment_key(const std::string& path) {
    caplets::secret_key key;
    if (!crypto::random_bytes(key.bytes))
        return failure{key_file_error::random_unavailable};
    return write_private_file(path, key.bytes);
}

result<void, key_file_error> read_secret_key(const std::string& path, caplets::secret_key& out) {
    auto bytes = read_private_file(path, 64);
    if (!bytes)
        return failure{bytes.error()};
    if (bytes->size() != out.bytes.size()) {
        crypto::secure_zero(*bytes);
        return failure{key_file_error::bad_size};
    }
    std::memcpy(out.bytes.data(), bytes->data(), out.bytes.size());
    crypto::secure_zero(*bytes);
    return {};
}

} // namespace amb::hosted::remote

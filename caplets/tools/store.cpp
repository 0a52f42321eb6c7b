#include "store.hpp"

#include "text.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <fstream>
#include <sstream>

namespace caplets::store {
namespace {

std::string directory_of(const std::string& path) {
    std::size_t slash = path.find_last_of('/');
    if (slash == std::string::npos)
        return ".";
    return slash == 0 ? "/" : path.substr(0, slash);
}

// Parses "HEX NUMBER" lines into (32-byte key, number) pairs.
template <class Each>
bool parse_lines(const std::string& path, Each each, std::string& error) {
    std::ifstream in(path);
    if (!in) {
        if (errno == ENOENT)
            return true;
        error = "cannot read " + path + ": " + std::strerror(errno);
        return false;
    }
    std::string line;
    int number = 0;
    while (std::getline(in, line)) {
        ++number;
        if (line.empty())
            continue;
        std::size_t space = line.find(' ');
        auto key = text::from_hex(std::string_view(line).substr(0, space));
        std::uint64_t value = 0;
        const char* begin = space == std::string::npos ? nullptr : line.data() + space + 1;
        auto parsed = begin ? std::from_chars(begin, line.data() + line.size(), value)
                            : std::from_chars_result{nullptr, std::errc::invalid_argument};
        if (!key || key->size() != 32 || parsed.ec != std::errc() ||
            parsed.ptr != line.data() + line.size()) {
            error = path + ":" + std::to_string(number) + ": expected 64 hex digits, a space and a number";
            return false;
        }
        tag_bytes tag;
        std::memcpy(tag.data(), key->data(), 32);
        if (!each(tag, value)) {
            error = path + ":" + std::to_string(number) + ": too many entries";
            return false;
        }
    }
    return true;
}

}  // namespace

bool atomic_write(const std::string& path, const std::string& content, std::string& error) {
    // The temporary file gets an unpredictable name and is created exclusively (O_EXCL: never an
    // existing file, never through a symbolic link), so someone who can write to the directory
    // cannot make us write the state through a link they planted into a file of their choice.
    std::string temporary = path + ".tmp.XXXXXX";
    int fd = ::mkostemp(temporary.data(), O_CLOEXEC);
    if (fd < 0) {
        error = "cannot create a temporary file beside " + path + ": " + std::strerror(errno);
        return false;
    }
    std::size_t done = 0;
    while (done < content.size()) {
        ssize_t written = ::write(fd, content.data() + done, content.size() - done);
        if (written < 0 && errno == EINTR)
            continue;
        if (written <= 0) {
            error = "cannot write " + temporary + ": " + std::strerror(errno);
            ::close(fd);
            ::unlink(temporary.c_str());
            return false;
        }
        done += static_cast<std::size_t>(written);
    }
    if (::fsync(fd) != 0 || ::close(fd) != 0) {
        error = "cannot flush " + temporary + ": " + std::strerror(errno);
        ::unlink(temporary.c_str());
        return false;
    }
    if (::rename(temporary.c_str(), path.c_str()) != 0) {
        error = "cannot replace " + path + ": " + std::strerror(errno);
        ::unlink(temporary.c_str());
        return false;
    }
    int directory = ::open(directory_of(path).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (directory >= 0) {
        ::fsync(directory);
        ::close(directory);
    }
    return true;
}

bool load_revocations(const std::string& path, revocation_list& out, std::string& error) {
    return parse_lines(
        path, [&](const tag_bytes& tag, std::uint64_t expires) { return out.add(tag, expires, 0); },
        error);
}

bool save_revocations(const std::string& path, const revocation_list& list, std::string& error) {
    std::string content;
    for (const revocation_list::entry& e : list.entries())
        content += text::to_hex(e.tag) + " " + std::to_string(e.expires) + "\n";
    return atomic_write(path, content, error);
}

file_sequence_store::file_sequence_store(std::string path) : path_(std::move(path)) {
    parse_lines(
        path_,
        [&](const tag_bytes& holder, std::uint64_t number) {
            numbers_[holder] = number;
            return true;
        },
        error_);
}

std::uint64_t file_sequence_store::last(const tag_bytes& holder) {
    auto found = numbers_.find(holder);
    return found == numbers_.end() ? 0 : found->second;
}

bool file_sequence_store::record(const tag_bytes& holder, std::uint64_t number) {
    std::uint64_t previous = last(holder);
    numbers_[holder] = number;
    std::string content;
    for (const auto& [key, value] : numbers_)
        content += text::to_hex(key) + " " + std::to_string(value) + "\n";
    if (!atomic_write(path_, content, error_)) {
        numbers_[holder] = previous;  // memory and disk stay in agreement
        return false;
    }
    return true;
}

}  // namespace caplets::store

#include "store.hpp"

#include "text.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <crypto/crypto.hpp>

#include <algorithm>
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
            error = path + ":" + std::to_string(number) +
                    ": expected 64 hex digits, a space and a number";
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

} // namespace

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
    std::ifstream in(path_);
    if (!in) {
        if (errno != ENOENT)
            error_ = "cannot read " + path_ + ": " + std::strerror(errno);
        return;
    }
    std::string line;
    int line_number = 0;
    auto tag_of = [](std::string_view hex, tag_bytes& out) {
        auto bytes = text::from_hex(hex);
        if (!bytes || bytes->size() != out.size())
            return false;
        std::memcpy(out.data(), bytes->data(), out.size());
        return true;
    };
    auto number_of = [](std::string_view digits, std::uint64_t& out) {
        auto parsed = std::from_chars(digits.data(), digits.data() + digits.size(), out);
        return !digits.empty() && parsed.ec == std::errc() &&
               parsed.ptr == digits.data() + digits.size();
    };
    while (std::getline(in, line)) {
        ++line_number;
        if (line.empty())
            continue;
        std::vector<std::string_view> fields;
        std::string_view rest = line;
        while (!rest.empty()) {
            std::size_t space = rest.find(' ');
            fields.push_back(rest.substr(0, space));
            rest = space == std::string_view::npos ? std::string_view{} : rest.substr(space + 1);
        }
        entry e{};
        tag_bytes old_holder{};
        std::uint64_t old_number = 0;
        if (fields.size() == 4 && tag_of(fields[0], e.key.root) &&
            tag_of(fields[1], e.key.holder) && number_of(fields[2], e.number) &&
            number_of(fields[3], e.expires)) {
            entries_.push_back(e);
        } else if (fields.size() == 2 && tag_of(fields[0], old_holder) &&
                   number_of(fields[1], old_number)) {
            // The format before roots: which root a holder belonged to is unknown, so its number
            // becomes everyone's floor (fail closed).
            floor_ = std::max(floor_, old_number);
        } else {
            error_ = path_ + ":" + std::to_string(line_number) +
                     ": expected ROOT HOLDER NUMBER EXPIRY (64 hex digits twice, two numbers)";
            entries_.clear();
            return;
        }
    }
}

file_sequence_store::entry* file_sequence_store::find(const sequence_key& key) {
    for (entry& e : entries_)
        if (amb::crypto::constant_time_equal(e.key.root, key.root) &&
            amb::crypto::constant_time_equal(e.key.holder, key.holder))
            return &e;
    return nullptr;
}

std::uint64_t file_sequence_store::last_accepted(const sequence_key& key) {
    const entry* known = find(key);
    return known != nullptr && known->number > floor_ ? known->number : floor_;
}

std::string file_sequence_store::serialise() const {
    std::string content;
    if (floor_ != 0) {
        // Kept as a line of the old format, so the floor survives the rewrite.
        tag_bytes none{};
        content += text::to_hex(none) + " " + std::to_string(floor_) + "\n";
    }
    for (const entry& e : entries_)
        content += text::to_hex(e.key.root) + " " + text::to_hex(e.key.holder) + " " +
                   std::to_string(e.number) + " " + std::to_string(e.expires) + "\n";
    return content;
}

bool file_sequence_store::accept(const sequence_key& key, std::uint64_t number,
                                 std::uint64_t expires, std::uint64_t now) {
    // Entries whose tokens have all expired guard nothing any more.
    std::erase_if(entries_, [now](const entry& e) { return e.expires != 0 && e.expires <= now; });
    entry* known = find(key);
    const bool fresh = known == nullptr;
    const entry before = fresh ? entry{key, 0, 0} : *known;
    if (fresh)
        known = &entries_.emplace_back(entry{key, 0, expires});
    else if (known->expires != 0) // 0: a token it guards never expires
        known->expires = expires == 0 ? 0 : std::max(known->expires, expires);
    known->number = std::max(known->number, number);
    if (atomic_write(path_, serialise(), error_))
        return true;
    // Memory and disk stay in agreement.
    if (fresh)
        entries_.pop_back();
    else
        *known = before;
    return false;
}

} // namespace caplets::store

#include <hosted/remote/durable_replay.hpp>

#include <crypto/crypto.hpp>

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace amb::hosted::remote {
namespace {

// The mark: magic, value (little-endian), the first 8 bytes of SHA-256 over both. A torn or
// foreign file fails the check; rename makes a torn one unlikely in the first place.
constexpr char magic[8] = {'A', 'M', 'B', 'R', 'P', 'L', 'Y', '1'};
constexpr std::size_t mark_size = 24;

void encode(std::uint64_t value, std::uint8_t (&out)[mark_size]) {
    std::memcpy(out, magic, 8);
    for (int i = 0; i < 8; ++i)
        out[8 + i] = static_cast<std::uint8_t>(value >> (8 * i));
    auto digest = crypto::sha256::digest(std::span<const std::uint8_t>(out, 16));
    std::memcpy(out + 16, digest.data(), 8);
}

std::string directory_of(const std::string& path) {
    auto slash = path.rfind('/');
    if (slash == std::string::npos)
        return ".";
    return slash == 0 ? "/" : path.substr(0, slash);
}

std::string errno_text(const std::string& what, const std::string& path) {
    return what + " " + path + ": " + std::strerror(errno);
}

bool write_all(int fd, const std::uint8_t* data, std::size_t size) {
    while (size > 0) {
        ssize_t wrote = ::write(fd, data, size);
        if (wrote < 0 && errno == EINTR)
            continue;
        if (wrote <= 0)
            return false;
        data += wrote;
        size -= static_cast<std::size_t>(wrote);
    }
    return true;
}

} // namespace

result<std::uint64_t, std::string> durable_sequence_store::read_mark(const std::string& path) {
    int fd = ::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT)
            return std::uint64_t{0};
        return failure{errno_text("cannot open the replay mark", path)};
    }
    std::uint8_t bytes[mark_size + 1];
    ssize_t got = ::read(fd, bytes, sizeof bytes);
    ::close(fd);
    std::uint64_t value = 0;
    for (int i = 0; got == static_cast<ssize_t>(mark_size) && i < 8; ++i)
        value |= std::uint64_t{bytes[8 + i]} << (8 * i);
    std::uint8_t expected[mark_size];
    encode(value, expected);
    if (got != static_cast<ssize_t>(mark_size) || std::memcmp(expected, bytes, mark_size) != 0)
        return failure{"the replay mark " + path +
                       " is corrupt (remove it to start over with the clock floor alone)"};
    return value;
}

result<std::unique_ptr<durable_sequence_store>, std::string>
durable_sequence_store::open(const std::string& path, std::uint64_t now_microseconds,
                             const durable_replay_settings& settings) {
    auto mark = read_mark(path);
    if (!mark)
        return failure{mark.error()};
    // A mark beyond what the store could ever have accepted (the clock stepped back after a
    // crash, or the file was edited) would make it refuse every request until the clock passes
    // it, silently. Say so at start instead.
    if (*mark > now_microseconds + settings.max_ahead + settings.block)
        return failure{"the replay mark " + path + " is " +
                       std::to_string((*mark - now_microseconds) / 1'000'000u) +
                       " s ahead of the clock: every request would be refused until then (check "
                       "the clock; remove the mark knowingly to start over)"};
    const std::string directory_path = directory_of(path);
    int directory = ::open(directory_path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (directory < 0)
        return failure{errno_text("cannot open the state directory", directory_path)};
    const std::uint64_t clock_floor =
        now_microseconds > settings.skew ? now_microseconds - settings.skew : 0;
    const std::uint64_t floor = *mark > clock_floor ? *mark : clock_floor;
    std::unique_ptr<durable_sequence_store> store(
        new (std::nothrow) durable_sequence_store(path, directory, settings, floor, *mark));
    if (!store) {
        ::close(directory);
        return failure{std::string("no memory for the replay state")};
    }
    if (store->table_.capacity() != settings.max_roots)
        return failure{std::string("no memory for the replay state")};
    return store;
}

durable_sequence_store::durable_sequence_store(std::string path, int directory,
                                               const durable_replay_settings& settings,
                                               std::uint64_t floor, std::uint64_t reserved)
    : path_(std::move(path)), directory_(directory), settings_(settings),
      table_(settings.max_roots, floor, settings.holders_per_root), reserved_(reserved) {}

durable_sequence_store::~durable_sequence_store() {
    // A clean stop: nothing more is accepted, so the exact high-water mark replaces the
    // reservation and the next start's floor does not run ahead of the callers' clocks. (After
    // a crash the reservation stands: callers are refused once and go above it.)
    if (highest_ != 0 && highest_ < reserved_)
        write_mark(highest_);
    if (directory_ >= 0)
        ::close(directory_);
}

std::uint64_t durable_sequence_store::last_accepted(const caplets::sequence_key& key) {
    return table_.last_accepted(key);
}

bool durable_sequence_store::accept(const caplets::sequence_key& key, std::uint64_t number,
                                    std::uint64_t expires, std::uint64_t now) {
    const std::uint64_t limit = now * 1'000'000u + settings_.max_ahead;
    if (number > limit || number > ~std::uint64_t{0} - settings_.block)
        return false;
    if (number > reserved_) {
        // Durable before the number counts: a crash after this line restarts above it.
        const std::uint64_t reservation = number + settings_.block;
        if (!write_mark(reservation))
            return false;
        reserved_ = reservation;
    }
    if (!table_.accept(key, number, expires, now))
        return false;
    highest_ = number > highest_ ? number : highest_;
    return true;
}

bool durable_sequence_store::write_mark(std::uint64_t value) {
    std::uint8_t bytes[mark_size];
    encode(value, bytes);
    const std::string temporary = path_ + ".new";
    // A leftover from a crash between create and rename; unlink removes a link, never follows.
    ::unlink(temporary.c_str());
    int fd = ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0)
        return false;
    bool written = write_all(fd, bytes, mark_size) && ::fsync(fd) == 0;
    written = ::close(fd) == 0 && written;
    if (!written || ::rename(temporary.c_str(), path_.c_str()) != 0) {
        ::unlink(temporary.c_str());
        return false;
    }
    // The rename itself is durable only once the directory is.
    if (::fsync(directory_) != 0)
        return false;
    ++writes_;
    return true;
}

} // namespace amb::hosted::remote

// Hosted (Linux) implementation of the port contract in <base/platform.hpp>.
#include <base/platform.hpp>

#include <sys/random.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>

namespace amb::port {

void write_console(std::string_view text) {
    while (!text.empty()) {
        ssize_t written = ::write(STDERR_FILENO, text.data(), text.size());
        if (written < 0 && errno == EINTR)
            continue;
        if (written <= 0)
            return;
        text.remove_prefix(static_cast<std::size_t>(written));
    }
}

void panic(const char* kind, const char* file, int line, const char* condition,
           const char* message) {
    std::fprintf(stderr, "%s:%d: %s failed: %s (%s)\n", file, line, kind, condition, message);
    std::abort();
}

bool fill_entropy(std::span<std::uint8_t> out) {
    while (!out.empty()) {
        ssize_t got = ::getrandom(out.data(), out.size(), 0);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0)
            return false;
        out = out.subspan(static_cast<std::size_t>(got));
    }
    return true;
}

}  // namespace amb::port

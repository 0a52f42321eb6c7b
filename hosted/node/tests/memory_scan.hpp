// Test helper: looks for a secret in this process's memory without holding the secret, for the
// tests that check what a (restarted) group can read (security_test.cpp, security_node/).
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <fcntl.h>
#include <span>
#include <unistd.h>
#include <vector>

namespace amb::hosted::node::test {

// Counts where `masked ^ mask` occurs in this process's readable memory, read through
// /proc/self/mem, without ever holding those bytes whole: the scan itself must not plant what it
// looks for.
inline std::size_t occurrences_in_own_memory(std::span<const std::uint8_t> masked,
                                             std::span<const std::uint8_t> mask,
                                             std::size_t* scanned = nullptr) {
    const std::size_t length = masked.size();
    FILE* maps = std::fopen("/proc/self/maps", "r");
    int memory = ::open("/proc/self/mem", O_RDONLY | O_CLOEXEC);
    if (maps == nullptr || memory < 0)
        return SIZE_MAX;
    struct range {
        std::uintptr_t start, end;
    };
    std::vector<range> ranges;
    char line[4096];
    while (std::fgets(line, sizeof line, maps) != nullptr) {
        unsigned long start = 0, end = 0;
        char permissions[5] = {};
        if (std::sscanf(line, "%lx-%lx %4s", &start, &end, permissions) != 3)
            continue;
        // Readable mappings, but not the sanitizers' huge shadow reservations.
        if (permissions[0] != 'r' || end - start > (std::size_t{1} << 32))
            continue;
        ranges.push_back({start, end});
    }
    std::fclose(maps);
    std::vector<std::uint8_t> chunk(std::size_t{1} << 20);
    const std::uint8_t first = masked[0] ^ mask[0];
    std::size_t found = 0;
    for (const range& r : ranges) {
        for (std::uintptr_t at = r.start; at < r.end;) {
            std::size_t want = std::min<std::uintptr_t>(chunk.size(), r.end - at);
            ssize_t got = ::pread(memory, chunk.data(), want, static_cast<off_t>(at));
            if (got <= 0)
                break; // unreadable (a guard or device mapping)
            if (scanned != nullptr)
                *scanned += static_cast<std::size_t>(got);
            const std::uint8_t* bytes = chunk.data();
            for (std::size_t i = 0; i + length <= static_cast<std::size_t>(got); ++i) {
                if (bytes[i] != first)
                    continue;
                std::size_t j = 1;
                while (j < length && (bytes[i + j] ^ mask[j]) == masked[j])
                    ++j;
                if (j == length)
                    ++found;
            }
            // Overlap chunks so that a match across their boundary is seen.
            const std::size_t step = static_cast<std::size_t>(got) > length
                                         ? static_cast<std::size_t>(got) - length + 1
                                         : static_cast<std::size_t>(got);
            at += step;
        }
    }
    ::close(memory);
    return found;
}

} // namespace amb::hosted::node::test

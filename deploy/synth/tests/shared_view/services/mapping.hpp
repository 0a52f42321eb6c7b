// Where an address lies in this process: the shared memory mapping that contains it, read from
// /proc/self/maps (the shared_view test services only: it is how they show that a view was
// not copied).
#pragma once

#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <optional>

namespace demo::shared_view {

struct mapping_place {
    std::uint64_t offset;  ///< of the address in the mapped object (the heap's memfd)
    bool writable;
};

/// The place of `address` in a shared mapping ('s' in the permissions) of a node's shared
/// region (a memfd named amb-shared-region), or nothing.
inline std::optional<mapping_place> shared_place(const void* address) {
    std::FILE* maps = std::fopen("/proc/self/maps", "re");
    if (maps == nullptr)
        return std::nullopt;
    auto wanted = reinterpret_cast<std::uintptr_t>(address);
    char line[512];
    std::optional<mapping_place> found;
    while (!found && std::fgets(line, sizeof line, maps) != nullptr) {
        std::uintptr_t start = 0, end = 0;
        std::uint64_t file_offset = 0;
        char permissions[8] = {};
        if (std::sscanf(line, "%" SCNxPTR "-%" SCNxPTR " %7s %" SCNx64, &start, &end, permissions,
                        &file_offset) != 4)
            continue;
        if (wanted < start || wanted >= end || permissions[3] != 's' ||
            std::strstr(line, "memfd:amb-shared-region") == nullptr)
            continue;
        found = mapping_place{file_offset + (wanted - start), permissions[1] == 'w'};
    }
    std::fclose(maps);
    return found;
}

}  // namespace demo::shared_view

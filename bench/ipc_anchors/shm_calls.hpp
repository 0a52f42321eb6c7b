// What the two shared-memory floors of benchmark `ipc` share (shm_eventfd.cpp blocks on eventfds,
// shm_busypoll.cpp spins on sequence words): the call slots and echo areas of the shared mapping,
// how the child serves one slot, and how the mapping is made before the child is forked. Only
// the way each side waits differs between them.
#pragma once

#include "anchors.hpp"

#include <sys/mman.h>

#include <cstdint>
#include <cstring>
#include <new>

namespace amb::ipc_anchors::shm {

enum class operation : std::uint32_t { echo, add, stop };

// One call in the ring. Only an echo uses the shared request/response areas, and only one echo is
// ever in flight.
struct slot {
    operation op = operation::stop;
    std::uint32_t length = 0;
    std::uint64_t a = 0;
    std::uint64_t b = 0;
    std::uint64_t sum = 0;
};

/// The calls part of a floor's shared mapping: a ring of max_in_flight slots, taken in order,
/// and one echo area each way.
struct call_slots {
    alignas(64) slot slots[max_in_flight];
    alignas(64) std::uint8_t request[max_payload_bytes];
    alignas(64) std::uint8_t response[max_payload_bytes];
};

enum class slot_outcome { served, stop, malformed };

/// The child's work for one slot: echo the request area, or add.
inline slot_outcome serve_slot(call_slots& region, slot& call) {
    switch (call.op) {
    case operation::echo:
        if (call.length > max_payload_bytes)
            return slot_outcome::malformed;
        std::memcpy(region.response, region.request, call.length);
        return slot_outcome::served;
    case operation::add:
        call.sum = call.a + call.b;
        return slot_outcome::served;
    case operation::stop:
        return slot_outcome::stop;
    }
    return slot_outcome::malformed;
}

/// Maps a `Region` (a call_slots with whatever its floor waits on) shared with the child forked
/// next, constructs it, and touches both echo areas so that page faults stay out of the timed
/// calls. Null if the mapping failed; `unmap` releases it.
template <class Region>
Region* map_shared() {
    void* mapping = mmap(nullptr, sizeof(Region), PROT_READ | PROT_WRITE,
                         MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (mapping == MAP_FAILED)
        return nullptr;
    auto* region = new (mapping) Region;
    std::memset(region->request, 0, sizeof region->request);
    std::memset(region->response, 0, sizeof region->response);
    return region;
}

template <class Region>
void unmap(Region* region) {
    munmap(region, sizeof(Region));
}

} // namespace amb::ipc_anchors::shm

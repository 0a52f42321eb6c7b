// Part 4 of benchmark `ipc`: a recursive caching name resolver (bench/ipc_schemas/resolver.lidl)
// as groups of a node, with the front resolver placed in the client's group or in its own
// process, and written with coroutines or with fibers.
//
//     names 0 … name_count-1   "host-00042.example", address 10.0.0.0 + index + 1
//     backends (2 processes)   each knows the names whose FNV-1a hash is even / odd
//     front resolver           a cache of the names with an even index (half of them); other
//                              names are asked of the backend owning them (not cached
//                              afterwards, so that half of the requests stay misses)
//     clients                  `concurrency` tasks in the kernel group, each awaiting one
//                              resolution after the other, uniformly drawn names
//
//     auto node = resolver_node::start(front_placement::own_process, front_kind::fiber);
//     auto batch = node->run(indices, 64);         // every index resolved, 64 at a time
//     front_memory memory = node->memory();        // measured in the front's process
//
// Placements: `in_group`: the front is an object of the kernel group (this process); clients
// call it directly (generated client over lidl::direct_backend) and it calls the backends over
// channels. `own_process`: the front is a group process; clients call it over a channel and it
// calls the backends over channels of its own. Every channel uses the static strategy.
//
// Kinds: `coroutine`: resolve is a coroutine that awaits the backend. `fiber`: each request runs
// on a fiber (runtime/core, a 32 KiB guarded stack from a pool that grows to the peak number of
// requests in flight and is reused) that blocks in fiber_wait on the backend call; the
// procedure's coroutine only starts the fiber and waits for it to finish. Fibers run on an
// amb::event_loop polled by the group's loop.
//
// Memory (own_process only): the front's process installs a frame_allocator that counts the
// bytes of coroutine frames live (everything the front allocates as frames: the channel
// server's call frames, resolve's frames, the backend clients' call frames). Each time its
// channel server has polled (new requests started, cached ones answered at once, finished ones
// retired), it samples the requests in flight (the server's running calls), the live
// frame bytes and, for fibers, the stack bytes of the fibers busy at that moment (each fiber's
// usable stack, the guard page not counted); it keeps the sample with the most requests in
// flight (the largest bytes among equals). It also counts the stack pages actually resident
// (mincore) over the pool. The samples go through a shared anonymous mapping.
//
// Errors: start gives nullptr when the node cannot start. A failed call (its lidl::call_error)
// counts as a wrong answer. A batch that times out leaves calls suspended in the
// channels: destroy the node then, without running another batch. Threading: one thread per
// process.
#pragma once

#include "resolver.lidl.hpp"

#include <async/task.hpp>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace amb::ipc_anchors {

inline constexpr std::size_t name_count = 10000;
inline constexpr std::size_t fiber_stack_bytes = 32 * 1024;

std::string name_of(std::size_t index);
std::uint32_t address_of(std::size_t index);
// Which backend (0 or 1) knows `name`.
unsigned owner_of(std::string_view name);
// Whether the front caches `index`'s address.
inline bool cached_in_front(std::size_t index) {
    return index % 2 == 0;
}

enum class front_placement { in_group, own_process };
enum class front_kind { coroutine, fiber };

// What the front's process measured (own_process placement; zeros otherwise).
struct front_memory {
    std::uint64_t in_flight = 0;       // requests in flight at the kept sample
    std::uint64_t frame_bytes = 0;     // coroutine frame bytes live then
    std::uint64_t stack_bytes = 0;     // usable stack bytes of the fibers busy then
    std::uint64_t stacks = 0;          // fiber stacks in the pool
    std::uint64_t resident_stack_bytes = 0;  // bytes of the pool's stacks resident in memory
    std::uint64_t answered = 0;        // requests the front answered

    double bytes_per_request() const {
        return in_flight == 0 ? 0.0
                              : static_cast<double>(frame_bytes + stack_bytes) /
                                    static_cast<double>(in_flight);
    }
};

// What a batch of resolutions gave.
struct batch_result {
    bool completed = false;    // every client finished before the timeout
    std::size_t wrong = 0;     // answers that are not the name's address
};

class resolver_node {
public:
    static std::unique_ptr<resolver_node> start(front_placement placement, front_kind kind);
    ~resolver_node();

    // Resolves the names of `indices` (each below name_count, or any larger number for a name
    // nobody knows, whose right answer is 0) with `concurrency` clients: client k takes indices
    // k, k + concurrency, …
    batch_result run(std::span<const std::uint32_t> indices, std::size_t concurrency);

    // The front's measurements so far (own_process only).
    front_memory memory() const;

private:
    struct state;
    explicit resolver_node(std::unique_ptr<state> running);
    std::unique_ptr<state> state_;
};

// Uniformly drawn name indices (a fixed sequence for a seed).
std::vector<std::uint32_t> uniform_indices(std::size_t count, std::uint64_t seed);

}  // namespace amb::ipc_anchors

// Rings: the interface between a group and the node kernel (DESIGN.md §7).
//
// A *ring region* is one block of memory shared by a group and the kernel. It holds a pool of
// fixed-size elements (a request or response each: a small header plus an inline payload), a
// lock-free free list of element indices, and two single-producer single-consumer rings of
// element indices: group→kernel (`to_kernel`) and kernel→group (`to_group`). Either side can
// issue requests and serve them: a request and its response travel in the same element, which
// the side that allocated it releases when the response has been read.
//
// Usage: the creator calls `ring_region::init(memory, config)`; the peer (another thread,
// process or, later, privilege level) calls `ring_region::attach(memory)` on the same bytes,
// possibly at another address. Each side takes its `endpoint` (`group()` or `kernel()`) and
// uses allocate → fill `element(i)` → submit; the other side polls, serves, submits the
// response back, and the issuer polls and releases.
//
// The memory layout is an ABI, documented field by field in docs/runtime-rings.md: no
// pointers, only offsets and indices, 32-bit atomic words (lock-free on Cortex-M4 as on x86-64
// and AArch64). Everything read from the shared memory is validated before use: a corrupt or
// foreign region, or an out-of-range index written by the peer, is an `error`, never an
// out-of-bounds access. The sizes the region object uses are copied out of the header when it
// is validated, so a peer rewriting the header later cannot enlarge them.
//
// No call spins or blocks. `submit` and `poll` take a fixed number of steps; a full ring is
// `error::ring_full` (back-pressure: poll, serve, retry later). `allocate` and `release`
// retry their compare-and-swap only when another party changed the free list in between, and
// at most `max_free_list_attempts` times before giving up with `error::contended`.
//
// Threading: `allocate`, `release` and `element` may be called from any number of threads on
// both sides. Per endpoint, `submit` must be called by one thread at a time (it is the single
// producer of its ring) and `poll` by one thread at a time (the single consumer of the other).
// Element contents are handed over by submit/poll (release/acquire); whoever holds an index
// owns the element until it submits or releases it.
#pragma once

#include <base/result.hpp>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

namespace amb::rings {

// --- ABI constants ----------------------------------------------------------------------------

/// "AMBR" in little-endian byte order.
inline constexpr std::uint32_t region_magic = 0x52424d41;
inline constexpr std::uint16_t region_version = 1;
/// Every independently written word group sits on its own line of this size. 64 bytes matches
/// x86-64 and most Arm cores; on Cortex-M it only costs padding.
inline constexpr std::size_t cache_line_size = 64;
/// The region must start at an address aligned to this.
inline constexpr std::size_t region_alignment = cache_line_size;
/// Index value meaning "no element" (the free list's end).
inline constexpr std::uint16_t null_index = 0xffff;
/// Largest element count and ring capacity: indices are 16 bits and 0xffff is `null_index`.
inline constexpr std::uint32_t max_element_count = 1u << 15;
inline constexpr std::uint32_t max_ring_capacity = 1u << 15;
/// Payloads are a multiple of 8 bytes so that every element stays 8-byte aligned.
inline constexpr std::uint32_t payload_granule = 8;
inline constexpr std::uint32_t max_payload_size = 1u << 16;
/// Bound on compare-and-swap retries in allocate/release (see the header paragraph).
inline constexpr int max_free_list_attempts = 1024;

static_assert(std::atomic<std::uint32_t>::is_always_lock_free,
              "ring atomics must be lock-free so that they work across address spaces");
static_assert(sizeof(std::atomic<std::uint32_t>) == 4);

using element_index = std::uint32_t;

enum class error : std::uint8_t {
    region_too_small = 1,  ///< the memory cannot hold the region the config or header describes
    region_misaligned,     ///< the memory does not start on a `region_alignment` boundary
    bad_magic,             ///< not a ring region (or not initialised yet)
    bad_version,           ///< a ring region of another ABI version
    bad_config,            ///< a size is zero, not a power of two, too large, or misaligned
    bad_layout,            ///< the header's offsets or sizes disagree with its configuration
    pool_empty,            ///< no free element (back-pressure: release some, retry later)
    ring_full,             ///< the outgoing ring is full (back-pressure: poll, retry later)
    bad_index,             ///< an element index is out of range
    corrupt,               ///< shared counters or links are inconsistent (peer misbehaved)
    contended,             ///< the free list changed under every attempt; retry later
};

/// A sentence describing `e`, for error messages.
const char* describe(error e);

/// What an element carries. Values are ABI.
enum class element_kind : std::uint16_t {
    none = 0,
    request = 1,
    response = 2,
};

/// The fixed header of every pool element (24 bytes, ABI). The payload follows it directly.
/// Fields other than `free_next` belong to whoever holds the element's index.
struct element_header {
    /// Next free element while the element is on the free list. Owned by the free list: users
    /// never write it.
    std::atomic<std::uint32_t> free_next;
    /// An `element_kind`; stored as a plain integer because the peer may write anything.
    std::uint16_t kind;
    /// 0 for success; otherwise a status code defined by the procedure's interface.
    std::uint16_t status;
    /// Which procedure the request calls (assigned by lidl).
    std::uint32_t procedure;
    /// Bytes of the payload in use. Not trusted: check it against the payload size.
    std::uint32_t payload_length;
    /// Chosen by the issuer and copied into the response, to match one with the other.
    std::uint64_t cookie;
};

/// The region header, at offset 0 (64 bytes, ABI). Written once by `init`.
struct region_header {
    std::uint32_t magic;
    std::uint16_t version;
    std::uint16_t header_size;
    std::uint32_t total_size;
    std::uint32_t element_count;
    std::uint32_t element_size;
    std::uint32_t payload_size;
    std::uint32_t to_kernel_capacity;
    std::uint32_t to_group_capacity;
    std::uint32_t free_list_offset;
    std::uint32_t to_kernel_offset;
    std::uint32_t to_group_offset;
    std::uint32_t pool_offset;
    std::uint32_t reserved[4];
};

/// The free list's head (ABI): `tag << 16 | index`, alone on its cache line.
struct alignas(cache_line_size) free_list_control {
    std::atomic<std::uint32_t> head;
};

/// A ring's counters (ABI), each on its own cache line; the entries (one 32-bit element index
/// each, `capacity` of them) follow. Counters run freely and wrap at 2^32; slot = counter &
/// (capacity - 1).
struct ring_control {
    /// Written by the producer only: entries published so far.
    alignas(cache_line_size) std::atomic<std::uint32_t> tail;
    /// Written by the consumer only: entries consumed so far.
    alignas(cache_line_size) std::atomic<std::uint32_t> head;
};

static_assert(sizeof(element_header) == 24 && alignof(element_header) == 8);
static_assert(sizeof(region_header) == 64);
static_assert(sizeof(free_list_control) == cache_line_size);
static_assert(sizeof(ring_control) == 2 * cache_line_size);

/// Sizes chosen by the creator of a region.
struct config {
    /// Pool elements: a power of two, 1 ... `max_element_count`.
    std::uint32_t element_count = 64;
    /// Payload bytes per element: a multiple of `payload_granule`, at most `max_payload_size`.
    std::uint32_t payload_size = 64;
    /// Entries of each ring: a power of two, 1 ... `max_ring_capacity`.
    std::uint32_t to_kernel_capacity = 64;
    std::uint32_t to_group_capacity = 64;
};

/// Bytes a region with `c` needs, or `error::bad_config`.
result<std::size_t, error> region_size(const config& c);

/// An element seen through its index: the header and the whole payload area.
struct element_view {
    element_header* header;
    std::span<std::byte> payload;
};

class endpoint;

/// A validated view of a ring region in caller-provided memory. Does not own the memory; the
/// memory must outlive the region object and its endpoints. Copyable (a copy views the same
/// region), and so are the endpoints taken from it.
class ring_region {
public:
    /// Lays out a new region in `memory` with `c`: header, all elements on the free list, both
    /// rings empty. Errors: `bad_config`, `region_misaligned`, `region_too_small`. The peer
    /// must not attach before init has returned and the memory has been handed over (the
    /// handover provides the ordering).
    static result<ring_region, error> init(std::span<std::byte> memory, const config& c);

    /// Validates the header of a region another party initialised. Errors: `region_misaligned`,
    /// `region_too_small` (also when the header's total size exceeds `memory`), `bad_magic`,
    /// `bad_version`, `bad_config`, `bad_layout`.
    static result<ring_region, error> attach(std::span<std::byte> memory);

    endpoint group() const;
    endpoint kernel() const;

    const config& sizes() const { return config_; }
    std::uint32_t element_size() const { return element_size_; }
    std::size_t size() const { return total_size_; }

private:
    friend class endpoint;
    ring_region(std::byte* base, const config& c);

    ring_control* ring_at(std::uint32_t offset) const;
    std::atomic<std::uint32_t>* entries(ring_control* ring) const;
    element_header* element_at(std::uint32_t index) const;

    std::byte* base_;
    config config_;
    std::uint32_t element_size_;
    std::uint32_t total_size_;
    std::uint32_t to_kernel_offset_;
    std::uint32_t to_group_offset_;
    std::uint32_t pool_offset_;
};

/// One side's handle on a region: the group's or the kernel's. Cheap to copy; valid while the
/// region's memory is. See the header paragraph for which calls may run concurrently.
class endpoint {
public:
    /// Takes a free element. `error::pool_empty` when none is free, `error::corrupt` if the
    /// free list holds an out-of-range link, `error::contended` (rare) if every attempt lost a
    /// race. The element's fields are left as the last holder wrote them.
    result<element_index, error> allocate();

    /// Returns an element to the pool. `error::bad_index` if out of range. Releasing an element
    /// that is already free, or still in a ring, breaks the pool (a precondition the region
    /// cannot check without per-element state).
    result<void, error> release(element_index index);

    /// Publishes an element to the other side. `error::ring_full` when the outgoing ring is
    /// full (nothing changed; the caller still owns the element), `error::bad_index` if out of
    /// range, `error::corrupt` if the peer left the counters inconsistent.
    result<void, error> submit(element_index index);

    /// Takes the next element the other side submitted, or `std::nullopt` when there is none.
    /// `error::bad_index` when the peer submitted an out-of-range index (the entry is consumed
    /// and dropped, so a faulty peer cannot wedge the ring); `error::corrupt` when the counters
    /// are inconsistent (nothing is consumed).
    result<std::optional<element_index>, error> poll();

    /// The element at `index`, or `error::bad_index`.
    result<element_view, error> element(element_index index) const;

    /// Number of entries waiting in the incoming ring (a snapshot; 0 if the counters are
    /// inconsistent).
    std::uint32_t pending() const;

private:
    friend class ring_region;
    endpoint(const ring_region& region, ring_control* outgoing, std::uint32_t outgoing_capacity,
             ring_control* incoming, std::uint32_t incoming_capacity);

    ring_region region_;
    ring_control* outgoing_;
    std::uint32_t outgoing_capacity_;
    ring_control* incoming_;
    std::uint32_t incoming_capacity_;
};

/// Offsets of a region's parts for `c` (ABI; also what `attach` checks the header against).
/// `c` must be valid (see `region_size`).
struct region_layout {
    std::uint32_t free_list_offset;
    std::uint32_t to_kernel_offset;
    std::uint32_t to_group_offset;
    std::uint32_t pool_offset;
    std::uint32_t element_size;
    std::uint32_t total_size;
};
result<region_layout, error> layout_of(const config& c);

}  // namespace amb::rings

// A reliable message protocol over an unreliable datagram service (UDP): messages larger than
// one datagram, a window of messages in flight, batched and piggybacked acknowledgements,
// retransmission, duplicate suppression, in-order delivery and bounded reassembly.
// Wire format and rules in docs/net.md ("Datagram links").
//
// One `reliable_endpoint` is the protocol state for one peer: it sends messages to that peer and
// receives messages from it. It performs no I/O and reads no clock: the caller moves datagrams
// and passes the time in.
//
//     reliable_endpoint endpoint(config, storage);        // storage: storage_size(config) bytes
//     auto sequence = endpoint.send(message, now);        // copied; busy when the window is full
//     ... on a datagram from the peer:
//     endpoint.on_datagram(bytes, now);
//     while (auto message = endpoint.receive()) use(*message);  // in order; valid until the
//                                                                // next receive or on_datagram
//     ... then, and whenever now >= endpoint.next_deadline():
//     while (true) {
//         auto polled = endpoint.poll(now, buffer);       // buffer: config.mtu bytes
//         if (polled.datagram_size) transmit(buffer.first(polled.datagram_size));
//         if (polled.completed) ...                        // one of our messages acked or failed
//         if (!polled.datagram_size && !polled.completed) break;
//     }
//
// Sending: up to `window` messages are in flight at once (sequence numbers in a row), their
// copies in a send buffer of `buffer_size` bytes; `send` returns `send_error::busy` when either is
// full (the caller queues). Each message is split into fragments of `mtu - data_overhead` bytes;
// at most `max_in_flight` fragments of all messages are unacknowledged at a time. When no
// acknowledgement makes progress on a message for `retransmit_timeout`, its unacknowledged
// fragments are sent again; after `retry_limit` such timeouts in a row it completes with
// `send_failure::retry_limit`. Completions (success or failure, in any order) come out of `poll`.
//
// Receiving: messages are reassembled side by side (the next expected one in a buffer of its
// own, later ones in a receive buffer of `buffer_size` bytes: the memory bound) and delivered
// strictly in sequence order; a complete message waits until every earlier one is delivered or
// known to be given up by the sender. The receiver acknowledges cumulatively ("everything before
// E") plus per-message entries, after `ack_delay` or on the next data datagram it sends
// (piggybacked), whichever comes first. Sequence numbers increase; duplicates of the last 64
// finished messages are acknowledged again and not delivered again (each message is delivered
// exactly once per session).
//
// Every field of a received datagram is validated (CRC-32, magic, version, kind, lengths,
// fragment index and count, sequence fields, the acknowledgement part, agreement with earlier
// fragments); a datagram that fails is dropped and counted, and leaves all state unchanged.
// No call allocates, and none loops over more than `window` sequence numbers (`loop_steps`),
// whatever a datagram's sequence fields say. Not thread-safe.
#pragma once

#include <base/result.hpp>
#include <runtime/event_loop.hpp>

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

namespace amb::net {

using namespace std::chrono_literals;

inline constexpr std::uint8_t datagram_magic = 0xad;
/// The version sent and the only one accepted.
inline constexpr std::uint8_t datagram_version = 2;
/// Flag of a data datagram: an acknowledgement follows the base field.
inline constexpr std::uint8_t datagram_flag_ack = 0x01;
inline constexpr std::size_t datagram_common_header_size = 12;
/// Bytes of a data datagram before its payload.
inline constexpr std::size_t data_header_size = 22;
/// The base field after the payload of a version 2 data datagram.
inline constexpr std::size_t data_base_size = 4;
inline constexpr std::size_t datagram_trailer_size = 4; // CRC-32
/// Bytes of a data datagram that are not message payload (without a piggybacked ack).
inline constexpr std::size_t data_overhead =
    data_header_size + data_base_size + datagram_trailer_size;
/// An acknowledgement body: acknowledged session (4), expected sequence (4), entry count (1),
/// then the entries.
inline constexpr std::size_t ack_body_header_size = 9;
/// Bytes of an ack datagram before its first entry.
inline constexpr std::size_t ack_header_size = 4 + ack_body_header_size;
/// The largest UDP payload over IPv4.
inline constexpr std::size_t max_datagram_size = 65507;
/// Sequence numbers of finished messages remembered for duplicate suppression.
inline constexpr std::uint32_t delivered_window = 64;
/// The largest `window`.
inline constexpr std::size_t max_window = 64;

enum class datagram_kind : std::uint8_t { data = 1, ack = 2 };
/// Status of one acknowledgement entry.
enum class ack_status : std::uint8_t {
    partial = 0,  ///< a bitmap of the fragments held follows
    complete = 1, ///< held in full (delivered in order)
    refused = 2,  ///< too large for the receiver; will not be delivered
    lost = 3,     ///< the receiver gave up waiting for it; will not be delivered
};

struct reliable_config {
    /// Largest datagram sent, headers included. Both ends of a link use the same value.
    std::size_t mtu = 1200;
    /// Largest message sent or received.
    std::size_t max_message_size = 64 * 1024;
    /// Messages in flight per direction: a power of two, 1 to `max_window`. Both ends use the
    /// same value.
    std::size_t window = 32;
    /// Bytes for the copies of messages in flight, and (separately) for messages received ahead
    /// of the next expected one. 0: `max_message_size`; otherwise at least that.
    std::size_t buffer_size = 0;
    /// Fragments (of all messages) sent and not yet acknowledged, at most.
    std::size_t max_in_flight = 64;
    loop_clock::duration retransmit_timeout = 200ms;
    /// Retransmission timeouts in a row without progress before a send fails.
    std::uint32_t retry_limit = 8;
    /// An incomplete incoming message without progress for this long is dropped; complete
    /// messages waiting behind a missing one for this long without any datagram from the peer
    /// are delivered, the missing one given up (`lost`).
    loop_clock::duration reassembly_timeout = 5s;
    /// How long an acknowledgement may wait for a data datagram to ride on. Less than
    /// `retransmit_timeout` (0: acknowledge at once).
    loop_clock::duration ack_delay = 1ms;
    /// This endpoint's session: a random, nonzero number chosen at start-up, so that the peer
    /// can tell a restarted endpoint (whose sequence numbers start again) from duplicates.
    std::uint32_t session = 1;
};

enum class send_error : std::uint8_t {
    busy = 1,          ///< the window or the send buffer is full; retry after a completion
    message_too_large, ///< larger than `max_message_size`
};

enum class send_failure : std::uint8_t {
    retry_limit = 1, ///< no progress after `retry_limit` retransmission timeouts
    refused,         ///< the peer cannot take a message this large (its configuration differs)
    lost,            ///< the peer gave up waiting for the message (it was silent too long)
};

const char* to_string(send_failure failure) noexcept;

/// The end of a send: success (`failure` empty) or why it failed.
struct send_completion {
    std::uint32_t sequence = 0;
    std::optional<send_failure> failure;
};

/// Why a received datagram (or its data part) was dropped. Every value has a counter.
enum class datagram_error : std::uint8_t {
    too_short = 0, ///< shorter than its kind's header and trailer
    bad_magic,     ///< not one of ours
    bad_version,   ///< another protocol version
    bad_kind,      ///< unknown kind, flags or entry status
    bad_crc,       ///< corrupted
    bad_length,    ///< a payload, bitmap or ack length that disagrees with the header
    bad_fragment,  ///< count 0, index >= count, count or chunk impossible for the length,
                   ///< base after the sequence, ack entries out of order or impossible
    inconsistent,  ///< disagrees with earlier fragments or with the messages in flight
    duplicate,     ///< a fragment or message already received (acknowledged again)
    stale,         ///< an old sequence number, or an ack that acknowledges nothing new
    wrong_session, ///< an ack for another session of ours (from before a restart)
    refused,       ///< a message larger than we accept; refused in the ack
    ahead,         ///< a sequence number beyond the receive window
    no_room,       ///< no receive buffer for a message ahead of the next expected one
};
inline constexpr std::size_t datagram_error_count = 14;

const char* to_string(datagram_error error) noexcept;

/// The header fields of a data datagram (docs/net.md, "Datagrams") and its base.
struct data_fields {
    std::uint32_t session = 0;
    std::uint32_t sequence = 0;
    std::uint32_t length = 0; ///< of the whole message
    std::uint16_t index = 0;
    std::uint16_t count = 0;
    std::uint16_t chunk = 0; ///< payload bytes of every fragment but the last
    std::uint32_t base = 0;
};

/// Writes a version 2 data datagram (header, `payload`, base, `ack_body` when not empty with the
/// ack flag set, CRC-32) into `out`, which must hold `data_overhead + payload.size() +
/// ack_body.size()` bytes; returns its size. Writes what it is given, consistent or not: the
/// endpoint sends with it, and tests, seeds and tools use it to build the datagrams a peer (or an
/// attacker) would send.
std::size_t encode_data_datagram(const data_fields& fields, std::span<const std::uint8_t> payload,
                                 std::span<std::uint8_t> out,
                                 std::span<const std::uint8_t> ack_body = {}) noexcept;

/// A data datagram read by `decode_data_datagram`: its header fields and base, and its payload
/// and piggybacked acknowledgement body (empty when there is none), both inside the datagram.
struct decoded_data_datagram {
    data_fields fields;
    std::span<const std::uint8_t> payload;
    std::span<const std::uint8_t> ack_body;
};

/// Reads a data datagram with the checks the endpoint makes before it looks at its own state
/// (length, magic, version, kind and flags, CRC-32, fragment fields, lengths, base); the
/// acknowledgement body is returned unchecked. The endpoint reads every datagram with it; tools
/// and tests use it to look inside captured datagrams. An ack datagram is `bad_kind`.
result<decoded_data_datagram, datagram_error>
decode_data_datagram(std::span<const std::uint8_t> datagram) noexcept;

struct reliable_counters {
    std::uint32_t datagrams_received = 0;
    std::uint32_t datagrams_sent = 0;
    std::uint32_t retransmissions = 0;  ///< data datagrams sent again
    std::uint32_t acks_sent = 0;        ///< ack datagrams (not counting piggybacked acks)
    std::uint32_t acks_piggybacked = 0; ///< acks carried by data datagrams
    std::uint32_t messages_delivered = 0;
    std::uint32_t messages_sent = 0; ///< acknowledged as complete
    std::uint32_t messages_failed = 0;
    std::uint32_t reassembly_timeouts = 0;
    std::uint32_t abandoned = 0; ///< messages given up as lost (the sender moved on, or timeout)
    std::uint32_t peer_restarts = 0;                           ///< the peer's session changed
    std::array<std::uint32_t, datagram_error_count> dropped{}; ///< indexed by datagram_error
};

/// What one received datagram did. `dropped`: the datagram, or for a data datagram its data
/// part, was not used (an acknowledgement it carries may still have been applied).
struct datagram_outcome {
    std::optional<datagram_error> dropped;
};

struct poll_outcome {
    /// Size of the datagram written to the poll buffer; 0: nothing to transmit.
    std::size_t datagram_size = 0;
    /// One of our messages was acknowledged, refused or failed.
    std::optional<send_completion> completed;
};

class reliable_endpoint {
public:
    /// Bytes of storage an endpoint with `config` needs.
    static std::size_t storage_size(const reliable_config& config) noexcept;
    /// Fragments of a message of `max_message_size` bytes with this MTU.
    static std::size_t max_fragments(const reliable_config& config) noexcept;
    /// The largest acknowledgement the endpoint must be able to send in one datagram: the ack
    /// header, one entry for each of the last `window` sequence numbers and a partial entry
    /// for a message of `max_fragments`. Must not exceed the MTU.
    static std::size_t min_ack_size(const reliable_config& config) noexcept;

    /// Preconditions: `config.mtu` in [data_overhead + 1, max_datagram_size], a nonzero
    /// session, `max_in_flight >= 1`, `window` a power of two in [1, max_window], `buffer_size`
    /// 0 or at least `max_message_size`, at most 65535 fragments per message,
    /// `min_ack_size(config) <= mtu`, `ack_delay < retransmit_timeout`, and
    /// `storage.size() >= storage_size(config)`. The storage must outlive the endpoint and is
    /// its own.
    reliable_endpoint(const reliable_config& config, std::span<std::uint8_t> storage) noexcept;
    reliable_endpoint(const reliable_endpoint&) = delete;
    reliable_endpoint& operator=(const reliable_endpoint&) = delete;

    /// Copies `message` and starts sending it; returns its sequence number. Datagrams come out
    /// of `poll`.
    result<std::uint32_t, send_error> send(std::span<const std::uint8_t> message,
                                           loop_clock::time_point now) noexcept;

    /// Handles one datagram from the peer. Then call `receive` until it returns nothing.
    datagram_outcome on_datagram(std::span<const std::uint8_t> datagram,
                                 loop_clock::time_point now) noexcept;

    /// The next message from the peer in sequence order, if it is complete and every earlier
    /// one was delivered or given up. Valid until the next `receive` or `on_datagram`.
    std::optional<std::span<const std::uint8_t>> receive() noexcept;

    /// Runs timers and writes at most one datagram to transmit into `out` (at least `mtu`
    /// bytes), or reports one completion. Call repeatedly until it returns neither.
    poll_outcome poll(loop_clock::time_point now, std::span<std::uint8_t> out) noexcept;

    /// When `poll` has work next: `time_point::min()` if a datagram or a completion is ready
    /// now, `time_point::max()` if nothing is pending.
    loop_clock::time_point next_deadline() const noexcept;

    /// True while a message is in flight or its completion has not been taken from `poll`.
    bool sending() const noexcept { return send_oldest_ != next_sequence_; }
    /// Messages sent and not yet completed (or completed and not yet reported).
    std::size_t messages_in_flight() const noexcept { return next_sequence_ - send_oldest_; }
    /// Bytes of the receive buffers in use (both the next expected message and those ahead).
    std::size_t receive_buffer_in_use() const noexcept;
    const reliable_counters& counters() const noexcept { return counters_; }
    /// Iterations of every loop over sequence numbers or slots since construction: the work the
    /// endpoint did, independent of the machine. Each call runs a few such loops, each bounded
    /// by `window`; tests assert on this instead of timing (a datagram once cost 2^31 steps).
    std::uint64_t loop_steps() const noexcept { return loop_steps_; }
    const reliable_config& config() const noexcept { return config_; }

private:
    enum class fragment_state : std::uint8_t { unsent, in_flight, resend, acked };
    enum class send_state : std::uint8_t { free, active, done };
    enum class receive_state : std::uint8_t { empty, partial, complete, refused, delivered };

    struct send_slot {
        std::uint32_t sequence = 0;
        std::uint32_t length = 0;
        std::size_t offset = 0; // message bytes, then one fragment_state per fragment
        std::uint16_t count = 0;
        std::uint16_t acked = 0;
        std::uint16_t unsent = 0;
        std::uint16_t in_flight = 0; // fragments in state in_flight
        std::uint16_t resend = 0;
        std::uint16_t scan = 0; // fragments below this index are not unsent
        send_state state = send_state::free;
        std::optional<send_failure> failure;
        std::uint32_t retries = 0;
        loop_clock::time_point deadline{};
    };

    struct receive_slot {
        std::uint32_t sequence = 0;
        std::uint32_t length = 0;
        std::uint16_t count = 0;
        std::uint16_t chunk = 0;
        std::uint16_t received = 0;
        receive_state state = receive_state::empty;
        bool in_head = false;
        std::size_t offset = 0; // in the pool: message bytes, then the fragment bitmap
        std::size_t size = 0;
        loop_clock::time_point deadline{};
    };

    // A parsed acknowledgement body (structure already validated).
    struct ack_view {
        std::uint32_t session = 0;
        std::uint32_t expected = 0;
        std::uint8_t count = 0;
        std::span<const std::uint8_t> entries;
    };
    struct ack_entry {
        std::uint32_t sequence = 0;
        ack_status status = ack_status::partial;
        std::uint16_t fragments = 0;
        std::span<const std::uint8_t> bitmap;
    };

    datagram_outcome drop(datagram_error error) noexcept;
    datagram_outcome on_data(const decoded_data_datagram& data, loop_clock::time_point now) noexcept;
    datagram_outcome on_ack(std::span<const std::uint8_t> datagram,
                            loop_clock::time_point now) noexcept;
    std::optional<datagram_error> receive_data(const decoded_data_datagram& data,
                                               loop_clock::time_point now) noexcept;

    // Acknowledgements in.
    static std::optional<datagram_error> check_ack_body(std::span<const std::uint8_t> body,
                                                        ack_view& view) noexcept;
    static std::size_t next_entry(const ack_view& view, std::size_t at, ack_entry& entry) noexcept;
    std::optional<datagram_error> check_ack_against_sends(const ack_view& view) const noexcept;
    bool apply_ack(const ack_view& view, loop_clock::time_point now) noexcept;

    // Sending.
    send_slot& send_slot_of(std::uint32_t sequence) noexcept {
        return send_slots_[sequence & (config_.window - 1)];
    }
    std::optional<std::size_t> allocate_send(std::size_t size) const noexcept;
    void finish(send_slot& slot, std::optional<send_failure> failure) noexcept;
    std::uint32_t send_base() const noexcept;
    std::size_t write_data(send_slot& slot, std::size_t index,
                           std::span<std::uint8_t> out) noexcept;
    std::span<fragment_state> states_of(const send_slot& slot) noexcept;

    // Receiving.
    // The slot position of a sequence number: it can have a slot only below `window`.
    // Unsigned on purpose: E - deliver_next_ is anything below 2^31 (a base moves E far ahead
    // while a complete message waits for receive()), where a signed distance would wrap; every
    // loop over received sequence numbers runs over positions, so it is bounded by the window.
    std::uint32_t position_of(std::uint32_t sequence) const noexcept {
        return sequence - deliver_next_;
    }
    receive_slot* live_slot(std::uint32_t sequence) noexcept;
    const receive_slot* live_slot(std::uint32_t sequence) const noexcept;
    std::uint8_t* buffer_of(const receive_slot& slot) noexcept;
    bool allocate_receive(receive_slot& slot, std::size_t size, bool may_use_head) noexcept;
    void free_receive(receive_slot& slot) noexcept;
    void reset_receive(std::uint32_t session, std::uint32_t base) noexcept;
    void pass_expected(bool refused, bool lost) noexcept;
    void advance_expected(loop_clock::time_point now) noexcept;
    void skip_to(std::uint32_t target, loop_clock::time_point now) noexcept;
    void update_blocked(loop_clock::time_point now) noexcept;
    std::optional<std::uint32_t> first_finished_ahead() const noexcept;
    void settle_delivery() noexcept;
    void release_delivered() noexcept;
    void want_ack(loop_clock::time_point now, bool at_once) noexcept;

    // Acknowledgements out.
    std::size_t write_ack_body(std::span<std::uint8_t> out, std::size_t at,
                               std::size_t capacity) const noexcept;
    std::size_t write_ack(std::span<std::uint8_t> out) noexcept;

    reliable_config config_;
    std::size_t max_fragments_;
    std::size_t ack_threshold_;
    reliable_counters counters_;
    // Mutable: const scans (next_deadline, first_finished_ahead) do work that counts too.
    mutable std::uint64_t loop_steps_ = 0;

    // Sending: a slot per sequence number in the window, the message copies in a ring.
    std::span<send_slot> send_slots_;
    std::span<std::uint8_t> send_pool_;
    std::size_t send_head_ = 0; // next allocation in the ring
    std::uint32_t next_sequence_ = 1;
    std::uint32_t send_oldest_ = 1; // lowest sequence whose slot is not free
    std::size_t fragments_in_flight_ = 0;
    std::size_t unsent_total_ = 0;
    std::size_t resend_total_ = 0;
    std::size_t active_sends_ = 0;
    std::size_t completions_pending_ = 0;

    // Receiving: the peer's session, the expected sequence E (every earlier one finished), a
    // slot per sequence number from `deliver_next_` on, the head buffer for E, the pool.
    std::span<receive_slot> receive_slots_;
    std::span<std::uint8_t> head_buffer_;
    std::span<std::uint8_t> receive_pool_;
    bool head_used_ = false;
    bool have_peer_session_ = false;
    std::uint32_t peer_session_ = 0;
    std::uint32_t first_ = 0;        // the first sequence of the peer's session we saw
    std::uint32_t expected_ = 0;     // E
    std::uint32_t deliver_next_ = 0; // next sequence for receive(), <= E
    std::uint64_t refused_bits_ = 0; // bit i: E - 1 - i was refused
    std::uint64_t lost_bits_ = 0;    // bit i: E - 1 - i was given up
    std::size_t partial_receives_ = 0;
    std::optional<std::uint32_t> release_pending_; // delivered, buffer still lent out
    bool blocked_ = false;                         // E is missing while a later message is finished
    loop_clock::time_point blocked_deadline_{};

    // The acknowledgement owed to the peer.
    bool ack_wanted_ = false;
    loop_clock::time_point ack_due_{};
    std::size_t datagrams_since_ack_ = 0;
};

} // namespace amb::net

// A reliable message protocol over an unreliable datagram service (UDP): messages larger than
// one datagram, acknowledgements, retransmission, duplicate suppression and bounded reassembly.
// Wire format and rules in docs/net.md ("Datagram links").
//
// One `reliable_endpoint` is the protocol state for one peer: it sends messages to that peer and
// receives messages from it. It performs no I/O and reads no clock: the caller moves datagrams
// and passes the time in.
//
//     reliable_endpoint endpoint(config, storage);        // storage: storage_size(config) bytes
//     endpoint.send(message, now);                        // copied; one message in flight
//     ... on a datagram from the peer:
//     auto outcome = endpoint.on_datagram(bytes, now);
//     if (outcome.delivered) use(*outcome.delivered);     // valid until the next on_datagram
//     if (outcome.completed) ...                          // our message was acked, or failed
//     ... then, and whenever now >= endpoint.next_deadline():
//     while (true) {
//         auto polled = endpoint.poll(now, buffer);       // buffer: config.mtu bytes
//         if (polled.datagram_size) transmit(buffer.first(polled.datagram_size));
//         if (polled.completed) ...
//         if (!polled.datagram_size && !polled.completed) break;
//     }
//
// Sending: a message is split into fragments of `mtu - data_overhead` bytes; at most
// `max_in_flight` fragments are unacknowledged at a time. The receiver acknowledges every data
// datagram with a bitmap of the fragments it holds (or "complete" once delivered). If no
// acknowledgement makes progress for `retransmit_timeout`, the unacknowledged fragments are sent
// again; after `retry_limit` such timeouts in a row the send completes with
// `send_failure::retry_limit`. One message is in flight per endpoint at a time (`send` returns
// `send_error::busy` meanwhile; the caller queues).
//
// Receiving: one message is reassembled at a time, in storage sized by `max_message_size`
// (memory bound); an incomplete message is dropped after `reassembly_timeout` without progress,
// or when a newer one starts. Message sequence numbers increase; the receiver remembers which of
// the last 64 sequence numbers it delivered and acknowledges their duplicates as complete
// without delivering them again (each message is delivered exactly once per session).
//
// Every field of a received datagram is validated (CRC-32, magic, version, kind, lengths,
// fragment index and count, agreement with earlier fragments); a datagram that fails is dropped
// and counted, and leaves all state unchanged. No call allocates. Not thread-safe.
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
inline constexpr std::uint8_t datagram_version = 1;
inline constexpr std::size_t datagram_common_header_size = 12;
inline constexpr std::size_t data_header_size = 22;
inline constexpr std::size_t ack_header_size = 15;
inline constexpr std::size_t datagram_trailer_size = 4; // CRC-32
/// Bytes of a data datagram that are not message payload.
inline constexpr std::size_t data_overhead = data_header_size + datagram_trailer_size;
/// The largest UDP payload over IPv4.
inline constexpr std::size_t max_datagram_size = 65507;
/// Sequence numbers of delivered messages remembered for duplicate suppression.
inline constexpr std::uint32_t delivered_window = 64;

enum class datagram_kind : std::uint8_t { data = 1, ack = 2 };
enum class ack_status : std::uint8_t { partial = 0, complete = 1, refused = 2 };

struct reliable_config {
    /// Largest datagram sent, headers included. Both ends of a link use the same value.
    std::size_t mtu = 1200;
    /// Largest message sent or received.
    std::size_t max_message_size = 64 * 1024;
    /// Fragments sent and not yet acknowledged, at most.
    std::size_t max_in_flight = 32;
    loop_clock::duration retransmit_timeout = 200ms;
    /// Retransmission timeouts in a row without progress before a send fails.
    std::uint32_t retry_limit = 8;
    /// An incomplete incoming message without progress for this long is dropped.
    loop_clock::duration reassembly_timeout = 5s;
    /// This endpoint's session: a random, nonzero number chosen at start-up, so that the peer
    /// can tell a restarted endpoint (whose sequence numbers start again) from duplicates.
    std::uint32_t session = 1;
};

enum class send_error : std::uint8_t {
    busy = 1,          ///< a message is in flight; retry after its completion
    message_too_large, ///< larger than `max_message_size`
};

enum class send_failure : std::uint8_t {
    retry_limit = 1, ///< no progress after `retry_limit` retransmission timeouts
    refused,         ///< the peer cannot take a message this large (its configuration differs)
};

const char* to_string(send_failure failure) noexcept;

/// The end of a send: success (`failure` empty) or why it failed.
struct send_completion {
    std::uint32_t sequence = 0;
    std::optional<send_failure> failure;
};

/// Why a received datagram was dropped. Every value has a counter.
enum class datagram_error : std::uint8_t {
    too_short = 0, ///< shorter than its kind's header and trailer
    bad_magic,     ///< not one of ours
    bad_version,   ///< another protocol version
    bad_kind,      ///< unknown kind or nonzero flags
    bad_crc,       ///< corrupted
    bad_length,    ///< a payload or bitmap length that disagrees with the header
    bad_fragment,  ///< count 0, index >= count, count or chunk impossible for the length
    inconsistent,  ///< disagrees with earlier fragments of the same message
    duplicate,     ///< a fragment or message already received (acknowledged again)
    stale,         ///< an old sequence number, or an ack for a message no longer in flight
    wrong_session, ///< an ack for another session of ours (from before a restart)
    refused,       ///< a message larger than we accept; refused in the ack
};
inline constexpr std::size_t datagram_error_count = 12;

const char* to_string(datagram_error error) noexcept;

struct reliable_counters {
    std::uint32_t datagrams_received = 0;
    std::uint32_t datagrams_sent = 0;
    std::uint32_t retransmissions = 0; ///< data datagrams sent again
    std::uint32_t messages_delivered = 0;
    std::uint32_t messages_sent = 0; ///< acknowledged as complete
    std::uint32_t messages_failed = 0;
    std::uint32_t reassembly_timeouts = 0;
    std::uint32_t abandoned = 0;     ///< incomplete messages replaced by a newer one
    std::uint32_t peer_restarts = 0; ///< the peer's session changed
    std::array<std::uint32_t, datagram_error_count> dropped{}; ///< indexed by datagram_error
};

/// What one received datagram did.
struct datagram_outcome {
    std::optional<datagram_error> dropped;
    /// A complete message from the peer, in the endpoint's storage; valid until the next
    /// `on_datagram`.
    std::optional<std::span<const std::uint8_t>> delivered;
    /// Our message in flight was acknowledged (or refused).
    std::optional<send_completion> completed;
};

struct poll_outcome {
    /// Size of the datagram written to the poll buffer; 0: nothing to transmit.
    std::size_t datagram_size = 0;
    /// Our message in flight failed (retry limit).
    std::optional<send_completion> completed;
};

class reliable_endpoint {
public:
    /// Bytes of storage an endpoint with `config` needs.
    static std::size_t storage_size(const reliable_config& config) noexcept;
    /// Fragments of a message of `max_message_size` bytes with this MTU.
    static std::size_t max_fragments(const reliable_config& config) noexcept;

    /// Preconditions: `config.mtu` in [data_overhead + 1, max_datagram_size], a nonzero
    /// session, `max_in_flight >= 1`, at most 65535 fragments per message, an ack bitmap that
    /// fits one datagram, and `storage.size() >= storage_size(config)`. The storage must outlive
    /// the endpoint and is its own.
    reliable_endpoint(const reliable_config& config, std::span<std::uint8_t> storage) noexcept;
    reliable_endpoint(const reliable_endpoint&) = delete;
    reliable_endpoint& operator=(const reliable_endpoint&) = delete;

    /// Copies `message` and starts sending it; returns its sequence number. Datagrams come out
    /// of `poll`.
    result<std::uint32_t, send_error> send(std::span<const std::uint8_t> message,
                                           loop_clock::time_point now) noexcept;

    /// Handles one datagram from the peer.
    datagram_outcome on_datagram(std::span<const std::uint8_t> datagram,
                                 loop_clock::time_point now) noexcept;

    /// Runs timers and writes at most one datagram to transmit into `out` (at least `mtu`
    /// bytes). Call repeatedly until it returns neither a datagram nor a completion.
    poll_outcome poll(loop_clock::time_point now, std::span<std::uint8_t> out) noexcept;

    /// When `poll` has work next: `time_point::min()` if a datagram is ready now,
    /// `time_point::max()` if nothing is pending.
    loop_clock::time_point next_deadline() const noexcept;

    /// True while a message is in flight (`send` would return busy).
    bool sending() const noexcept { return send_active_; }
    const reliable_counters& counters() const noexcept { return counters_; }
    const reliable_config& config() const noexcept { return config_; }

private:
    enum class fragment_state : std::uint8_t { unsent, in_flight, resend, acked };

    datagram_outcome drop(datagram_error error) noexcept;
    datagram_outcome on_data(std::span<const std::uint8_t> datagram,
                             loop_clock::time_point now) noexcept;
    datagram_outcome on_ack(std::span<const std::uint8_t> datagram,
                            loop_clock::time_point now) noexcept;
    send_completion finish_send(std::optional<send_failure> failure) noexcept;
    std::size_t write_ack(std::span<std::uint8_t> out) noexcept;
    std::size_t write_data(std::size_t index, std::span<std::uint8_t> out) noexcept;
    void request_ack(std::uint32_t sequence, ack_status status) noexcept;
    std::size_t chunk_size() const noexcept { return config_.mtu - data_overhead; }
    bool receive_bit(std::size_t index) const noexcept;

    reliable_config config_;
    std::size_t max_fragments_;
    reliable_counters counters_;

    // Sending: the message copy and a state per fragment.
    std::span<std::uint8_t> send_buffer_;
    std::span<fragment_state> send_states_;
    bool send_active_ = false;
    std::uint32_t next_sequence_ = 1;
    std::uint32_t send_sequence_ = 0;
    std::size_t send_length_ = 0;
    std::size_t send_count_ = 0;
    std::size_t send_acked_ = 0;
    std::size_t send_in_flight_ = 0;
    std::size_t send_scan_ = 0; // fragments below this index are not unsent
    std::uint32_t retries_ = 0;
    loop_clock::time_point send_deadline_{};

    // Receiving: the peer's session, the delivered window, one message being reassembled.
    std::span<std::uint8_t> receive_buffer_;
    std::span<std::uint8_t> receive_bitmap_;
    bool have_peer_session_ = false;
    std::uint32_t peer_session_ = 0;
    bool have_delivered_ = false;
    std::uint32_t highest_delivered_ = 0;
    std::uint64_t delivered_bits_ = 0; // bit i: highest_delivered_ - i was delivered
    bool receive_active_ = false;
    std::uint32_t receive_sequence_ = 0;
    std::uint32_t receive_length_ = 0;
    std::uint16_t receive_count_ = 0;
    std::uint16_t receive_chunk_ = 0;
    std::size_t received_fragments_ = 0;
    loop_clock::time_point receive_deadline_{};

    // The acknowledgement to send next (the latest requested wins).
    bool ack_pending_ = false;
    std::uint32_t ack_sequence_ = 0;
    ack_status ack_status_ = ack_status::partial;
};

} // namespace amb::net

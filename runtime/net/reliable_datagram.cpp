#include <net/reliable_datagram.hpp>

#include <net/byte_order.hpp>
#include <net/crc32.hpp>

#include <cstring>

namespace amb::net {

namespace {

std::size_t bitmap_size(std::size_t fragments) noexcept {
    return (fragments + 7) / 8;
}

// Serial-number comparison (RFC 1982 style): sequence numbers may wrap around.
std::int32_t sequence_distance(std::uint32_t later, std::uint32_t earlier) noexcept {
    return static_cast<std::int32_t>(later - earlier);
}

void write_common_header(std::span<std::uint8_t> out, datagram_kind kind, std::uint32_t session,
                         std::uint32_t sequence) noexcept {
    out[0] = datagram_magic;
    out[1] = datagram_version;
    out[2] = static_cast<std::uint8_t>(kind);
    out[3] = 0;
    write_u32(out, 4, session);
    write_u32(out, 8, sequence);
}

// Appends the CRC-32 of `out.first(size)`; returns the datagram size.
std::size_t seal(std::span<std::uint8_t> out, std::size_t size) noexcept {
    write_u32(out, size, crc32(out.first(size)));
    return size + datagram_trailer_size;
}

} // namespace

const char* to_string(send_failure failure) noexcept {
    switch (failure) {
    case send_failure::retry_limit:
        return "retry limit reached without acknowledgement";
    case send_failure::refused:
        return "peer refused the message (too large)";
    }
    return "unknown send failure";
}

const char* to_string(datagram_error error) noexcept {
    switch (error) {
    case datagram_error::too_short:
        return "datagram too short";
    case datagram_error::bad_magic:
        return "bad magic";
    case datagram_error::bad_version:
        return "unsupported version";
    case datagram_error::bad_kind:
        return "bad kind or flags";
    case datagram_error::bad_crc:
        return "bad CRC";
    case datagram_error::bad_length:
        return "length disagrees with header";
    case datagram_error::bad_fragment:
        return "bad fragment index, count or chunk";
    case datagram_error::inconsistent:
        return "inconsistent with earlier fragments";
    case datagram_error::duplicate:
        return "duplicate";
    case datagram_error::stale:
        return "stale sequence number";
    case datagram_error::wrong_session:
        return "acknowledgement for another session";
    case datagram_error::refused:
        return "message too large, refused";
    }
    return "unknown datagram error";
}

std::size_t reliable_endpoint::max_fragments(const reliable_config& config) noexcept {
    std::size_t chunk = config.mtu - data_overhead;
    return config.max_message_size == 0 ? 1 : (config.max_message_size + chunk - 1) / chunk;
}

std::size_t reliable_endpoint::storage_size(const reliable_config& config) noexcept {
    std::size_t fragments = max_fragments(config);
    return 2 * config.max_message_size + fragments * sizeof(fragment_state) +
           bitmap_size(fragments);
}

reliable_endpoint::reliable_endpoint(const reliable_config& config,
                                     std::span<std::uint8_t> storage) noexcept
    : config_(config) {
    AMB_REQUIRE(config.mtu > data_overhead && config.mtu <= max_datagram_size, "bad mtu");
    AMB_REQUIRE(config.session != 0, "session must be nonzero");
    AMB_REQUIRE(config.max_in_flight >= 1, "max_in_flight must be at least 1");
    max_fragments_ = max_fragments(config);
    AMB_REQUIRE(max_fragments_ <= 0xffff, "more than 65535 fragments per message");
    AMB_REQUIRE(ack_header_size + bitmap_size(max_fragments_) + datagram_trailer_size <= config.mtu,
                "the ack bitmap does not fit one datagram");
    AMB_REQUIRE(storage.size() >= storage_size(config), "storage too small");
    send_buffer_ = storage.first(config.max_message_size);
    storage = storage.subspan(config.max_message_size);
    receive_buffer_ = storage.first(config.max_message_size);
    storage = storage.subspan(config.max_message_size);
    // fragment_state is a one-byte enum, so the byte storage can hold it directly.
    static_assert(sizeof(fragment_state) == 1);
    send_states_ = std::span<fragment_state>(reinterpret_cast<fragment_state*>(storage.data()),
                                             max_fragments_);
    storage = storage.subspan(max_fragments_);
    receive_bitmap_ = storage.first(bitmap_size(max_fragments_));
}

// --- sending ----------------------------------------------------------------------------------

result<std::uint32_t, send_error> reliable_endpoint::send(std::span<const std::uint8_t> message,
                                                          loop_clock::time_point now) noexcept {
    if (send_active_)
        return failure{send_error::busy};
    if (message.size() > config_.max_message_size)
        return failure{send_error::message_too_large};
    if (!message.empty())
        std::memcpy(send_buffer_.data(), message.data(), message.size());
    send_active_ = true;
    send_sequence_ = next_sequence_++;
    if (next_sequence_ == 0)
        next_sequence_ = 1;
    send_length_ = message.size();
    send_count_ = message.empty() ? 1 : (message.size() + chunk_size() - 1) / chunk_size();
    send_acked_ = 0;
    send_in_flight_ = 0;
    send_scan_ = 0;
    retries_ = 0;
    send_deadline_ = now + config_.retransmit_timeout;
    for (std::size_t i = 0; i < send_count_; ++i)
        send_states_[i] = fragment_state::unsent;
    return send_sequence_;
}

send_completion reliable_endpoint::finish_send(std::optional<send_failure> failure) noexcept {
    send_active_ = false;
    if (failure)
        ++counters_.messages_failed;
    else
        ++counters_.messages_sent;
    return send_completion{send_sequence_, failure};
}

std::size_t reliable_endpoint::write_data(std::size_t index, std::span<std::uint8_t> out) noexcept {
    std::size_t chunk = chunk_size();
    std::size_t offset = index * chunk;
    std::size_t payload = send_length_ - offset < chunk ? send_length_ - offset : chunk;
    write_common_header(out, datagram_kind::data, config_.session, send_sequence_);
    write_u32(out, 12, static_cast<std::uint32_t>(send_length_));
    write_u16(out, 16, static_cast<std::uint16_t>(index));
    write_u16(out, 18, static_cast<std::uint16_t>(send_count_));
    write_u16(out, 20, static_cast<std::uint16_t>(chunk));
    if (payload > 0)
        std::memcpy(out.data() + data_header_size, send_buffer_.data() + offset, payload);
    return seal(out, data_header_size + payload);
}

// --- receiving --------------------------------------------------------------------------------

datagram_outcome reliable_endpoint::drop(datagram_error error) noexcept {
    ++counters_.dropped[static_cast<std::size_t>(error)];
    datagram_outcome outcome;
    outcome.dropped = error;
    return outcome;
}

void reliable_endpoint::request_ack(std::uint32_t sequence, ack_status status) noexcept {
    ack_pending_ = true;
    ack_sequence_ = sequence;
    ack_status_ = status;
}

bool reliable_endpoint::receive_bit(std::size_t index) const noexcept {
    return (receive_bitmap_[index / 8] >> (index % 8) & 1u) != 0;
}

datagram_outcome reliable_endpoint::on_datagram(std::span<const std::uint8_t> datagram,
                                                loop_clock::time_point now) noexcept {
    ++counters_.datagrams_received;
    if (datagram.size() < datagram_common_header_size + datagram_trailer_size)
        return drop(datagram_error::too_short);
    if (datagram[0] != datagram_magic)
        return drop(datagram_error::bad_magic);
    if (datagram[1] != datagram_version)
        return drop(datagram_error::bad_version);
    if (datagram[3] != 0)
        return drop(datagram_error::bad_kind);
    std::size_t body = datagram.size() - datagram_trailer_size;
    if (crc32(datagram.first(body)) != read_u32(datagram, body))
        return drop(datagram_error::bad_crc);
    if (datagram[2] == static_cast<std::uint8_t>(datagram_kind::data))
        return on_data(datagram, now);
    if (datagram[2] == static_cast<std::uint8_t>(datagram_kind::ack))
        return on_ack(datagram, now);
    return drop(datagram_error::bad_kind);
}

datagram_outcome reliable_endpoint::on_data(std::span<const std::uint8_t> datagram,
                                            loop_clock::time_point now) noexcept {
    if (datagram.size() < data_header_size + datagram_trailer_size)
        return drop(datagram_error::too_short);
    std::uint32_t session = read_u32(datagram, 4);
    std::uint32_t sequence = read_u32(datagram, 8);
    std::uint32_t length = read_u32(datagram, 12);
    std::uint16_t index = read_u16(datagram, 16);
    std::uint16_t count = read_u16(datagram, 18);
    std::uint16_t chunk = read_u16(datagram, 20);
    std::size_t payload_size = datagram.size() - data_header_size - datagram_trailer_size;

    // The header must describe a possible message, whatever we can accept.
    if (count == 0 || index >= count || chunk == 0)
        return drop(datagram_error::bad_fragment);
    std::uint64_t expected_count = length == 0 ? 1 : (std::uint64_t{length} + chunk - 1) / chunk;
    if (expected_count != count)
        return drop(datagram_error::bad_fragment);
    std::size_t expected_payload =
        index + 1u < count ? chunk : length - std::size_t{count - 1u} * chunk;
    if (payload_size != expected_payload)
        return drop(datagram_error::bad_length);

    // A new session of the peer: its sequence numbers start again. Checked only now, so that a
    // malformed datagram cannot reset anything.
    // TODO(security): an attacker can forge a session change and make duplicates deliverable
    // again; replay protection proper lives in CAPLets one layer up.
    if (!have_peer_session_ || session != peer_session_) {
        if (have_peer_session_)
            ++counters_.peer_restarts;
        have_peer_session_ = true;
        peer_session_ = session;
        have_delivered_ = false;
        delivered_bits_ = 0;
        receive_active_ = false;
        ack_pending_ = false;
    }

    if (have_delivered_) {
        std::int32_t distance = sequence_distance(sequence, highest_delivered_);
        if (distance <= 0) {
            auto age = static_cast<std::uint32_t>(-static_cast<std::int64_t>(distance));
            if (age < delivered_window && (delivered_bits_ >> age & 1u) != 0) {
                request_ack(sequence, ack_status::complete);
                return drop(datagram_error::duplicate);
            }
            return drop(datagram_error::stale);
        }
    }
    if (length > config_.max_message_size || count > max_fragments_) {
        request_ack(sequence, ack_status::refused);
        return drop(datagram_error::refused);
    }
    if (receive_active_ && sequence == receive_sequence_) {
        if (length != receive_length_ || count != receive_count_ || chunk != receive_chunk_)
            return drop(datagram_error::inconsistent);
    } else if (receive_active_ && sequence_distance(sequence, receive_sequence_) < 0) {
        return drop(datagram_error::stale);
    } else {
        if (receive_active_)
            ++counters_.abandoned;
        receive_active_ = true;
        receive_sequence_ = sequence;
        receive_length_ = length;
        receive_count_ = count;
        receive_chunk_ = chunk;
        received_fragments_ = 0;
        std::memset(receive_bitmap_.data(), 0, bitmap_size(count));
    }

    receive_deadline_ = now + config_.reassembly_timeout;
    if (receive_bit(index)) {
        request_ack(sequence, ack_status::partial);
        return drop(datagram_error::duplicate);
    }
    if (payload_size > 0)
        std::memcpy(receive_buffer_.data() + std::size_t{index} * chunk,
                    datagram.data() + data_header_size, payload_size);
    receive_bitmap_[index / 8] =
        static_cast<std::uint8_t>(receive_bitmap_[index / 8] | (1u << (index % 8)));
    ++received_fragments_;
    if (received_fragments_ < count) {
        request_ack(sequence, ack_status::partial);
        return {};
    }

    receive_active_ = false;
    if (have_delivered_) {
        auto distance = static_cast<std::uint32_t>(sequence_distance(sequence, highest_delivered_));
        delivered_bits_ = distance >= delivered_window ? 0 : delivered_bits_ << distance;
    } else {
        delivered_bits_ = 0;
    }
    delivered_bits_ |= 1u;
    have_delivered_ = true;
    highest_delivered_ = sequence;
    ++counters_.messages_delivered;
    request_ack(sequence, ack_status::complete);
    datagram_outcome outcome;
    outcome.delivered = std::span<const std::uint8_t>(receive_buffer_.data(), length);
    return outcome;
}

datagram_outcome reliable_endpoint::on_ack(std::span<const std::uint8_t> datagram,
                                           loop_clock::time_point now) noexcept {
    if (datagram.size() < ack_header_size + datagram_trailer_size)
        return drop(datagram_error::too_short);
    std::uint32_t session = read_u32(datagram, 4);
    std::uint32_t sequence = read_u32(datagram, 8);
    std::uint8_t status = datagram[12];
    std::uint16_t count = read_u16(datagram, 13);
    std::span<const std::uint8_t> bitmap = datagram.subspan(
        ack_header_size, datagram.size() - ack_header_size - datagram_trailer_size);

    if (status > static_cast<std::uint8_t>(ack_status::refused))
        return drop(datagram_error::bad_kind);
    bool partial = status == static_cast<std::uint8_t>(ack_status::partial);
    if (!partial && (count != 0 || !bitmap.empty()))
        return drop(datagram_error::bad_length);
    if (partial && (count == 0 || bitmap.size() != bitmap_size(count)))
        return drop(datagram_error::bad_length);
    // Bits past the count must be clear.
    if (partial && count % 8 != 0 && (bitmap.back() >> (count % 8)) != 0)
        return drop(datagram_error::bad_fragment);
    if (session != config_.session)
        return drop(datagram_error::wrong_session);
    if (!send_active_ || sequence != send_sequence_)
        return drop(datagram_error::stale);
    if (partial && count != send_count_)
        return drop(datagram_error::inconsistent);

    datagram_outcome outcome;
    if (status == static_cast<std::uint8_t>(ack_status::complete)) {
        outcome.completed = finish_send(std::nullopt);
        return outcome;
    }
    if (status == static_cast<std::uint8_t>(ack_status::refused)) {
        outcome.completed = finish_send(send_failure::refused);
        return outcome;
    }
    bool progress = false;
    for (std::size_t i = 0; i < send_count_; ++i) {
        if ((bitmap[i / 8] >> (i % 8) & 1u) == 0 || send_states_[i] == fragment_state::acked)
            continue;
        if (send_states_[i] == fragment_state::in_flight ||
            send_states_[i] == fragment_state::resend)
            --send_in_flight_;
        send_states_[i] = fragment_state::acked;
        ++send_acked_;
        progress = true;
    }
    if (progress) {
        retries_ = 0;
        send_deadline_ = now + config_.retransmit_timeout;
    }
    if (send_acked_ == send_count_)
        outcome.completed = finish_send(std::nullopt);
    return outcome;
}

// --- timers and output ------------------------------------------------------------------------

std::size_t reliable_endpoint::write_ack(std::span<std::uint8_t> out) noexcept {
    ack_pending_ = false;
    std::size_t size = ack_header_size;
    write_common_header(out, datagram_kind::ack, peer_session_, ack_sequence_);
    out[12] = static_cast<std::uint8_t>(ack_status_);
    write_u16(out, 13, 0);
    if (ack_status_ == ack_status::partial) {
        // The bitmap describes the message being reassembled; if it is gone (timed out or
        // replaced), the acknowledgement is no longer worth sending.
        if (!receive_active_ || receive_sequence_ != ack_sequence_)
            return 0;
        write_u16(out, 13, receive_count_);
        std::size_t bytes = bitmap_size(receive_count_);
        std::memcpy(out.data() + size, receive_bitmap_.data(), bytes);
        size += bytes;
    }
    return seal(out, size);
}

poll_outcome reliable_endpoint::poll(loop_clock::time_point now,
                                     std::span<std::uint8_t> out) noexcept {
    AMB_REQUIRE(out.size() >= config_.mtu, "poll buffer smaller than the mtu");
    poll_outcome outcome;
    if (receive_active_ && now >= receive_deadline_) {
        receive_active_ = false;
        ++counters_.reassembly_timeouts;
    }
    if (send_active_ && now >= send_deadline_) {
        if (retries_ >= config_.retry_limit) {
            outcome.completed = finish_send(send_failure::retry_limit);
            return outcome;
        }
        ++retries_;
        for (std::size_t i = 0; i < send_count_; ++i)
            if (send_states_[i] == fragment_state::in_flight)
                send_states_[i] = fragment_state::resend;
        send_deadline_ = now + config_.retransmit_timeout;
    }
    if (ack_pending_) {
        std::size_t size = write_ack(out);
        if (size > 0) {
            ++counters_.datagrams_sent;
            outcome.datagram_size = size;
            return outcome;
        }
    }
    if (!send_active_)
        return outcome;
    // Retransmissions first (they are already counted in flight), then new fragments while the
    // window has room. TODO(perf): linear scans; fine for the tens of fragments of 64 KiB.
    std::optional<std::size_t> chosen;
    for (std::size_t i = 0; i < send_count_ && !chosen; ++i)
        if (send_states_[i] == fragment_state::resend)
            chosen = i;
    if (chosen) {
        ++counters_.retransmissions;
    } else if (send_in_flight_ < config_.max_in_flight) {
        while (send_scan_ < send_count_ && send_states_[send_scan_] != fragment_state::unsent)
            ++send_scan_;
        if (send_scan_ < send_count_) {
            chosen = send_scan_;
            ++send_in_flight_;
        }
    }
    if (!chosen)
        return outcome;
    send_states_[*chosen] = fragment_state::in_flight;
    send_deadline_ = now + config_.retransmit_timeout;
    ++counters_.datagrams_sent;
    outcome.datagram_size = write_data(*chosen, out);
    return outcome;
}

loop_clock::time_point reliable_endpoint::next_deadline() const noexcept {
    if (ack_pending_)
        return loop_clock::time_point::min();
    loop_clock::time_point deadline = loop_clock::time_point::max();
    if (send_active_) {
        bool resend = false;
        for (std::size_t i = 0; i < send_count_ && !resend; ++i)
            resend = send_states_[i] == fragment_state::resend;
        bool room = send_in_flight_ < config_.max_in_flight && send_scan_ < send_count_;
        if (resend || room)
            return loop_clock::time_point::min();
        deadline = send_deadline_;
    }
    if (receive_active_ && receive_deadline_ < deadline)
        deadline = receive_deadline_;
    return deadline;
}

} // namespace amb::net

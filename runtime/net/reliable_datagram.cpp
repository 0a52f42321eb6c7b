#include <net/reliable_datagram.hpp>

#include <net/byte_order.hpp>
#include <net/crc32.hpp>

#include <cstring>
#include <new>

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

// Header, payload and base of a data datagram; returns the bytes written (the CRC comes later,
// after a piggybacked acknowledgement if any).
std::size_t write_data_part(std::span<std::uint8_t> out, const data_fields& fields,
                            std::span<const std::uint8_t> payload) noexcept {
    write_common_header(out, datagram_kind::data, fields.session, fields.sequence);
    write_u32(out, 12, fields.length);
    write_u16(out, 16, fields.index);
    write_u16(out, 18, fields.count);
    write_u16(out, 20, fields.chunk);
    if (!payload.empty())
        std::memcpy(out.data() + data_header_size, payload.data(), payload.size());
    std::size_t size = data_header_size + payload.size();
    write_u32(out, size, fields.base);
    return size + data_base_size;
}

bool bit(std::span<const std::uint8_t> bitmap, std::size_t index) noexcept {
    return (bitmap[index / 8] >> (index % 8) & 1u) != 0;
}

std::uint64_t shifted(std::uint64_t bits, std::uint32_t by) noexcept {
    return by >= 64 ? 0 : bits << by;
}

constexpr std::size_t slot_alignment = alignof(std::max_align_t);

std::size_t round_up(std::size_t value, std::size_t to) noexcept {
    return (value + to - 1) / to * to;
}

} // namespace

const char* to_string(send_failure failure) noexcept {
    switch (failure) {
    case send_failure::retry_limit:
        return "retry limit reached without acknowledgement";
    case send_failure::refused:
        return "peer refused the message (too large)";
    case send_failure::lost:
        return "peer gave up waiting for the message";
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
        return "bad kind, flags or status";
    case datagram_error::bad_crc:
        return "bad CRC";
    case datagram_error::bad_length:
        return "length disagrees with header";
    case datagram_error::bad_fragment:
        return "bad fragment index, count, chunk or sequence fields";
    case datagram_error::inconsistent:
        return "inconsistent with earlier fragments or messages in flight";
    case datagram_error::duplicate:
        return "duplicate";
    case datagram_error::stale:
        return "stale sequence number or acknowledgement";
    case datagram_error::wrong_session:
        return "acknowledgement for another session";
    case datagram_error::refused:
        return "message too large, refused";
    case datagram_error::ahead:
        return "sequence number beyond the receive window";
    case datagram_error::no_room:
        return "no receive buffer for a message ahead";
    }
    return "unknown datagram error";
}

std::size_t encode_data_datagram(const data_fields& fields, std::span<const std::uint8_t> payload,
                                 std::span<std::uint8_t> out,
                                 std::span<const std::uint8_t> ack_body) noexcept {
    std::size_t size = write_data_part(out, fields, payload);
    if (!ack_body.empty()) {
        out[3] = datagram_flag_ack;
        std::memcpy(out.data() + size, ack_body.data(), ack_body.size());
        size += ack_body.size();
    }
    return seal(out, size);
}

// --- storage --------------------------------------------------------------------------------
//
// Layout: send slots, receive slots (aligned), then bytes: the send pool (message copies and a
// state byte per fragment), the head buffer (the next expected message and its bitmap), the
// receive pool (messages ahead and their bitmaps).

namespace {

std::size_t pool_bytes(const reliable_config& config) noexcept {
    return config.buffer_size == 0 ? config.max_message_size : config.buffer_size;
}

} // namespace

std::size_t reliable_endpoint::max_fragments(const reliable_config& config) noexcept {
    std::size_t chunk = config.mtu - data_overhead;
    return config.max_message_size == 0 ? 1 : (config.max_message_size + chunk - 1) / chunk;
}

std::size_t reliable_endpoint::min_ack_size(const reliable_config& config) noexcept {
    return ack_header_size + 3 * config.window + 5 + bitmap_size(max_fragments(config)) +
           datagram_trailer_size;
}

std::size_t reliable_endpoint::storage_size(const reliable_config& config) noexcept {
    std::size_t fragments = max_fragments(config);
    std::size_t slots = round_up(config.window * sizeof(send_slot), slot_alignment) +
                        round_up(config.window * sizeof(receive_slot), slot_alignment);
    std::size_t send_pool = pool_bytes(config) + fragments;
    std::size_t head = config.max_message_size + bitmap_size(fragments);
    std::size_t receive_pool = pool_bytes(config) + bitmap_size(fragments);
    return slot_alignment + slots + send_pool + head + receive_pool;
}

reliable_endpoint::reliable_endpoint(const reliable_config& config,
                                     std::span<std::uint8_t> storage) noexcept
    : config_(config), max_fragments_(max_fragments(config)) {
    AMB_REQUIRE(config.mtu > data_overhead && config.mtu <= max_datagram_size,
                "reliable_endpoint: mtu out of range");
    AMB_REQUIRE(config.session != 0, "reliable_endpoint: session must be nonzero");
    AMB_REQUIRE(config.max_in_flight >= 1, "reliable_endpoint: max_in_flight must be >= 1");
    AMB_REQUIRE(config.window >= 1 && config.window <= max_window &&
                    (config.window & (config.window - 1)) == 0,
                "reliable_endpoint: window must be a power of two in [1, 64]");
    AMB_REQUIRE(config.buffer_size == 0 || config.buffer_size >= config.max_message_size,
                "reliable_endpoint: buffer_size below max_message_size");
    AMB_REQUIRE(max_fragments_ <= 0xffff, "reliable_endpoint: too many fragments per message");
    AMB_REQUIRE(min_ack_size(config) <= config.mtu,
                "reliable_endpoint: an acknowledgement does not fit the mtu");
    AMB_REQUIRE(config.ack_delay < config.retransmit_timeout,
                "reliable_endpoint: ack_delay must be below retransmit_timeout");
    AMB_REQUIRE(storage.size() >= storage_size(config), "reliable_endpoint: storage too small");

    std::size_t threshold =
        config.window < config.max_in_flight ? config.window : config.max_in_flight;
    ack_threshold_ = threshold / 2 > 0 ? threshold / 2 : 1;

    auto address = reinterpret_cast<std::uintptr_t>(storage.data());
    std::size_t skip = round_up(address, slot_alignment) - address;
    storage = storage.subspan(skip);
    auto* sends = reinterpret_cast<send_slot*>(storage.data());
    for (std::size_t i = 0; i < config.window; ++i)
        new (sends + i) send_slot{};
    send_slots_ = std::span<send_slot>(sends, config.window);
    storage = storage.subspan(round_up(config.window * sizeof(send_slot), slot_alignment));
    auto* receives = reinterpret_cast<receive_slot*>(storage.data());
    for (std::size_t i = 0; i < config.window; ++i)
        new (receives + i) receive_slot{};
    receive_slots_ = std::span<receive_slot>(receives, config.window);
    storage = storage.subspan(round_up(config.window * sizeof(receive_slot), slot_alignment));

    std::size_t bitmap = bitmap_size(max_fragments_);
    send_pool_ = storage.first(pool_bytes(config) + max_fragments_);
    storage = storage.subspan(send_pool_.size());
    head_buffer_ = storage.first(config.max_message_size + bitmap);
    storage = storage.subspan(head_buffer_.size());
    receive_pool_ = storage.first(pool_bytes(config) + bitmap);
}

// --- sending ----------------------------------------------------------------------------------

std::span<reliable_endpoint::fragment_state>
reliable_endpoint::states_of(const send_slot& slot) noexcept {
    // fragment_state is a one-byte enum, so the byte storage can hold it directly.
    static_assert(sizeof(fragment_state) == 1);
    return {reinterpret_cast<fragment_state*>(send_pool_.data() + slot.offset + slot.length),
            slot.count};
}

// The send pool is a ring: messages are allocated in sequence order, and the space of the
// oldest active message (and everything after it) is in use.
std::optional<std::size_t> reliable_endpoint::allocate_send(std::size_t size) const noexcept {
    std::optional<std::size_t> tail;
    for (std::uint32_t s = send_oldest_; s != next_sequence_ && !tail; ++s) {
        ++loop_steps_;
        const send_slot& slot = send_slots_[s & (config_.window - 1)];
        if (slot.state == send_state::active)
            tail = slot.offset;
    }
    if (!tail)
        return size <= send_pool_.size() ? std::optional<std::size_t>(0) : std::nullopt;
    if (send_head_ > *tail) {
        if (send_pool_.size() - send_head_ >= size)
            return send_head_;
        if (*tail >= size)
            return 0;
        return std::nullopt;
    }
    if (send_head_ < *tail && *tail - send_head_ >= size)
        return send_head_;
    return std::nullopt; // equal: full
}

result<std::uint32_t, send_error> reliable_endpoint::send(std::span<const std::uint8_t> message,
                                                          loop_clock::time_point now) noexcept {
    if (message.size() > config_.max_message_size)
        return failure{send_error::message_too_large};
    if (next_sequence_ - send_oldest_ >= config_.window)
        return failure{send_error::busy};
    std::size_t count = message.empty() ? 1
                                        : (message.size() + config_.mtu - data_overhead - 1) /
                                              (config_.mtu - data_overhead);
    auto offset = allocate_send(message.size() + count);
    if (!offset)
        return failure{send_error::busy};
    send_head_ = *offset + message.size() + count;
    send_slot& slot = send_slot_of(next_sequence_);
    slot = send_slot{};
    slot.sequence = next_sequence_;
    slot.length = static_cast<std::uint32_t>(message.size());
    slot.offset = *offset;
    slot.count = static_cast<std::uint16_t>(count);
    slot.unsent = slot.count;
    slot.state = send_state::active;
    slot.deadline = now + config_.retransmit_timeout;
    if (!message.empty())
        std::memcpy(send_pool_.data() + slot.offset, message.data(), message.size());
    for (fragment_state& state : states_of(slot))
        state = fragment_state::unsent;
    unsent_total_ += count;
    ++active_sends_;
    return next_sequence_++;
}

void reliable_endpoint::finish(send_slot& slot, std::optional<send_failure> failure) noexcept {
    fragments_in_flight_ -= slot.in_flight + slot.resend;
    unsent_total_ -= slot.unsent;
    resend_total_ -= slot.resend;
    slot.in_flight = slot.resend = slot.unsent = 0;
    slot.state = send_state::done;
    slot.failure = failure;
    --active_sends_;
    ++completions_pending_;
    if (failure)
        ++counters_.messages_failed;
    else
        ++counters_.messages_sent;
}

// Every message before the base is finished here (acknowledged, refused or given up).
std::uint32_t reliable_endpoint::send_base() const noexcept {
    for (std::uint32_t s = send_oldest_; s != next_sequence_; ++s) {
        ++loop_steps_;
        if (send_slots_[s & (config_.window - 1)].state == send_state::active)
            return s;
    }
    return next_sequence_;
}

std::size_t reliable_endpoint::write_data(send_slot& slot, std::size_t index,
                                          std::span<std::uint8_t> out) noexcept {
    std::size_t chunk = config_.mtu - data_overhead;
    std::size_t offset = index * chunk;
    std::size_t payload = slot.length - offset < chunk ? slot.length - offset : chunk;
    data_fields fields;
    fields.session = config_.session;
    fields.sequence = slot.sequence;
    fields.length = slot.length;
    fields.index = static_cast<std::uint16_t>(index);
    fields.count = slot.count;
    fields.chunk = static_cast<std::uint16_t>(chunk);
    fields.base = send_base();
    std::size_t size =
        write_data_part(out, fields, send_pool_.subspan(slot.offset + offset, payload));
    if (ack_wanted_) {
        std::size_t body = write_ack_body(out, size, config_.mtu - datagram_trailer_size - size);
        if (body > 0) {
            out[3] = datagram_flag_ack;
            size += body;
            ack_wanted_ = false;
            datagrams_since_ack_ = 0;
            ++counters_.acks_piggybacked;
        }
    }
    return seal(out, size);
}

// --- acknowledgements in ----------------------------------------------------------------------

// Entry: i16 sequence - expected, u8 status, and for partial: u16 fragment count and the bitmap.
std::size_t reliable_endpoint::next_entry(const ack_view& view, std::size_t at,
                                          ack_entry& entry) noexcept {
    auto delta = static_cast<std::int16_t>(read_u16(view.entries, at));
    entry.sequence = view.expected + static_cast<std::uint32_t>(static_cast<std::int32_t>(delta));
    entry.status = static_cast<ack_status>(view.entries[at + 2]);
    at += 3;
    entry.fragments = 0;
    entry.bitmap = {};
    if (entry.status == ack_status::partial) {
        entry.fragments = read_u16(view.entries, at);
        at += 2;
        entry.bitmap = view.entries.subspan(at, bitmap_size(entry.fragments));
        at += entry.bitmap.size();
    }
    return at;
}

std::optional<datagram_error> reliable_endpoint::check_ack_body(std::span<const std::uint8_t> body,
                                                                ack_view& view) noexcept {
    if (body.size() < ack_body_header_size)
        return datagram_error::too_short;
    view.session = read_u32(body, 0);
    view.expected = read_u32(body, 4);
    view.count = body[8];
    view.entries = body.subspan(ack_body_header_size);
    std::size_t at = 0;
    std::int32_t previous = -0x10000;
    for (std::size_t i = 0; i < view.count; ++i) {
        if (view.entries.size() - at < 3)
            return datagram_error::bad_length;
        std::int32_t delta = static_cast<std::int16_t>(read_u16(view.entries, at));
        std::uint8_t status = view.entries[at + 2];
        if (status > static_cast<std::uint8_t>(ack_status::lost))
            return datagram_error::bad_kind;
        if (delta <= previous)
            return datagram_error::bad_fragment; // entries in increasing order, once each
        previous = delta;
        bool possible = true;
        switch (static_cast<ack_status>(status)) {
        case ack_status::partial:
            possible = delta >= 0;
            break;
        case ack_status::complete:
            possible = delta >= 1;
            break;
        case ack_status::refused:
            break;
        case ack_status::lost:
            possible = delta < 0;
            break;
        }
        if (!possible)
            return datagram_error::bad_fragment;
        if (status == static_cast<std::uint8_t>(ack_status::partial)) {
            if (view.entries.size() - at < 5)
                return datagram_error::bad_length;
            std::uint16_t fragments = read_u16(view.entries, at + 3);
            if (fragments == 0 || view.entries.size() - at - 5 < bitmap_size(fragments))
                return datagram_error::bad_length;
            // Bits past the count must be clear.
            std::uint8_t last = view.entries[at + 5 + bitmap_size(fragments) - 1];
            if (fragments % 8 != 0 && (last >> (fragments % 8)) != 0)
                return datagram_error::bad_fragment;
            at += 5 + bitmap_size(fragments);
        } else {
            at += 3;
        }
    }
    if (at != view.entries.size())
        return datagram_error::bad_length;
    return std::nullopt;
}

// Checks an ack of our session against the messages in flight, without changing anything.
std::optional<datagram_error>
reliable_endpoint::check_ack_against_sends(const ack_view& view) const noexcept {
    // The peer cannot expect a message we have not sent.
    if (sequence_distance(view.expected, next_sequence_) > 0)
        return datagram_error::inconsistent;
    ack_entry entry;
    for (std::size_t at = 0, i = 0; i < view.count; ++i) {
        ++loop_steps_;
        at = next_entry(view, at, entry);
        if (entry.status != ack_status::partial)
            continue;
        if (sequence_distance(entry.sequence, next_sequence_) >= 0)
            return datagram_error::inconsistent;
        const send_slot& slot = send_slots_[entry.sequence & (config_.window - 1)];
        if (slot.state == send_state::active && slot.sequence == entry.sequence &&
            slot.count != entry.fragments)
            return datagram_error::inconsistent;
    }
    return std::nullopt;
}

bool reliable_endpoint::apply_ack(const ack_view& view, loop_clock::time_point now) noexcept {
    bool progress = false;
    ack_entry entry;
    std::size_t at = 0;
    std::size_t taken = 0;
    bool have_entry = false;
    auto advance_entry = [&] {
        have_entry = taken < view.count;
        if (have_entry) {
            at = next_entry(view, at, entry);
            ++taken;
        }
    };
    advance_entry();
    // The messages in flight before the peer's E, counted from send_oldest_. Its E may lag far
    // behind (sends that failed here) or, forged, be anywhere before our next sequence number:
    // only a position within the messages in flight means something.
    std::uint32_t finished_below = view.expected - send_oldest_;
    if (finished_below > next_sequence_ - send_oldest_)
        finished_below = 0;
    for (std::uint32_t s = send_oldest_; s != next_sequence_; ++s) {
        ++loop_steps_;
        send_slot& slot = send_slot_of(s);
        // Entries for sequences before this one concern messages no longer active.
        while (have_entry && sequence_distance(entry.sequence, s) < 0) {
            ++loop_steps_;
            advance_entry();
        }
        if (slot.state != send_state::active)
            continue;
        bool listed = have_entry && entry.sequence == s;
        if (s - send_oldest_ < finished_below) {
            // Finished at the receiver: delivered unless listed as refused or lost.
            if (listed && entry.status == ack_status::refused)
                finish(slot, send_failure::refused);
            else if (listed && entry.status == ack_status::lost)
                finish(slot, send_failure::lost);
            else
                finish(slot, std::nullopt);
            progress = true;
            continue;
        }
        if (!listed)
            continue;
        if (entry.status == ack_status::complete) {
            finish(slot, std::nullopt);
            progress = true;
        } else if (entry.status == ack_status::refused) {
            finish(slot, send_failure::refused);
            progress = true;
        } else if (entry.status == ack_status::partial) {
            std::span<fragment_state> states = states_of(slot);
            bool moved = false;
            for (std::size_t i = 0; i < slot.count; ++i) {
                if (!bit(entry.bitmap, i) || states[i] == fragment_state::acked)
                    continue;
                switch (states[i]) {
                case fragment_state::unsent:
                    --slot.unsent;
                    --unsent_total_;
                    break;
                case fragment_state::in_flight:
                    --slot.in_flight;
                    --fragments_in_flight_;
                    break;
                case fragment_state::resend:
                    --slot.resend;
                    --resend_total_;
                    --fragments_in_flight_;
                    break;
                case fragment_state::acked:
                    break;
                }
                states[i] = fragment_state::acked;
                ++slot.acked;
                moved = true;
            }
            if (moved) {
                progress = true;
                slot.retries = 0;
                slot.deadline = now + config_.retransmit_timeout;
                if (slot.acked == slot.count)
                    finish(slot, std::nullopt);
            }
        }
    }
    return progress;
}

// --- receiving --------------------------------------------------------------------------------

datagram_outcome reliable_endpoint::drop(datagram_error error) noexcept {
    ++counters_.dropped[static_cast<std::size_t>(error)];
    datagram_outcome outcome;
    outcome.dropped = error;
    return outcome;
}

reliable_endpoint::receive_slot* reliable_endpoint::live_slot(std::uint32_t sequence) noexcept {
    receive_slot& slot = receive_slots_[sequence & (config_.window - 1)];
    return slot.state != receive_state::empty && slot.sequence == sequence ? &slot : nullptr;
}

const reliable_endpoint::receive_slot*
reliable_endpoint::live_slot(std::uint32_t sequence) const noexcept {
    const receive_slot& slot = receive_slots_[sequence & (config_.window - 1)];
    return slot.state != receive_state::empty && slot.sequence == sequence ? &slot : nullptr;
}

std::uint8_t* reliable_endpoint::buffer_of(const receive_slot& slot) noexcept {
    return slot.in_head ? head_buffer_.data() : receive_pool_.data() + slot.offset;
}

std::size_t reliable_endpoint::receive_buffer_in_use() const noexcept {
    std::size_t used = 0;
    for (const receive_slot& slot : receive_slots_) {
        ++loop_steps_;
        if (slot.state != receive_state::empty && slot.size > 0)
            used += slot.size;
    }
    return used;
}

// The message E may take the head buffer; every message takes the first gap in the pool that
// fits (first fit over the slots' ranges, at most `window` of them).
bool reliable_endpoint::allocate_receive(receive_slot& slot, std::size_t size,
                                         bool may_use_head) noexcept {
    if (may_use_head && !head_used_) {
        head_used_ = true;
        slot.in_head = true;
        slot.offset = 0;
        slot.size = size;
        return true;
    }
    std::array<std::pair<std::size_t, std::size_t>, max_window> used{};
    std::size_t ranges = 0;
    for (const receive_slot& other : receive_slots_) {
        ++loop_steps_;
        if (&other == &slot || other.state == receive_state::empty || other.in_head ||
            other.size == 0)
            continue;
        // Insertion sort by offset.
        std::size_t i = ranges++;
        while (i > 0 && used[i - 1].first > other.offset) {
            used[i] = used[i - 1];
            --i;
        }
        used[i] = {other.offset, other.offset + other.size};
    }
    std::size_t start = 0;
    for (std::size_t i = 0; i <= ranges; ++i) {
        std::size_t end = i < ranges ? used[i].first : receive_pool_.size();
        if (end >= start && end - start >= size) {
            slot.in_head = false;
            slot.offset = start;
            slot.size = size;
            return true;
        }
        if (i < ranges)
            start = used[i].second;
    }
    return false;
}

void reliable_endpoint::free_receive(receive_slot& slot) noexcept {
    if (slot.state == receive_state::partial)
        --partial_receives_;
    if (slot.in_head && slot.size > 0)
        head_used_ = false;
    slot = receive_slot{};
}

void reliable_endpoint::reset_receive(std::uint32_t session, std::uint32_t base) noexcept {
    loop_steps_ += receive_slots_.size();
    for (receive_slot& slot : receive_slots_)
        slot = receive_slot{};
    head_used_ = false;
    partial_receives_ = 0;
    release_pending_.reset();
    have_peer_session_ = true;
    peer_session_ = session;
    first_ = expected_ = deliver_next_ = base;
    refused_bits_ = lost_bits_ = 0;
    blocked_ = false;
    ack_wanted_ = false;
    datagrams_since_ack_ = 0;
}

void reliable_endpoint::release_delivered() noexcept {
    if (!release_pending_)
        return;
    if (receive_slot* slot = live_slot(*release_pending_);
        slot != nullptr && slot->state == receive_state::delivered)
        free_receive(*slot);
    release_pending_.reset();
}

// E moves past a finished (or given-up) sequence number.
void reliable_endpoint::pass_expected(bool refused, bool lost) noexcept {
    refused_bits_ = refused_bits_ << 1 | (refused ? 1u : 0u);
    lost_bits_ = lost_bits_ << 1 | (lost ? 1u : 0u);
    ++expected_;
}

void reliable_endpoint::advance_expected(loop_clock::time_point now) noexcept {
    // Live slots are at positions below the window, so E passes at most window of them.
    while (position_of(expected_) < config_.window) {
        ++loop_steps_;
        receive_slot* slot = live_slot(expected_);
        if (slot == nullptr)
            break;
        if (slot->state == receive_state::refused) {
            free_receive(*slot);
            pass_expected(true, false);
        } else if (slot->state == receive_state::complete) {
            pass_expected(false, false); // stays for receive()
        } else {
            break;
        }
    }
    update_blocked(now);
}

// Only the slot positions after E can hold a finished message: at most window - 1 of them, and
// none when a base moved E beyond the slots (then E - deliver_next_ can be up to 2^31 - 1, and
// a scan bounded by sequence numbers instead of positions once ran 2^31 steps).
std::optional<std::uint32_t> reliable_endpoint::first_finished_ahead() const noexcept {
    std::uint32_t position = position_of(expected_);
    if (position >= config_.window)
        return std::nullopt;
    for (std::uint32_t at = position + 1; at < config_.window; ++at) {
        ++loop_steps_;
        const receive_slot* slot = live_slot(deliver_next_ + at);
        if (slot != nullptr &&
            (slot->state == receive_state::complete || slot->state == receive_state::refused))
            return deliver_next_ + at;
    }
    return std::nullopt;
}

// E is blocked when it is unfinished and a later message is finished: the later ones wait. The
// wait is bounded: when the peer is silent for reassembly_timeout, E is given up (poll).
void reliable_endpoint::update_blocked(loop_clock::time_point now) noexcept {
    bool blocked = first_finished_ahead().has_value();
    if (blocked && !blocked_)
        blocked_deadline_ = now + config_.reassembly_timeout;
    blocked_ = blocked;
}

// Every sequence before `target` is finished or given up: the sender moved on (its base), or
// the wait for E timed out. Complete messages stay for delivery. E passes the slot positions one
// by one (at most `window`), then jumps: the work is bounded by the window, not by the distance.
// Precondition: target - deliver_next_ < 2^31 (receive_data checks it for a base), so that E
// and deliver_next_ stay comparable.
void reliable_endpoint::skip_to(std::uint32_t target, loop_clock::time_point now) noexcept {
    while (sequence_distance(target, expected_) > 0) {
        ++loop_steps_;
        if (position_of(expected_) >= config_.window) {
            // Beyond the slots: nothing was received there. Jump.
            auto rest = static_cast<std::uint32_t>(sequence_distance(target, expected_));
            refused_bits_ = shifted(refused_bits_, rest);
            lost_bits_ = rest >= 64 ? ~std::uint64_t{0}
                                    : lost_bits_ << rest | ((std::uint64_t{1} << rest) - 1);
            counters_.abandoned += rest;
            expected_ = target;
            break;
        }
        receive_slot* slot = live_slot(expected_);
        if (slot != nullptr && slot->state == receive_state::complete) {
            pass_expected(false, false);
        } else if (slot != nullptr && slot->state == receive_state::refused) {
            free_receive(*slot);
            pass_expected(true, false);
        } else {
            if (slot != nullptr)
                free_receive(*slot);
            ++counters_.abandoned;
            pass_expected(false, true);
        }
    }
    advance_expected(now);
    settle_delivery();
}

// Moves deliver_next_ to the next complete message before E, or to E.
void reliable_endpoint::settle_delivery() noexcept {
    for (std::size_t i = 0; i < config_.window && deliver_next_ != expected_; ++i) {
        ++loop_steps_;
        const receive_slot* slot = live_slot(deliver_next_);
        if (slot != nullptr && slot->state == receive_state::complete)
            return;
        ++deliver_next_;
    }
    // Slots exist only within `window` of the old deliver_next_: nothing else to deliver.
    deliver_next_ = expected_;
}

std::optional<std::span<const std::uint8_t>> reliable_endpoint::receive() noexcept {
    release_delivered();
    settle_delivery();
    if (deliver_next_ == expected_)
        return std::nullopt;
    receive_slot* slot = live_slot(deliver_next_);
    AMB_ASSERT(slot != nullptr && slot->state == receive_state::complete,
               "reliable_endpoint: settled on a message that is not complete");
    slot->state = receive_state::delivered;
    release_pending_ = deliver_next_;
    ++deliver_next_;
    ++counters_.messages_delivered;
    return std::span<const std::uint8_t>(buffer_of(*slot), slot->length);
}

void reliable_endpoint::want_ack(loop_clock::time_point now, bool at_once) noexcept {
    if (!ack_wanted_) {
        ack_wanted_ = true;
        ack_due_ = now + config_.ack_delay;
    }
    ++datagrams_since_ack_;
    if (at_once || datagrams_since_ack_ >= ack_threshold_)
        ack_due_ = now < ack_due_ ? now : ack_due_;
}

namespace {

// The checks every datagram passes before its kind is looked at.
std::optional<datagram_error> check_datagram(std::span<const std::uint8_t> datagram) noexcept {
    if (datagram.size() < datagram_common_header_size + datagram_trailer_size)
        return datagram_error::too_short;
    if (datagram[0] != datagram_magic)
        return datagram_error::bad_magic;
    if (datagram[1] != datagram_version)
        return datagram_error::bad_version;
    if ((datagram[3] & ~unsigned{datagram_flag_ack}) != 0)
        return datagram_error::bad_kind;
    std::size_t body = datagram.size() - datagram_trailer_size;
    if (crc32(datagram.first(body)) != read_u32(datagram, body))
        return datagram_error::bad_crc;
    return std::nullopt;
}

// The fields of a data datagram that passed check_datagram: the header must describe a
// possible message, whatever the receiver can accept.
result<decoded_data_datagram, datagram_error> read_data(std::span<const std::uint8_t> datagram) noexcept {
    if (datagram.size() < data_overhead)
        return failure{datagram_error::too_short};
    decoded_data_datagram data;
    data_fields& fields = data.fields;
    fields.session = read_u32(datagram, 4);
    fields.sequence = read_u32(datagram, 8);
    fields.length = read_u32(datagram, 12);
    fields.index = read_u16(datagram, 16);
    fields.count = read_u16(datagram, 18);
    fields.chunk = read_u16(datagram, 20);
    std::size_t after_header = datagram.size() - data_header_size - datagram_trailer_size;
    if (fields.count == 0 || fields.index >= fields.count || fields.chunk == 0)
        return failure{datagram_error::bad_fragment};
    std::uint64_t expected_count =
        fields.length == 0 ? 1 : (std::uint64_t{fields.length} + fields.chunk - 1) / fields.chunk;
    if (expected_count != fields.count)
        return failure{datagram_error::bad_fragment};
    std::size_t payload_size = fields.index + 1u < fields.count
                                   ? fields.chunk
                                   : fields.length - std::size_t{fields.count - 1u} * fields.chunk;
    if (after_header < payload_size + data_base_size)
        return failure{datagram_error::bad_length};
    data.payload = datagram.subspan(data_header_size, payload_size);
    fields.base = read_u32(datagram, data_header_size + payload_size);
    data.ack_body = datagram.subspan(data_header_size + payload_size + data_base_size,
                                     after_header - payload_size - data_base_size);
    bool flagged = (datagram[3] & datagram_flag_ack) != 0;
    if (flagged == data.ack_body.empty())
        return failure{datagram_error::bad_length};
    if (sequence_distance(fields.sequence, fields.base) < 0)
        return failure{datagram_error::bad_fragment};
    return data;
}

} // namespace

result<decoded_data_datagram, datagram_error>
decode_data_datagram(std::span<const std::uint8_t> datagram) noexcept {
    if (auto error = check_datagram(datagram))
        return failure{*error};
    if (datagram[2] != static_cast<std::uint8_t>(datagram_kind::data))
        return failure{datagram_error::bad_kind};
    return read_data(datagram);
}

datagram_outcome reliable_endpoint::on_datagram(std::span<const std::uint8_t> datagram,
                                                loop_clock::time_point now) noexcept {
    ++counters_.datagrams_received;
    release_delivered();
    if (auto error = check_datagram(datagram))
        return drop(*error);
    if (datagram[2] == static_cast<std::uint8_t>(datagram_kind::data)) {
        auto data = read_data(datagram);
        if (!data)
            return drop(data.error());
        return on_data(*data, now);
    }
    if (datagram[2] == static_cast<std::uint8_t>(datagram_kind::ack)) {
        if (datagram[3] != 0)
            return drop(datagram_error::bad_kind);
        return on_ack(datagram, now);
    }
    return drop(datagram_error::bad_kind);
}

datagram_outcome reliable_endpoint::on_data(const decoded_data_datagram& data,
                                            loop_clock::time_point now) noexcept {
    const std::span<const std::uint8_t> ack_part = data.ack_body;
    // The acknowledgement it carries: checked in full before anything changes.
    ack_view view;
    bool apply = false;
    if (!ack_part.empty()) {
        if (auto error = check_ack_body(ack_part, view))
            return drop(*error == datagram_error::too_short ? datagram_error::bad_length : *error);
        if (view.session == config_.session) {
            if (auto error = check_ack_against_sends(view))
                return drop(*error);
            apply = true;
        } else {
            // An ack for an earlier session of ours; the data is still good.
            ++counters_.dropped[static_cast<std::size_t>(datagram_error::wrong_session)];
        }
    }

    std::optional<datagram_error> data_error = receive_data(data, now);
    if (data_error)
        ++counters_.dropped[static_cast<std::size_t>(*data_error)];
    if (apply)
        apply_ack(view, now);
    datagram_outcome outcome;
    outcome.dropped = data_error;
    return outcome;
}

std::optional<datagram_error>
reliable_endpoint::receive_data(const decoded_data_datagram& data, loop_clock::time_point now) noexcept {
    const std::uint32_t session = data.fields.session;
    const std::uint32_t sequence = data.fields.sequence;
    const std::uint32_t length = data.fields.length;
    const std::uint16_t index = data.fields.index;
    const std::uint16_t count = data.fields.count;
    const std::uint16_t chunk = data.fields.chunk;
    const std::uint32_t base = data.fields.base;

    // A new session of the peer: its sequence numbers start again. Checked only now, so that a
    // malformed datagram cannot reset anything.
    // TODO(security): an attacker can forge a session change and make duplicates deliverable
    // again; replay protection proper lives in CAPLets one layer up.
    if (!have_peer_session_ || session != peer_session_) {
        if (have_peer_session_)
            ++counters_.peer_restarts;
        reset_receive(session, base);
    }
    // A base that would put E 2^31 or more past a message still held for receive(): the two
    // would no longer compare in serial arithmetic. No honest sender does this (it would have
    // given up 2^31 messages while ours waited to be taken); refused before anything changes.
    if (sequence_distance(base, expected_) > 0 && sequence_distance(base, deliver_next_) <= 0)
        return datagram_error::ahead;
    // Any data from the peer shows it is alive: a blocked E keeps waiting.
    if (blocked_)
        blocked_deadline_ = now + config_.reassembly_timeout;
    // The sender finished everything before its base: what is missing here will not come.
    if (sequence_distance(base, expected_) > 0)
        skip_to(base, now);

    std::int32_t distance = sequence_distance(sequence, expected_);
    if (distance < 0) {
        auto age = static_cast<std::uint32_t>(-static_cast<std::int64_t>(distance));
        if (age <= delivered_window && sequence_distance(sequence, first_) >= 0) {
            want_ack(now, true);
            return datagram_error::duplicate;
        }
        return datagram_error::stale;
    }
    // Unsigned: with E up to 2^31 - 1 past deliver_next_ (after a base moved E) and the
    // sequence up to 2^31 - 1 past E, a signed distance from deliver_next_ would call a sequence
    // far ahead "behind" and give it the slot of a message still held.
    if (position_of(sequence) >= config_.window)
        return datagram_error::ahead;

    receive_slot& slot = receive_slots_[sequence & (config_.window - 1)];
    bool live = slot.state != receive_state::empty && slot.sequence == sequence;
    if (live && slot.state == receive_state::refused) {
        want_ack(now, true);
        return datagram_error::refused;
    }
    if (live && (length != slot.length || count != slot.count || chunk != slot.chunk))
        return datagram_error::inconsistent;
    if (live && slot.state == receive_state::complete) {
        want_ack(now, true);
        return datagram_error::duplicate;
    }
    if (!live && (length > config_.max_message_size || count > max_fragments_)) {
        slot = receive_slot{};
        slot.sequence = sequence;
        slot.length = length;
        slot.count = count;
        slot.chunk = chunk;
        slot.state = receive_state::refused;
        want_ack(now, true);
        if (sequence == expected_)
            advance_expected(now);
        else
            update_blocked(now);
        return datagram_error::refused;
    }
    if (!live) {
        std::size_t size = length + bitmap_size(count);
        receive_slot fresh;
        fresh.sequence = sequence;
        fresh.length = length;
        fresh.count = count;
        fresh.chunk = chunk;
        if (!allocate_receive(fresh, size, sequence == expected_))
            return datagram_error::no_room;
        fresh.state = receive_state::partial;
        slot = fresh;
        ++partial_receives_;
        std::memset(buffer_of(slot) + length, 0, bitmap_size(count));
    }

    slot.deadline = now + config_.reassembly_timeout;
    std::uint8_t* buffer = buffer_of(slot);
    std::span<std::uint8_t> bitmap(buffer + slot.length, bitmap_size(count));
    if (bit(bitmap, index)) {
        want_ack(now, true);
        return datagram_error::duplicate;
    }
    if (!data.payload.empty())
        std::memcpy(buffer + std::size_t{index} * chunk, data.payload.data(), data.payload.size());
    bitmap[index / 8] = static_cast<std::uint8_t>(bitmap[index / 8] | (1u << (index % 8)));
    ++slot.received;
    want_ack(now, false);
    if (slot.received < count)
        return std::nullopt;

    slot.state = receive_state::complete;
    --partial_receives_;
    if (sequence == expected_)
        advance_expected(now);
    else
        update_blocked(now);
    return std::nullopt;
}

datagram_outcome reliable_endpoint::on_ack(std::span<const std::uint8_t> datagram,
                                           loop_clock::time_point now) noexcept {
    if (datagram.size() < ack_header_size + datagram_trailer_size)
        return drop(datagram_error::too_short);
    ack_view view;
    if (auto error =
            check_ack_body(datagram.subspan(4, datagram.size() - 4 - datagram_trailer_size), view))
        return drop(*error);
    if (view.session != config_.session)
        return drop(datagram_error::wrong_session);
    if (auto error = check_ack_against_sends(view))
        return drop(*error);
    if (!apply_ack(view, now))
        return drop(datagram_error::stale);
    return {};
}

// --- timers and output ------------------------------------------------------------------------

// The receive state: E, the exceptions among the last `window` sequence numbers before E
// (refused or lost: the cumulative E must not count them as delivered), then every message
// from E on that is partial, complete or refused, in order, as many as fit. The entries that
// must be there (the exceptions and E's own) are always written, or nothing (returns 0).
std::size_t reliable_endpoint::write_ack_body(std::span<std::uint8_t> out, std::size_t at,
                                              std::size_t capacity) const noexcept {
    if (capacity < ack_body_header_size)
        return 0;
    std::size_t start = at;
    std::size_t limit = at + capacity;
    write_u32(out, at, peer_session_);
    write_u32(out, at + 4, expected_);
    std::size_t count_at = at + 8;
    at += ack_body_header_size;
    std::size_t entries = 0;
    auto put = [&](std::uint32_t sequence, ack_status status, const receive_slot* slot) {
        std::size_t size = 3 + (status == ack_status::partial ? 2 + bitmap_size(slot->count) : 0);
        if (limit - at < size)
            return false;
        auto delta = static_cast<std::int16_t>(sequence_distance(sequence, expected_));
        write_u16(out, at, static_cast<std::uint16_t>(delta));
        out[at + 2] = static_cast<std::uint8_t>(status);
        if (status == ack_status::partial) {
            write_u16(out, at + 3, slot->count);
            const std::uint8_t* buffer =
                slot->in_head ? head_buffer_.data() : receive_pool_.data() + slot->offset;
            std::memcpy(out.data() + at + 5, buffer + slot->length, bitmap_size(slot->count));
        }
        at += size;
        ++entries;
        return true;
    };
    for (std::uint32_t i = static_cast<std::uint32_t>(config_.window); i-- > 0;) {
        ++loop_steps_;
        std::uint32_t sequence = expected_ - 1 - i;
        if (sequence_distance(sequence, first_) < 0)
            continue;
        if ((refused_bits_ >> i & 1u) != 0 && !put(sequence, ack_status::refused, nullptr))
            return 0;
        if ((lost_bits_ >> i & 1u) != 0 && !put(sequence, ack_status::lost, nullptr))
            return 0;
    }
    // The slot positions from E on (none when E is beyond them).
    for (std::uint32_t position = position_of(expected_); position < config_.window; ++position) {
        ++loop_steps_;
        std::uint32_t s = deliver_next_ + position;
        const receive_slot* slot = live_slot(s);
        if (slot == nullptr)
            continue;
        ack_status status;
        if (slot->state == receive_state::partial)
            status = ack_status::partial;
        else if (slot->state == receive_state::complete)
            status = ack_status::complete;
        else if (slot->state == receive_state::refused)
            status = ack_status::refused;
        else
            continue; // delivered slots are before E
        if (!put(s, status, slot)) {
            if (s == expected_)
                return 0;
            break;
        }
    }
    out[count_at] = static_cast<std::uint8_t>(entries);
    return at - start;
}

std::size_t reliable_endpoint::write_ack(std::span<std::uint8_t> out) noexcept {
    out[0] = datagram_magic;
    out[1] = datagram_version;
    out[2] = static_cast<std::uint8_t>(datagram_kind::ack);
    out[3] = 0;
    std::size_t body = write_ack_body(out, 4, config_.mtu - 4 - datagram_trailer_size);
    AMB_ASSERT(body > 0, "reliable_endpoint: an acknowledgement does not fit the mtu");
    ack_wanted_ = false;
    datagrams_since_ack_ = 0;
    ++counters_.acks_sent;
    return seal(out, 4 + body);
}

poll_outcome reliable_endpoint::poll(loop_clock::time_point now,
                                     std::span<std::uint8_t> out) noexcept {
    AMB_REQUIRE(out.size() >= config_.mtu, "poll buffer smaller than the mtu");
    poll_outcome outcome;

    // Receive timers: incomplete messages without progress; E blocked too long.
    if (partial_receives_ > 0) {
        for (receive_slot& slot : receive_slots_) {
            ++loop_steps_;
            if (slot.state == receive_state::partial && now >= slot.deadline) {
                free_receive(slot);
                ++counters_.reassembly_timeouts;
            }
        }
    }
    if (blocked_ && now >= blocked_deadline_) {
        if (auto finished = first_finished_ahead())
            skip_to(*finished, now);
        else
            blocked_ = false;
        want_ack(now, true); // tell the peer what was given up
    }

    // Send timers.
    if (active_sends_ > 0) {
        for (std::uint32_t s = send_oldest_; s != next_sequence_; ++s) {
            ++loop_steps_;
            send_slot& slot = send_slot_of(s);
            if (slot.state != send_state::active || slot.in_flight == 0 || now < slot.deadline)
                continue;
            if (slot.retries >= config_.retry_limit) {
                finish(slot, send_failure::retry_limit);
                continue;
            }
            ++slot.retries;
            for (fragment_state& state : states_of(slot))
                if (state == fragment_state::in_flight)
                    state = fragment_state::resend;
            slot.resend = static_cast<std::uint16_t>(slot.resend + slot.in_flight);
            resend_total_ += slot.in_flight;
            slot.in_flight = 0;
            slot.deadline = now + config_.retransmit_timeout;
        }
    }

    // Completions, one per call, oldest first.
    if (completions_pending_ > 0) {
        for (std::uint32_t s = send_oldest_; s != next_sequence_; ++s) {
            ++loop_steps_;
            send_slot& slot = send_slot_of(s);
            if (slot.state != send_state::done)
                continue;
            outcome.completed = send_completion{slot.sequence, slot.failure};
            slot.state = send_state::free;
            --completions_pending_;
            break;
        }
        while (send_oldest_ != next_sequence_ &&
               send_slot_of(send_oldest_).state == send_state::free) {
            ++loop_steps_;
            ++send_oldest_;
        }
        if (active_sends_ == 0 && completions_pending_ == 0)
            send_head_ = 0;
        return outcome;
    }

    // Data: retransmissions first, then new fragments while the fragment window has room; an
    // acknowledgement owed to the peer rides along if it fits.
    send_slot* chosen_slot = nullptr;
    std::size_t chosen = 0;
    if (resend_total_ > 0) {
        for (std::uint32_t s = send_oldest_; s != next_sequence_ && !chosen_slot; ++s) {
            ++loop_steps_;
            send_slot& slot = send_slot_of(s);
            if (slot.state != send_state::active || slot.resend == 0)
                continue;
            std::span<fragment_state> states = states_of(slot);
            for (std::size_t i = 0; i < slot.count; ++i) {
                if (states[i] == fragment_state::resend) {
                    chosen_slot = &slot;
                    chosen = i;
                    break;
                }
            }
        }
        AMB_ASSERT(chosen_slot != nullptr, "reliable_endpoint: resend count out of step");
        --chosen_slot->resend;
        --resend_total_;
        ++chosen_slot->in_flight;
        ++counters_.retransmissions;
    } else if (unsent_total_ > 0 && fragments_in_flight_ < config_.max_in_flight) {
        for (std::uint32_t s = send_oldest_; s != next_sequence_ && !chosen_slot; ++s) {
            ++loop_steps_;
            send_slot& slot = send_slot_of(s);
            if (slot.state != send_state::active || slot.unsent == 0)
                continue;
            std::span<fragment_state> states = states_of(slot);
            while (slot.scan < slot.count && states[slot.scan] != fragment_state::unsent)
                ++slot.scan;
            AMB_ASSERT(slot.scan < slot.count, "reliable_endpoint: unsent count out of step");
            chosen_slot = &slot;
            chosen = slot.scan;
        }
        AMB_ASSERT(chosen_slot != nullptr, "reliable_endpoint: unsent count out of step");
        --chosen_slot->unsent;
        --unsent_total_;
        ++chosen_slot->in_flight;
        ++fragments_in_flight_;
    }
    if (chosen_slot != nullptr) {
        states_of(*chosen_slot)[chosen] = fragment_state::in_flight;
        chosen_slot->deadline = now + config_.retransmit_timeout;
        ++counters_.datagrams_sent;
        outcome.datagram_size = write_data(*chosen_slot, chosen, out);
        return outcome;
    }

    if (ack_wanted_ && now >= ack_due_) {
        ++counters_.datagrams_sent;
        outcome.datagram_size = write_ack(out);
    }
    return outcome;
}

loop_clock::time_point reliable_endpoint::next_deadline() const noexcept {
    if (completions_pending_ > 0 || resend_total_ > 0 ||
        (unsent_total_ > 0 && fragments_in_flight_ < config_.max_in_flight))
        return loop_clock::time_point::min();
    loop_clock::time_point deadline = loop_clock::time_point::max();
    if (ack_wanted_)
        deadline = ack_due_;
    if (active_sends_ > 0) {
        for (std::uint32_t s = send_oldest_; s != next_sequence_; ++s) {
            ++loop_steps_;
            const send_slot& slot = send_slots_[s & (config_.window - 1)];
            if (slot.state == send_state::active && slot.in_flight > 0 && slot.deadline < deadline)
                deadline = slot.deadline;
        }
    }
    if (partial_receives_ > 0) {
        for (const receive_slot& slot : receive_slots_) {
            ++loop_steps_;
            if (slot.state == receive_state::partial && slot.deadline < deadline)
                deadline = slot.deadline;
        }
    }
    if (blocked_ && blocked_deadline_ < deadline)
        deadline = blocked_deadline_;
    return deadline;
}

} // namespace amb::net

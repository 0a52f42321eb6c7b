#include <remote/envelope.hpp>

#include <crypto/crypto.hpp>

#include <cstring>

namespace amb::remote {

const char* describe(envelope_error error) {
    switch (error) {
    case envelope_error::too_short:
        return "packet shorter than a header";
    case envelope_error::malformed:
        return "envelope header is not a valid lidl message";
    case envelope_error::bad_version:
        return "unknown envelope version";
    case envelope_error::bad_body_offset:
        return "body offset unaligned, inside the header or past the end";
    case envelope_error::bad_hop_limit:
        return "hop limit is zero";
    case envelope_error::bad_name:
        return "node name empty, too long or not printable";
    case envelope_error::inconsistent:
        return "kind, status, authentication and body disagree";
    }
    return "unknown envelope error";
}

const char* describe(status_code status) {
    switch (status) {
    case status_code::ok:
        return "ok";
    case status_code::unknown_service:
        return "unknown service";
    case status_code::unknown_procedure:
        return "unknown procedure";
    case status_code::denied:
        return "denied";
    case status_code::bad_arguments:
        return "bad arguments";
    case status_code::service_failure:
        return "service failure";
    case status_code::no_route:
        return "no route";
    case status_code::hop_limit_exceeded:
        return "hop limit exceeded";
    case status_code::busy:
        return "busy";
    }
    return "unknown status";
}

bool valid_node_name(std::string_view name) {
    if (name.empty() || name.size() > max_node_name)
        return false;
    for (char c : name)
        if (c < 0x21 || c > 0x7e)
            return false;
    return true;
}

namespace {

constexpr std::size_t lidl_header_size = 8;

bool consistent(const envelope& header, std::size_t body_size) {
    switch (header.kind) {
    case message_kind::request:
        return header.status == status_code::ok && !header.authenticated && body_size > 0;
    case message_kind::reply:
        return header.status == status_code::ok && header.authenticated;
    case message_kind::error:
        // Errors carry little data: a refusal its reason class (1 byte), or, authenticated, the
        // last sequence number accepted (8 bytes, little-endian) so that the caller can go above
        // it; an authenticated service failure the error the procedure returned (8 bytes).
        if (header.status == status_code::ok)
            return false;
        if (body_size == 0)
            return true;
        if (header.status == status_code::denied)
            return body_size == 1 || (header.authenticated && body_size == 8);
        return header.status == status_code::service_failure && header.authenticated &&
               body_size == 8;
    }
    return false;
}

} // namespace

result<envelope_view, envelope_error> parse_envelope(byte_view packet, lidl::verify_error* detail) {
    AMB_REQUIRE(reinterpret_cast<std::uintptr_t>(packet.data()) % 8 == 0,
                "parse_envelope needs an 8-byte aligned buffer");
    if (packet.size() < lidl_header_size)
        return failure{envelope_error::too_short};
    auto whole = lidl::verify<envelope>(packet);
    if (!whole) {
        if (detail != nullptr)
            *detail = whole.error();
        return failure{envelope_error::malformed};
    }
    const std::uint32_t body_offset = whole.value()->body_offset;
    std::uint32_t root_size = 0;
    std::memcpy(&root_size, packet.data() + 4, 4);
    if (body_offset % 8 != 0 || body_offset > packet.size() ||
        body_offset < lidl_header_size + root_size)
        return failure{envelope_error::bad_body_offset};
    // Again, bounded by body_offset: then no reference of the header points into the body.
    auto bounded = lidl::verify<envelope>(packet.first(body_offset));
    if (!bounded) {
        if (detail != nullptr)
            *detail = bounded.error();
        return failure{envelope_error::malformed};
    }
    const envelope& header = *bounded.value();
    if (header.version != envelope_version)
        return failure{envelope_error::bad_version};
    if (header.hop_limit == 0)
        return failure{envelope_error::bad_hop_limit};
    envelope_view view;
    view.header = &header;
    view.source = header.source.view();
    view.destination = header.destination.view();
    view.body = packet.subspan(body_offset);
    if (!valid_node_name(view.source) || !valid_node_name(view.destination))
        return failure{envelope_error::bad_name};
    if (!consistent(header, view.body.size()))
        return failure{envelope_error::inconsistent};
    return view;
}

bool envelope_writer::start(byte_span packet, const envelope_fields& fields) {
    AMB_REQUIRE(reinterpret_cast<std::uintptr_t>(packet.data()) % 8 == 0,
                "envelope_writer needs an 8-byte aligned buffer");
    packet_ = packet;
    body_ = {};
    header_ = nullptr;
    if (!valid_node_name(fields.source) || !valid_node_name(fields.destination))
        return false;
    lidl::builder out(packet);
    envelope* header = out.create_root<envelope>();
    if (header == nullptr || !out.set(header->source, fields.source) ||
        !out.set(header->destination, fields.destination))
        return false;
    header->version = envelope_version;
    header->kind = fields.kind;
    header->hop_limit = fields.hop_limit;
    header->status = fields.status;
    header->correlation = fields.correlation;
    header->authenticated = fields.authenticated;
    header->mac = fields.mac;
    std::size_t body_offset = (out.size() + 7) & ~std::size_t{7};
    if (out.failed() || body_offset > packet.size())
        return false;
    std::memset(packet.data() + out.size(), 0, body_offset - out.size());
    header->body_offset = static_cast<std::uint32_t>(body_offset);
    header_ = header;
    body_ = packet.subspan(body_offset);
    return true;
}

void envelope_writer::set_mac(const mac_bytes& mac, bool authenticated) {
    AMB_REQUIRE(header_ != nullptr, "set_mac before a successful start");
    header_->mac = mac;
    header_->authenticated = authenticated;
}

byte_view envelope_writer::finish(std::size_t body_size) const {
    AMB_REQUIRE(header_ != nullptr && body_size <= body_.size(), "finish beyond the packet");
    return packet_.first(header_->body_offset + body_size);
}

mac_bytes reply_mac(const caplets::tag_bytes& holder_tag, const caplets::tag_bytes& request_tag,
                    message_kind kind, status_code status, std::uint64_t correlation,
                    std::string_view source, std::string_view destination, byte_view body) {
    static constexpr char domain[] = "\xff"
                                     "AMB-REMOTE-REPLY-v1"; // + its terminating NUL
    crypto::hmac_sha256 mac(holder_tag);
    mac.update({reinterpret_cast<const std::uint8_t*>(domain), sizeof domain});
    mac.update(request_tag);
    std::uint8_t fixed[10 + 1];
    fixed[0] = static_cast<std::uint8_t>(kind);
    fixed[1] = static_cast<std::uint8_t>(status);
    for (int i = 0; i < 8; ++i)
        fixed[2 + i] = static_cast<std::uint8_t>(correlation >> (56 - 8 * i));
    fixed[10] = static_cast<std::uint8_t>(source.size());
    mac.update(fixed);
    mac.update(crypto::as_bytes(source));
    const auto destination_size = static_cast<std::uint8_t>(destination.size());
    mac.update({&destination_size, 1});
    mac.update(crypto::as_bytes(destination));
    mac.update(body);
    return mac.finish();
}

} // namespace amb::remote

// The envelope: what parse_envelope accepts and refuses, on hand-made and damaged packets.
#include <remote/envelope.hpp>

#include <gtest/gtest.h>

#include <cstring>
#include <vector>

namespace amb::remote {
namespace {

struct aligned_packet {
    std::vector<std::uint64_t> words = std::vector<std::uint64_t>(512);
    byte_span bytes() { return {reinterpret_cast<std::uint8_t*>(words.data()), words.size() * 8}; }
};

std::vector<std::uint8_t> make(const envelope_fields& fields, std::size_t body_size) {
    aligned_packet storage;
    envelope_writer writer;
    EXPECT_TRUE(writer.start(storage.bytes(), fields));
    for (std::size_t i = 0; i < body_size; ++i)
        writer.body()[i] = static_cast<std::uint8_t>(i);
    auto packet = writer.finish(body_size);
    return {packet.begin(), packet.end()};
}

result<envelope_view, envelope_error> parse(const std::vector<std::uint8_t>& packet,
                                            aligned_packet& storage) {
    if (!packet.empty())  // an empty vector's data() may be null
        std::memcpy(storage.bytes().data(), packet.data(), packet.size());
    return parse_envelope(storage.bytes().first(packet.size()));
}

envelope_fields request_fields() {
    envelope_fields fields;
    fields.correlation = 0x0102030405060708;
    fields.source = "kitchen";
    fields.destination = "garden-shed";
    return fields;
}

TEST(envelope, a_written_request_parses_back) {
    aligned_packet storage;
    auto packet = make(request_fields(), 40);
    auto view = parse(packet, storage);
    ASSERT_TRUE(view.has_value());
    EXPECT_EQ(view->header->kind, message_kind::request);
    EXPECT_EQ(view->header->hop_limit, default_hop_limit);
    EXPECT_EQ(view->header->correlation, 0x0102030405060708u);
    EXPECT_EQ(view->source, "kitchen");
    EXPECT_EQ(view->destination, "garden-shed");
    EXPECT_EQ(view->body.size(), 40u);
    EXPECT_EQ(reinterpret_cast<std::uintptr_t>(view->body.data()) % 8, 0u);
    EXPECT_EQ(view->body[39], 39);
}

TEST(envelope, kind_status_authentication_and_body_must_agree) {
    aligned_packet storage;
    envelope_fields fields = request_fields();
    EXPECT_EQ(parse(make(fields, 0), storage).error(), envelope_error::inconsistent);
    fields.authenticated = true;
    EXPECT_EQ(parse(make(fields, 8), storage).error(), envelope_error::inconsistent);
    fields = request_fields();
    fields.kind = message_kind::error;
    EXPECT_EQ(parse(make(fields, 0), storage).error(), envelope_error::inconsistent); // status ok
    fields.status = status_code::denied;
    EXPECT_TRUE(parse(make(fields, 0), storage).has_value());
    EXPECT_TRUE(parse(make(fields, 1), storage).has_value()); // the refusal's class
    EXPECT_EQ(parse(make(fields, 8), storage).error(), envelope_error::inconsistent);
    EXPECT_EQ(parse(make(fields, 2), storage).error(), envelope_error::inconsistent);
    fields.status = status_code::service_failure;
    EXPECT_EQ(parse(make(fields, 8), storage).error(), envelope_error::inconsistent);
    fields.authenticated = true; // the error the procedure returned: only from the callee
    EXPECT_TRUE(parse(make(fields, 8), storage).has_value());
    EXPECT_EQ(parse(make(fields, 1), storage).error(), envelope_error::inconsistent);
    fields.status = status_code::unknown_service;
    EXPECT_EQ(parse(make(fields, 8), storage).error(), envelope_error::inconsistent);
    fields.authenticated = false;
    fields = request_fields();
    fields.kind = message_kind::reply;
    EXPECT_EQ(parse(make(fields, 8), storage).error(), envelope_error::inconsistent);
    fields.authenticated = true;
    EXPECT_TRUE(parse(make(fields, 8), storage).has_value());
}

TEST(envelope, names_and_hop_limits_are_checked) {
    aligned_packet storage;
    envelope_writer writer;
    envelope_fields fields = request_fields();
    fields.source = "with space";
    EXPECT_FALSE(writer.start(storage.bytes(), fields));
    fields.source = std::string_view("");
    EXPECT_FALSE(writer.start(storage.bytes(), fields));
    fields.source = std::string(65, 'x');
    EXPECT_FALSE(writer.start(storage.bytes(), fields));
    // A name that the writer refuses, put on the wire by hand.
    auto packet = make(request_fields(), 8);
    auto at =
        std::search(packet.begin(), packet.end(), std::begin("kitchen"), std::end("kitchen") - 1);
    ASSERT_NE(at, packet.end());
    at[3] = '\n';
    EXPECT_EQ(parse(packet, storage).error(), envelope_error::bad_name);
    fields = request_fields();
    fields.hop_limit = 0;
    EXPECT_EQ(parse(make(fields, 8), storage).error(), envelope_error::bad_hop_limit);
}

TEST(envelope, every_truncation_and_bit_flip_is_refused_or_parses_within_bounds) {
    aligned_packet storage;
    auto packet = make(request_fields(), 24);
    for (std::size_t size = 0; size < packet.size(); ++size) {
        std::vector<std::uint8_t> cut(packet.begin(), packet.begin() + size);
        auto view = parse(cut, storage);
        // Cutting into the body leaves a shorter body; cutting into the header never parses.
        if (view) {
            EXPECT_EQ(view->body.data() + view->body.size(), storage.bytes().data() + size);
        }
    }
    auto header_size = parse(packet, storage)->header->body_offset;
    for (std::size_t bit = 0; bit < header_size * 8; ++bit) {
        auto flipped = packet;
        flipped[bit / 8] ^= static_cast<std::uint8_t>(1u << (bit % 8));
        auto view = parse(flipped, storage);
        if (!view)
            continue;
        // Whatever parses is internally consistent and within the packet.
        EXPECT_TRUE(valid_node_name(view->source));
        EXPECT_TRUE(valid_node_name(view->destination));
        EXPECT_GE(view->header->hop_limit, 1);
        EXPECT_LE(view->header->body_offset, flipped.size());
    }
}

TEST(envelope, the_reply_mac_covers_every_field) {
    caplets::tag_bytes holder{}, request{};
    holder[0] = 1;
    request[0] = 2;
    const std::uint8_t body[] = {1, 2, 3};
    mac_bytes base =
        reply_mac(holder, request, message_kind::reply, status_code::ok, 9, "b", "a", body);
    caplets::tag_bytes other = request;
    other[31] ^= 1;
    EXPECT_NE(base,
              reply_mac(holder, other, message_kind::reply, status_code::ok, 9, "b", "a", body));
    EXPECT_NE(base,
              reply_mac(other, request, message_kind::reply, status_code::ok, 9, "b", "a", body));
    EXPECT_NE(base,
              reply_mac(holder, request, message_kind::error, status_code::ok, 9, "b", "a", body));
    EXPECT_NE(base, reply_mac(holder, request, message_kind::reply, status_code::busy, 9, "b", "a",
                              body));
    EXPECT_NE(base,
              reply_mac(holder, request, message_kind::reply, status_code::ok, 8, "b", "a", body));
    EXPECT_NE(base,
              reply_mac(holder, request, message_kind::reply, status_code::ok, 9, "ba", "", body));
    EXPECT_NE(base, reply_mac(holder, request, message_kind::reply, status_code::ok, 9, "b", "a",
                              std::span<const std::uint8_t>(body, 2)));
}

} // namespace
} // namespace amb::remote

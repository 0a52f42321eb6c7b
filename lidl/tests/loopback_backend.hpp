// A backend for tests that carries every call through the generated codec as a real message:
// the call is encoded, copied into a separate buffer (as a network would), verified and decoded
// on the "server" side, executed, and the reply travels back the same way. It shows that the
// same client stub works unchanged over a direct call and over messages.
#pragma once

#include "test_messages.hpp"

#include <cstdio>
#include <cstring>
#include <span>

namespace lidl_test {

template <class Service>
class loopback_backend {
public:
    explicit loopback_backend(Service& server) : server_(&server) {}

    /// Bytes of the last call and reply messages (for tests that inspect or corrupt them).
    std::size_t last_call_size = 0;
    std::size_t last_reply_size = 0;
    lidl::verify_error last_error{};
    bool failed = false;

    template <std::uint32_t Id>
    amb::task<void> execute(const void* params, void* result) {
        using procedure = typename Service::template lidl_procedure<Id>;
        // Client side: encode the call.
        aligned_buffer call_buffer(1 << 16);
        lidl::builder call(call_buffer.bytes());
        AMB_REQUIRE(Service::lidl_codec::encode_call(Id, params, call), "encode_call failed");
        std::span<const std::uint8_t> sent = call.written();
        last_call_size = sent.size();

        // The "network": the server sees only a copy of the bytes.
        aligned_buffer received(sent.size());
        std::memcpy(received.data(), sent.data(), sent.size());

        // Server side: verify and decode into a tuple, run, encode the reply.
        typename procedure::params server_params{};
        aligned_buffer response_buffer(1 << 16);
        lidl::builder response(response_buffer.bytes());
        auto decoded =
            Service::lidl_codec::decode_call(Id, received.bytes(), &server_params, &response);
        if (!decoded)
            std::fprintf(stderr, "decode_call: %s at %u in %s.%s\n",
                         lidl::describe(decoded.error().kind), decoded.error().offset,
                         decoded.error().type, decoded.error().field);
        AMB_REQUIRE(decoded.has_value(), "decode_call rejected a message encode_call produced");
        lidl::slot<typename procedure::result> server_result;
        co_await Service::lidl_dispatch::execute(*server_, Id, &server_params,
                                                 server_result.address());
        aligned_buffer spare_buffer(1 << 16);
        lidl::builder spare(spare_buffer.bytes());
        std::span<const std::uint8_t> reply = Service::lidl_codec::encode_reply(
            Id, server_result.address(), response, spare);
        AMB_REQUIRE(!reply.empty(), "encode_reply failed");
        last_reply_size = reply.size();

        // Back to the client: decode the reply into the caller's result slot.
        aligned_buffer reply_copy(reply.size());
        std::memcpy(reply_copy.data(), reply.data(), reply.size());
        auto delivered = Service::lidl_codec::decode_reply(Id, reply_copy.bytes(), params, result);
        AMB_REQUIRE(delivered.has_value(), "decode_reply rejected a reply encode_reply produced");
    }

private:
    Service* server_;
};

}  // namespace lidl_test

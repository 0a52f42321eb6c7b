// A backend for tests that carries every call through the generated codec as a real message:
// the call is encoded, copied into a separate buffer (as a network would), served by the
// generated `lidl_dispatch::serve` on the "server" side, and the reply travels back the same
// way. It shows that the same client stub works unchanged over a direct call and over messages.
// When `serve` completes with an error (the callee's own, or reply_too_large) the call completes
// with that error, as a transport that carries errors back would.
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

    template <std::uint32_t Id>
    amb::task<void> execute(const void* params, void* result, lidl::call_options = {}) {
        // Client side: encode the call.
        aligned_buffer call_buffer(1 << 16);
        lidl::builder call(call_buffer.bytes());
        AMB_REQUIRE(Service::lidl_codec::encode_call(Id, params, call), "encode_call failed");
        std::span<const std::uint8_t> sent = call.written();
        last_call_size = sent.size();

        // The "network": the server sees only a copy of the bytes.
        aligned_buffer received(sent.size());
        std::memcpy(received.data(), sent.data(), sent.size());

        // Server side: the generated serve verifies and decodes, runs, encodes the reply.
        aligned_buffer response_buffer(1 << 16);
        lidl::builder response(response_buffer.bytes());
        aligned_buffer spare_buffer(1 << 16);
        lidl::builder spare(spare_buffer.bytes());
        lidl::serve_result served = co_await Service::lidl_dispatch::template serve<Id>(
            *server_, received.bytes(), response, spare);
        if (!served) {
            // A message encode_call produced must verify: refusing it is a codec bug.
            if (served.error().what == lidl::call_fault::malformed_call ||
                served.error().what == lidl::call_fault::unknown_procedure) {
                std::fprintf(stderr, "serve: %s (%s at %u in %s.%s)\n",
                             lidl::describe(served.error().what),
                             lidl::describe(served.error().detail.kind),
                             served.error().detail.offset, served.error().detail.type,
                             served.error().detail.field);
                AMB_REQUIRE(false, "serve rejected a call message encode_call produced");
            }
            // Otherwise the call failed at the server (the callee's own error, a reply too
            // large): the caller gets that error, as a real transport would carry it back.
            last_reply_size = 0;
            static_cast<lidl::slot<typename Service::template lidl_procedure<Id>::result>*>(result)
                ->fail(served.error());
            co_return;
        }
        std::span<const std::uint8_t> reply = served.value();
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

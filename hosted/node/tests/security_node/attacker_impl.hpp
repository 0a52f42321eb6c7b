// The compromised service of the security_node deployment: what a group running attacker code
// can do to the kernel of its node, performed for real (hosted/node/tests/
// security_node_test.py). It finds its channel to the kernel in its own address space the way an
// exploit would (/proc/self/maps, the control block's magic, bytes it just sent), rewrites it and
// reports what the kernel answered.
#pragma once

#include "attack.lidl.hpp"
#include "memory_scan.hpp"

#include <hosted/node/channel.hpp>
#include <rings/ring.hpp>

#include <cstdio>
#include <cstring>
#include <string>
#include <unistd.h>
#include <vector>

namespace security_node {

class attacker_impl final : public attacker {
public:
    explicit attacker_impl(target& source) : source_(source) {}

    lidl::completion<std::string_view> attack(lidl::builder& response) override {
        using namespace amb::hosted::node;
        // 1. A normal call, which leaves a recognisable request in the channel's element.
        std::vector<std::uint8_t> marker(1000);
        for (std::size_t i = 0; i < marker.size(); ++i)
            marker[i] = static_cast<std::uint8_t>("INTRUDER-MARK-"[i % 14]);
        if (!answered(co_await source_.measure(marker)))
            co_return response.copy("the normal call before the attack failed");
        std::span<std::byte> channel = find_channel(marker);
        if (channel.empty())
            co_return response.copy("no channel found");

        // 2. The ring re-initialised in place with a 16 times larger payload, and the epoch
        // bumped where the control block kept it (offset 208) before it became the kernel's.
        std::span<std::byte> ring = channel.subspan(channel_ring_offset);
        auto region = amb::rings::ring_region::init(ring, {2, 65536, 64, 64});
        if (!region)
            co_return response.copy("cannot re-initialise the ring");
        reinterpret_cast<std::atomic<std::uint32_t>*>(channel.data() + 208)->fetch_add(1);

        // 3. An oversized call, valid in every other way: `measure` of 60000 bytes as a lidl
        // message, 15 times the payload the kernel sized its buffers for.
        std::vector<std::uint8_t> data(60000, 0x41);
        std::vector<std::uint64_t> storage(70000 / 8);
        lidl::builder message(
            std::span<std::uint8_t>(reinterpret_cast<std::uint8_t*>(storage.data()), 70000));
        target::measure_params params{data};
        if (!target::lidl_codec::encode_call(0, &params, message) || message.failed())
            co_return response.copy("cannot encode the oversized call");
        auto bytes = message.written();
        amb::rings::endpoint forged = region->kernel();
        auto index = forged.allocate();
        if (!index)
            co_return response.copy("cannot place the oversized call");
        auto element = forged.element(*index);
        if (!element || element->payload.size() < bytes.size())
            co_return response.copy("cannot place the oversized call");
        std::memcpy(element->payload.data(), bytes.data(), bytes.size());
        element->header->kind = static_cast<std::uint16_t>(amb::rings::element_kind::request);
        element->header->status = static_cast<std::uint16_t>(request_encoding::message);
        element->header->procedure = 0;
        element->header->payload_length = static_cast<std::uint32_t>(bytes.size());
        element->header->cookie = 0x5eed;
        if (!forged.submit(*index))
            co_return response.copy("cannot submit the oversized call");
        int status = -1;
        for (int waited = 0; waited < 3000 && status < 0; ++waited) {
            auto polled = forged.poll();
            if (polled && *polled)
                status = forged.element(**polled)->header->status;
            else
                ::usleep(1000);
        }
        std::string report;
        if (status < 0)
            report = "oversized call unanswered";
        else if (status == 0)
            report = "oversized call accepted";
        else
            report = "oversized call refused (status " + std::to_string(status) + ")";

        // 4. The ring put back as the kernel laid it out, and a normal call again.
        if (!amb::rings::ring_region::init(ring, {64, 4096, 64, 64}))
            co_return response.copy(report + "; cannot restore the ring");
        report += !answered(co_await source_.measure(marker))
                      ? "; the normal call after it failed"
                      : "; the normal call after it was served";
        co_return response.copy(report);
    }

    lidl::completion<std::int64_t> scan(std::string_view masked, std::string_view mask) override {
        std::vector<std::uint8_t> masked_bytes = from_hex(masked), mask_bytes = from_hex(mask);
        if (masked_bytes.empty() || masked_bytes.size() != mask_bytes.size())
            co_return -1;
        std::size_t scanned = 0;
        std::size_t found =
            amb::hosted::node::test::occurrences_in_own_memory(masked_bytes, mask_bytes, &scanned);
        if (found == SIZE_MAX || scanned < (1u << 20))
            co_return -1;
        co_return static_cast<std::int64_t>(found);
    }

    lidl::completion<void> crash() override {
        ::_exit(3);
        co_return {};
    }

private:
    // Whether the kernel answered a call over the channel: with a value, or with the error of
    // the HTTP import it serves the call with (its URL is a closed port: unreachable). Any
    // other fault is the channel's own (peer_exited, malformed_reply, ...): no answer.
    static bool answered(const lidl::call_result<std::uint64_t>& served) {
        return served || served.error().what == lidl::call_fault::unreachable;
    }

    // The channel this group calls the kernel through: a shared memfd mapping that starts with
    // the channel magic and holds the bytes of the request just sent.
    static std::span<std::byte> find_channel(std::span<const std::uint8_t> marker) {
        FILE* maps = std::fopen("/proc/self/maps", "r");
        if (maps == nullptr)
            return {};
        char line[4096];
        std::span<std::byte> found;
        while (found.empty() && std::fgets(line, sizeof line, maps) != nullptr) {
            unsigned long start = 0, end = 0;
            char permissions[5] = {};
            if (std::sscanf(line, "%lx-%lx %4s", &start, &end, permissions) != 3 ||
                std::strcmp(permissions, "rw-s") != 0 || std::strstr(line, "memfd:") == nullptr ||
                end - start <= amb::hosted::node::channel_ring_offset)
                continue;
            auto* base = reinterpret_cast<std::byte*>(start);
            std::uint32_t magic = 0;
            std::memcpy(&magic, base, sizeof magic);
            if (magic != amb::hosted::node::channel_control::magic_value)
                continue;
            if (::memmem(base, end - start, marker.data(), marker.size()) != nullptr)
                found = {base, end - start};
        }
        std::fclose(maps);
        return found;
    }

    static std::vector<std::uint8_t> from_hex(std::string_view text) {
        std::vector<std::uint8_t> bytes;
        auto digit = [](char c) { return c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10; };
        for (std::size_t i = 0; i + 1 < text.size(); i += 2)
            bytes.push_back(static_cast<std::uint8_t>(digit(text[i]) * 16 + digit(text[i + 1])));
        return bytes;
    }

    target& source_;
};

} // namespace security_node

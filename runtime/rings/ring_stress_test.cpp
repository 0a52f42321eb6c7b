// Two-thread stress test of the rings: a group thread and a kernel thread each issue requests
// and serve the other's, through a small pool and small rings so that full rings and an empty
// pool happen constantly, with ring counters started just below 2^32 so that they wrap. Every
// request and every response must arrive exactly once and in order, with its payload intact.
// Built twice: as is, and (clang) with -fsanitize=thread as `runtime.rings.stress.tsan`.
#include <rings/ring.hpp>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <deque>
#include <thread>
#include <vector>

#ifndef AMB_RINGS_STRESS_ROUNDS
#define AMB_RINGS_STRESS_ROUNDS 2000000
#endif

namespace amb::rings {
namespace {

constexpr std::uint64_t rounds = AMB_RINGS_STRESS_ROUNDS;  // requests issued by each side
constexpr config stress_config{32, 16, 8, 8};
constexpr std::size_t max_outbox = 24;
// A side that makes no progress for this long has lost an element (or its peer has). A bound on
// stalls, not on the whole run, so a loaded machine (sanitizers, other builds) only makes it slow.
constexpr auto stall_limit = std::chrono::seconds(30);
// A release retried this often while the peer holds the pool's lock: the peer is stuck.
constexpr std::uint64_t max_contended_tries = 100'000'000;

struct side_report {
    std::uint64_t issued = 0;
    std::uint64_t served = 0;
    std::uint64_t answered = 0;
    std::uint64_t ring_full = 0;
    std::uint64_t pool_empty = 0;
    std::uint64_t contended = 0;
    std::uint64_t failures = 0;  // anything unexpected; the first is described in `what`
    const char* what = nullptr;
};

void fill(std::span<std::byte> payload, std::uint64_t value) {
    for (std::size_t i = 0; i < payload.size(); i += sizeof value) {
        std::uint64_t word = value ^ (i * 0x9e3779b97f4a7c15u);
        std::memcpy(payload.data() + i, &word, sizeof word);
    }
}

bool holds(std::span<const std::byte> payload, std::uint64_t value) {
    for (std::size_t i = 0; i < payload.size(); i += sizeof value) {
        std::uint64_t word;
        std::memcpy(&word, payload.data() + i, sizeof word);
        if (word != (value ^ (i * 0x9e3779b97f4a7c15u)))
            return false;
    }
    return true;
}

// One side's loop: poll and handle what arrived, flush the outbox, issue new requests. The
// outbox (requests not yet submitted, and served responses waiting for ring space) is FIFO, so
// requests leave in cookie order and responses in the order their requests arrived.
void run_side(endpoint ep, std::uint64_t side_marker, std::uint64_t peer_marker,
              side_report& report) {
    std::deque<element_index> outbox;
    auto fail = [&](const char* what) {
        if (report.failures++ == 0)
            report.what = what;
    };
    auto last_change = std::chrono::steady_clock::now();
    std::uint64_t last_total = 0;
    std::uint64_t loops = 0;
    while (report.issued < rounds || report.answered < rounds || report.served < rounds ||
           !outbox.empty()) {
        if (report.failures != 0)
            return;
        if (++loops % 65536 == 0) {
            auto now = std::chrono::steady_clock::now();
            std::uint64_t total = report.issued + report.served + report.answered;
            if (total != last_total) {
                last_total = total;
                last_change = now;
            } else if (now - last_change > stall_limit) {
                return fail("no progress for the stall limit (lost element?)");
            }
        }
        bool progress = false;

        for (int batch = 0; batch < 16; ++batch) {
            auto polled = ep.poll();
            if (!polled)
                return fail(describe(polled.error()));
            if (!polled->has_value())
                break;
            progress = true;
            element_index index = **polled;
            auto element = ep.element(index);
            if (!element)
                return fail("element() rejected a polled index");
            element_header& header = *element->header;
            if (header.kind == static_cast<std::uint16_t>(element_kind::request)) {
                if (header.cookie != (peer_marker | report.served))
                    return fail("request out of order or duplicated");
                if (header.procedure != static_cast<std::uint32_t>(report.served % 1000) ||
                    header.payload_length != stress_config.payload_size ||
                    !holds(element->payload, header.cookie))
                    return fail("request contents damaged");
                ++report.served;
                header.kind = static_cast<std::uint16_t>(element_kind::response);
                header.status = static_cast<std::uint16_t>(header.cookie & 0xffff);
                fill(element->payload, ~header.cookie);
                outbox.push_back(index);
            } else if (header.kind == static_cast<std::uint16_t>(element_kind::response)) {
                if (header.cookie != (side_marker | report.answered))
                    return fail("response out of order or duplicated");
                if (header.status != static_cast<std::uint16_t>(header.cookie & 0xffff) ||
                    !holds(element->payload, ~header.cookie))
                    return fail("response contents damaged");
                ++report.answered;
                header.kind = static_cast<std::uint16_t>(element_kind::none);
                for (std::uint64_t tries = 0;; ++tries) {
                    if (tries == max_contended_tries)
                        return fail("release contended without end");
                    auto released = ep.release(index);
                    if (released)
                        break;
                    if (released.error() != error::contended)
                        return fail(describe(released.error()));
                    ++report.contended;
                }
            } else {
                return fail("element of unknown kind");
            }
        }

        while (!outbox.empty()) {
            auto submitted = ep.submit(outbox.front());
            if (!submitted) {
                if (submitted.error() != error::ring_full)
                    return fail(describe(submitted.error()));
                ++report.ring_full;
                break;
            }
            outbox.pop_front();
            progress = true;
        }

        while (report.issued < rounds && outbox.size() < max_outbox) {
            auto index = ep.allocate();
            if (!index) {
                if (index.error() == error::pool_empty)
                    ++report.pool_empty;
                else if (index.error() == error::contended)
                    ++report.contended;
                else
                    return fail(describe(index.error()));
                break;
            }
            auto element = ep.element(*index);
            if (!element)
                return fail("element() rejected an allocated index");
            element_header& header = *element->header;
            header.kind = static_cast<std::uint16_t>(element_kind::request);
            header.status = 0;
            header.procedure = static_cast<std::uint32_t>(report.issued % 1000);
            header.cookie = side_marker | report.issued;
            header.payload_length = stress_config.payload_size;
            fill(element->payload, header.cookie);
            outbox.push_back(*index);
            ++report.issued;
            progress = true;
        }

        // With two cores shared by other work, let the peer run instead of burning the slice.
        if (!progress)
            std::this_thread::yield();
    }
}

TEST(ring_stress, two_threads_both_directions) {
    auto size = region_size(stress_config);
    ASSERT_TRUE(size);
    std::vector<std::byte> storage(*size + region_alignment);
    auto address = reinterpret_cast<std::uintptr_t>(storage.data());
    std::size_t pad = (region_alignment - address % region_alignment) % region_alignment;
    std::span<std::byte> memory(storage.data() + pad, *size);
    auto region = ring_region::init(memory, stress_config);
    ASSERT_TRUE(region);

    // Start both rings' counters just below 2^32 (empty: head == tail), so they wrap early.
    auto layout = layout_of(stress_config);
    ASSERT_TRUE(layout);
    for (std::uint32_t offset : {layout->to_kernel_offset, layout->to_group_offset}) {
        auto* ring = reinterpret_cast<ring_control*>(memory.data() + offset);
        ring->tail.store(0xffffffffu - 5000, std::memory_order_relaxed);
        ring->head.store(0xffffffffu - 5000, std::memory_order_relaxed);
    }

    // The kernel side attaches separately, as a peer process would.
    auto peer = ring_region::attach(memory);
    ASSERT_TRUE(peer);

    constexpr std::uint64_t group_marker = 1ull << 62;
    constexpr std::uint64_t kernel_marker = 2ull << 62;
    side_report group_report;
    side_report kernel_report;
    auto started = std::chrono::steady_clock::now();
    std::thread kernel_thread(
        [&] { run_side(peer->kernel(), kernel_marker, group_marker, kernel_report); });
    run_side(region->group(), group_marker, kernel_marker, group_report);
    kernel_thread.join();
    auto elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - started);

    for (const side_report* r : {&group_report, &kernel_report}) {
        const char* side = r == &group_report ? "group" : "kernel";
        EXPECT_EQ(r->failures, 0u) << side << ": " << (r->what ? r->what : "");
        EXPECT_EQ(r->issued, rounds) << side;
        EXPECT_EQ(r->served, rounds) << side;
        EXPECT_EQ(r->answered, rounds) << side;
        std::printf("%s: %llu issued, %llu served, %llu answered; ring full %llu times, pool "
                    "empty %llu times, contended %llu times\n",
                    side, static_cast<unsigned long long>(r->issued),
                    static_cast<unsigned long long>(r->served),
                    static_cast<unsigned long long>(r->answered),
                    static_cast<unsigned long long>(r->ring_full),
                    static_cast<unsigned long long>(r->pool_empty),
                    static_cast<unsigned long long>(r->contended));
    }
    std::printf("%.2f s, %.1f M ring transfers/s\n", elapsed.count(),
                4.0 * static_cast<double>(rounds) / elapsed.count() / 1e6);
    // Back-pressure happened on both sides, and the pool ran dry.
    EXPECT_GT(group_report.ring_full + kernel_report.ring_full, 0u);
    EXPECT_GT(group_report.pool_empty + kernel_report.pool_empty, 0u);

    // Everything is back: the pool holds every element, both rings are empty and wrapped.
    auto group = region->group();
    std::vector<element_index> all;
    // Bounded: a pool that hands out more elements than it has is a failure, not a hang.
    while (all.size() <= stress_config.element_count) {
        auto index = group.allocate();
        if (!index)
            break;
        all.push_back(*index);
    }
    EXPECT_EQ(all.size(), stress_config.element_count);
    EXPECT_EQ(group.pending(), 0u);
    EXPECT_EQ(peer->kernel().pending(), 0u);
    for (std::uint32_t offset : {layout->to_kernel_offset, layout->to_group_offset}) {
        auto* ring = reinterpret_cast<ring_control*>(memory.data() + offset);
        EXPECT_LT(ring->tail.load(), 0x80000000u) << "counter did not wrap";
    }
}

}  // namespace
}  // namespace amb::rings

// The fixtures of benchmark `ipc` compute the right answers, in real processes (no timing):
// the pipe + lidl baseline, the `calls` service over channels with each strategy (buffers in
// the caller's heap and outside it), and the resolver in both placements and both kinds.
#include "calls_node.hpp"
#include "lidl_pipe.hpp"
#include "resolver.hpp"

#include <gtest/gtest.h>

#include <csignal>
#include <cstring>
#include <unistd.h>
#include <vector>

namespace {

using namespace amb::ipc_anchors;
using amb::hosted::node::strategy;
using ipc_bench::calls;

bool process_gone(pid_t pid) {
    return ::kill(pid, 0) != 0;
}

std::vector<std::uint8_t> pattern(std::size_t size) {
    std::vector<std::uint8_t> bytes(size);
    for (std::size_t i = 0; i < size; ++i)
        bytes[i] = static_cast<std::uint8_t>(i * 7 + 3);
    return bytes;
}

// Every scalar procedure through `call(params, result)`, for a few seeds.
template <std::uint32_t Id, class Call>
void check_scalar(Call&& call) {
    for (std::uint64_t seed : {0u, 1u, 57u}) {
        typename calls_procedure<Id>::params params{};
        fill_params<Id>(params, seed);
        lidl::slot<std::uint64_t> result;
        ASSERT_TRUE(call.template operator()<Id>(params, result))
            << calls_procedure<Id>::name << " seed " << seed;
        EXPECT_EQ(result.take().value(), expected_answer<Id>(params))
            << calls_procedure<Id>::name << " seed " << seed;
    }
}

template <class Call, std::uint32_t... Ids>
void check_scalars(Call&& call, std::integer_sequence<std::uint32_t, Ids...>) {
    (check_scalar<Ids>(call), ...);
}

}  // namespace

TEST(ipc_fixtures, sums_differ_between_procedures_and_seeds) {
    // A callee that ignored arguments could not match expected_answer for every seed.
    calls::mixed_32_params a{}, b{};
    fill_params<mixed_first_id + 2>(a, 1);
    fill_params<mixed_first_id + 2>(b, 2);
    EXPECT_NE(expected_answer<mixed_first_id + 2>(a), expected_answer<mixed_first_id + 2>(b));
    EXPECT_EQ(sum_terms(std::int8_t{-1}, 2.9, true), 2u);
}

TEST(ipc_fixtures, the_pipe_baseline_answers_every_procedure) {
    auto pipe = lidl_pipe::start<calls, calls_service>();
    ASSERT_NE(pipe, nullptr);
    // Enlarged as a pipe user moving 1 MiB messages would.
    EXPECT_EQ(pipe->pipe_capacities(),
              std::make_pair(lidl_pipe::pipe_bytes, lidl_pipe::pipe_bytes));
    auto call = [&]<std::uint32_t Id>(const typename calls_procedure<Id>::params& params,
                                      lidl::slot<std::uint64_t>& result) {
        return pipe->call<calls, Id>(params, result);
    };
    check_scalars(call, std::make_integer_sequence<std::uint32_t, 10>{});
    for (std::size_t size : {std::size_t{1}, std::size_t{4000}, std::size_t{1} << 20}) {
        auto bytes = pattern(size);
        lidl::slot<std::uint64_t> result;
        ASSERT_TRUE((pipe->call<calls, buffer_id>({bytes}, result))) << size;
        EXPECT_EQ(result.take().value(), buffer_answer(bytes)) << size;
    }
    lidl::slot<std::uint64_t> sum;
    ASSERT_TRUE((pipe->call<calls, add_id>({40, 2}, sum)));
    EXPECT_EQ(sum.take().value(), 42u);
    const pid_t child = pipe->child_pid();
    EXPECT_TRUE(pipe->stop());
    EXPECT_TRUE(process_gone(child));
}

template <strategy S>
void check_channel_strategy() {
    auto node = calls_node<S>::start();
    ASSERT_NE(node, nullptr);
    auto call = [&]<std::uint32_t Id>(const typename calls_procedure<Id>::params& params,
                                      lidl::slot<std::uint64_t>& result) {
        return node->template call<Id>(params, result);
    };
    check_scalars(call, std::make_integer_sequence<std::uint32_t, 10>{});
    // Buffers outside the heap (copied inline or into the heap) and, for the frame strategies,
    // inside the heap (by reference).
    for (std::size_t size : {std::size_t{64}, std::size_t{4000}, std::size_t{4096},
                             std::size_t{65536}}) {
        auto bytes = pattern(size);
        lidl::slot<std::uint64_t> result;
        ASSERT_TRUE(node->template call<buffer_id>({bytes}, result)) << size;
        EXPECT_EQ(result.take().value(), buffer_answer(bytes)) << size;
    }
    // 256 KiB: the user strategy copies its message into the same 1 MiB heap (the kernel
    // group's heap size is fixed), which must still have room for it.
    std::span<std::byte> block = node->heap().allocate(std::size_t{1} << 18);
    ASSERT_EQ(block.size(), std::size_t{1} << 18);
    std::span<std::uint8_t> in_heap(reinterpret_cast<std::uint8_t*>(block.data()), block.size());
    std::memcpy(in_heap.data(), pattern(in_heap.size()).data(), in_heap.size());
    const std::uint64_t shared_before = node->caller().views_shared();
    lidl::slot<std::uint64_t> result;
    ASSERT_TRUE(node->template call<buffer_id>({in_heap}, result));
    EXPECT_EQ(result.take().value(), buffer_answer(in_heap));
    if constexpr (S != strategy::user) {
        EXPECT_EQ(node->caller().views_shared(), shared_before + 1);  // no copy
    }
    node->heap().free(block);
}

TEST(ipc_fixtures, channels_answer_every_procedure_with_the_static_strategy) {
    check_channel_strategy<strategy::static_types>();
}
TEST(ipc_fixtures, channels_answer_every_procedure_with_the_dynamic_strategy) {
    check_channel_strategy<strategy::dynamic_types>();
}
TEST(ipc_fixtures, channels_answer_every_procedure_with_the_user_strategy) {
    check_channel_strategy<strategy::user>();
}

TEST(ipc_fixtures, names_are_split_between_the_backends_and_half_cached) {
    std::size_t owned[2] = {0, 0};
    std::size_t cached = 0;
    for (std::size_t i = 0; i < name_count; ++i) {
        ++owned[owner_of(name_of(i))];
        cached += cached_in_front(i) ? 1 : 0;
    }
    EXPECT_GT(owned[0], name_count / 3);
    EXPECT_GT(owned[1], name_count / 3);
    EXPECT_EQ(cached, name_count / 2);
}

class resolver_placements
    : public ::testing::TestWithParam<std::tuple<front_placement, front_kind>> {};

TEST_P(resolver_placements, every_name_resolves_to_its_address) {
    auto [placement, kind] = GetParam();
    auto node = resolver_node::start(placement, kind);
    ASSERT_NE(node, nullptr);
    // Every name once, then a name nobody knows, then random names with 64 clients at once.
    std::vector<std::uint32_t> all(name_count);
    for (std::size_t i = 0; i < name_count; ++i)
        all[i] = static_cast<std::uint32_t>(i);
    all.push_back(static_cast<std::uint32_t>(name_count));
    batch_result sequential = node->run(all, 1);
    EXPECT_TRUE(sequential.completed);
    EXPECT_EQ(sequential.wrong, 0u);
    auto random = uniform_indices(4000, 7);
    batch_result concurrent = node->run(random, 64);
    EXPECT_TRUE(concurrent.completed);
    EXPECT_EQ(concurrent.wrong, 0u);
    if (placement == front_placement::own_process) {
        // The front records after each pass of its loop, which may come just after our answer.
        front_memory memory = node->memory();
        for (int i = 0; i < 2000 && memory.answered != all.size() + random.size(); ++i) {
            ::usleep(1000);
            memory = node->memory();
        }
        EXPECT_EQ(memory.answered, all.size() + random.size());
        EXPECT_GT(memory.in_flight, 1u);  // the front had calls in flight at once
        EXPECT_GT(memory.frame_bytes, 0u);
        if (kind == front_kind::fiber) {
            // Busy fibers at the sample: at most one per request in flight.
            EXPECT_GT(memory.stack_bytes, 0u);
            EXPECT_LE(memory.stack_bytes, memory.in_flight * fiber_stack_bytes);
            EXPECT_GT(memory.stacks, 1u);
            EXPECT_GT(memory.resident_stack_bytes, 0u);
        } else {
            EXPECT_EQ(memory.stack_bytes, 0u);
        }
    }
}

INSTANTIATE_TEST_SUITE_P(
    all, resolver_placements,
    ::testing::Combine(::testing::Values(front_placement::in_group, front_placement::own_process),
                       ::testing::Values(front_kind::coroutine, front_kind::fiber)),
    [](const auto& info) {
        return std::string(std::get<0>(info.param) == front_placement::in_group ? "in_group"
                                                                                : "own_process") +
               "_" + (std::get<1>(info.param) == front_kind::coroutine ? "coroutine" : "fiber");
    });

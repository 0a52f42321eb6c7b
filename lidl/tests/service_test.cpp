// Generated service code: the same client stub over a direct backend and over messages, the
// run-time dispatcher, and the codec's handling of bad input.
#include "loopback_backend.hpp"
#include "test_messages.hpp"

#include <gtest/gtest.h>

#include <numeric>
#include <string>

namespace lidl_test {
namespace {

class calculator_service : public calculator {
public:
    int resets = 0;
    int calls = 0;

    lidl::completion<std::int64_t> add(std::int32_t a, std::int32_t b) override {
        ++calls;
        co_return static_cast<std::int64_t>(a) + b;
    }
    lidl::completion<std::string_view> concat(std::string_view left, std::string_view right,
                                              lidl::builder& response) override {
        ++calls;
        co_return response.copy(std::string(left) + std::string(right));
    }
    lidl::completion<std::uint64_t> sum(std::span<const std::uint32_t> values) override {
        ++calls;
        co_return std::accumulate(values.begin(), values.end(), std::uint64_t{0});
    }
    lidl::completion<point> scale(const point& p, std::int32_t factor) override {
        ++calls;
        co_return point{p.x * factor, p.y * factor};
    }
    lidl::completion<std::string_view> describe(const everything& e,
                                                lidl::builder& response) override {
        ++calls;
        co_return response.copy(std::string(e.text.view()) + "/" + std::to_string(e.words.size()));
    }
    lidl::completion<const node*> make_node(std::string_view name, std::uint32_t children,
                                            lidl::builder& response) override {
        ++calls;
        node* root = response.create_root<node>();
        if (root == nullptr || !response.set(root->name, name))
            co_return nullptr;
        node* items = response.create_vector(root->children, children);
        for (std::uint32_t i = 0; items != nullptr && i < children; ++i)
            response.set(items[i].name, "child-" + std::to_string(i));
        co_return root;
    }
    lidl::completion<const shape*> pick(std::uint32_t which, lidl::builder& response) override {
        ++calls;
        shape* result = response.create_root<shape>();
        if (which == 0)
            *result->set_circle(response) = point{1, 2};
        else if (which == 1)
            response.set(*result->set_label(response), "picked");
        co_return result;
    }
    lidl::completion<void> reset() override {
        ++resets;
        co_return {};
    }
    lidl::completion<std::uint32_t> count() override {
        co_return static_cast<std::uint32_t>(calls);
    }
    lidl::completion<lidl::optional<std::uint32_t>> maybe(bool flag) override {
        co_return flag ? lidl::optional<std::uint32_t>(7u) : lidl::optional<std::uint32_t>();
    }
};

// Every procedure through the interface, whatever implements it.
void exercise(calculator& api) {
    EXPECT_EQ(amb::sync_wait(api.add(40, 2)).value(), 42);
    EXPECT_EQ(amb::sync_wait(api.add(-2147483647 - 1, -1)).value(), -2147483649LL);

    aligned_buffer response_buffer(1 << 16);
    lidl::builder response(response_buffer.bytes());
    EXPECT_EQ(amb::sync_wait(api.concat("zero-", "copy", response)).value(), "zero-copy");

    const std::uint32_t values[] = {1, 2, 3, 4000000000u};
    EXPECT_EQ(amb::sync_wait(api.sum(values)).value(), 4000000006ULL);
    EXPECT_EQ(amb::sync_wait(api.sum({})).value(), 0u);

    point scaled = amb::sync_wait(api.scale(point{3, -4}, 3)).value();
    EXPECT_EQ(scaled.x, 9);
    EXPECT_EQ(scaled.y, -12);

    aligned_buffer argument(16384);
    lidl::builder argument_builder(argument.bytes());
    const everything* e = build_everything(argument_builder);
    ASSERT_NE(e, nullptr);
    response.reset();
    EXPECT_EQ(amb::sync_wait(api.describe(*e, response)).value(), "hello, lidl/3");

    response.reset();
    const node* made = amb::sync_wait(api.make_node("parent", 3, response)).value();
    ASSERT_NE(made, nullptr);
    EXPECT_EQ(made->name.view(), "parent");
    ASSERT_EQ(made->children.size(), 3u);
    EXPECT_EQ(made->children[2].name.view(), "child-2");

    response.reset();
    const shape* picked = amb::sync_wait(api.pick(1, response)).value();
    ASSERT_NE(picked, nullptr);
    ASSERT_NE(picked->label(), nullptr);
    EXPECT_EQ(picked->label()->view(), "picked");

    EXPECT_TRUE(amb::sync_wait(api.reset()));
    EXPECT_EQ(amb::sync_wait(api.maybe(true)).value().value_or(0), 7u);
    EXPECT_FALSE(amb::sync_wait(api.maybe(false)).value().has_value());
}

TEST(service, implementation_called_directly) {
    calculator_service server;
    exercise(server);
    EXPECT_EQ(server.resets, 1);
}

TEST(service, client_over_direct_backend) {
    calculator_service server;
    calculator_client<lidl::direct_backend<calculator>> client(server);
    exercise(client);
    EXPECT_EQ(server.resets, 1);
    EXPECT_EQ(server.calls, 9);
}

// A backend that is not a forwarding one, so that the client packs a tuple and goes through
// execute<Id> and the dispatcher (the path rings take), while still serving in-process.
template <class Service>
class tuple_backend {
public:
    explicit tuple_backend(Service& server) : inner_(server) {}
    int calls = 0;
    template <std::uint32_t Id>
    auto execute(const void* params, void* result, lidl::call_options options = {}) {
        ++calls;
        return inner_.template execute<Id>(params, result, options);
    }

private:
    lidl::direct_backend<Service> inner_;
};

TEST(service, client_over_tuples) {
    calculator_service server;
    calculator_client<tuple_backend<calculator>> client(server);
    exercise(client);
    EXPECT_EQ(server.calls, 9);
    EXPECT_EQ(client.backend().calls, 12);  // every call of exercise()
}

TEST(service, client_over_messages) {
    calculator_service server;
    calculator_client<loopback_backend<calculator>> client(server);
    exercise(client);
    EXPECT_EQ(server.resets, 1);
    EXPECT_EQ(server.calls, 9);
    EXPECT_GT(client.backend().last_call_size, 0u);
}

TEST(service, built_results_are_sent_without_a_copy) {
    calculator_service server;
    aligned_buffer buffer(4096);
    lidl::builder response(buffer.bytes());
    calculator::make_node_params params{"n", 2, &response};
    lidl::slot<const node*> result;
    amb::sync_wait(calculator::lidl_dispatch::execute(server, 5, &params, result.address()));
    aligned_buffer spare_buffer(4096);
    lidl::builder spare(spare_buffer.bytes());
    std::span<const std::uint8_t> reply =
        calculator::lidl_codec::encode_reply(5, result.address(), response, spare);
    EXPECT_EQ(reply.data(), buffer.data());  // the implementation's own buffer is the reply
    EXPECT_EQ(spare.size(), lidl::header_size);
}

TEST(service, procedure_metadata) {
    EXPECT_EQ(calculator::lidl_procedure_count, 10u);
    EXPECT_STREQ(calculator::lidl_procedure_name(0), "add");
    EXPECT_STREQ(calculator::lidl_procedure_name(9), "maybe");
    EXPECT_EQ(calculator::lidl_procedure_name(10), nullptr);
    EXPECT_STREQ(calculator::lidl_name, "lidl_test::calculator");
}

TEST(service, decoder_rejects_unknown_procedures_and_bad_messages) {
    calculator_service server;
    aligned_buffer buffer(4096);
    lidl::builder call(buffer.bytes());
    calculator::add_params params{1, 2};
    ASSERT_TRUE(calculator::lidl_codec::encode_call(0, &params, call));
    calculator::add_params decoded{};

    auto unknown = calculator::lidl_codec::decode_call(10, call.written(), &decoded, nullptr);
    ASSERT_FALSE(unknown);
    EXPECT_EQ(unknown.error().kind, lidl::error::bad_procedure);

    // The same bytes decoded as a call of a procedure with a bigger call struct.
    calculator::describe_params wrong{};
    auto mismatched = calculator::lidl_codec::decode_call(4, call.written(), &wrong, nullptr);
    ASSERT_FALSE(mismatched);
    EXPECT_EQ(mismatched.error().kind, lidl::error::object_too_small);

    // A concat call whose string points outside the message.
    lidl::builder concat(buffer.bytes());
    calculator::concat_params text{"left", "right", nullptr};
    ASSERT_TRUE(calculator::lidl_codec::encode_call(1, &text, concat));
    buffer.data()[lidl::header_size] = 0xff;
    buffer.data()[lidl::header_size + 3] = 0x7f;
    calculator::concat_params received{};
    auto corrupt = calculator::lidl_codec::decode_call(1, concat.written(), &received, nullptr);
    ASSERT_FALSE(corrupt);
    EXPECT_EQ(corrupt.error().kind, lidl::error::bad_offset);
    EXPECT_STREQ(corrupt.error().field, "left");
    EXPECT_EQ(server.calls, 0);  // nothing reached the implementation
}

TEST(service, reply_larger_than_the_callers_buffer_is_an_error) {
    calculator_service server;
    aligned_buffer big(4096);
    lidl::builder server_response(big.bytes());
    calculator::make_node_params params{"wide", 50, &server_response};
    lidl::slot<const node*> result;
    amb::sync_wait(calculator::lidl_dispatch::execute(server, 5, &params, result.address()));
    aligned_buffer spare_buffer(16);
    lidl::builder spare(spare_buffer.bytes());
    std::span<const std::uint8_t> reply =
        calculator::lidl_codec::encode_reply(5, result.address(), server_response, spare);
    ASSERT_FALSE(reply.empty());

    aligned_buffer small(64);
    lidl::builder caller_response(small.bytes());
    calculator::make_node_params caller{"wide", 50, &caller_response};
    lidl::slot<const node*> delivered;
    auto decoded = calculator::lidl_codec::decode_reply(5, reply, &caller, delivered.address());
    ASSERT_FALSE(decoded);
    EXPECT_EQ(decoded.error().kind, lidl::error::truncated);
}

// A calculator whose add, reset (a void procedure) and make_node (a result built in the
// response) answer with errors of their own; its other procedures work.
class failing_calculator final : public calculator_service {
public:
    static constexpr std::uint32_t add_code = 42;
    static constexpr std::uint32_t reset_code = 43;
    static constexpr std::uint32_t make_node_code = 44;

    lidl::completion<std::int64_t> add(std::int32_t, std::int32_t) override {
        ++calls;
        co_return amb::failure{lidl::call_error{lidl::call_fault::callee_error, add_code}};
    }
    lidl::completion<void> reset() override {
        ++resets;
        co_return amb::failure{lidl::call_error{lidl::call_fault::callee_error, reset_code}};
    }
    lidl::completion<const node*> make_node(std::string_view, std::uint32_t,
                                            lidl::builder& response) override {
        ++calls;
        (void)response.create_root<node>();  // started a result, then gave up
        co_return amb::failure{lidl::call_error{lidl::call_fault::callee_error, make_node_code}};
    }
};

template <class T>
void expect_callee_error(const lidl::call_result<T>& result, std::uint32_t code) {
    ASSERT_FALSE(result.has_value());
    EXPECT_EQ(result.error().what, lidl::call_fault::callee_error);
    EXPECT_EQ(result.error().code, code);
}

// The callee's own errors reach the caller through `api`, whatever carries the calls, and the
// procedures that succeed still answer with their values.
void expect_callee_errors(calculator& api) {
    expect_callee_error(amb::sync_wait(api.add(40, 2)), failing_calculator::add_code);
    expect_callee_error(amb::sync_wait(api.reset()), failing_calculator::reset_code);

    aligned_buffer response_buffer(4096);
    lidl::builder response(response_buffer.bytes());
    expect_callee_error(amb::sync_wait(api.make_node("n", 2, response)),
                        failing_calculator::make_node_code);

    const std::uint32_t values[] = {1, 2, 3};
    EXPECT_EQ(amb::sync_wait(api.sum(values)).value(), 6u);
    EXPECT_TRUE(amb::sync_wait(api.maybe(true)));
}

TEST(service, callee_errors_reach_the_caller_of_the_implementation) {
    failing_calculator server;
    expect_callee_errors(server);
    EXPECT_EQ(server.calls, 3);
    EXPECT_EQ(server.resets, 1);
}

TEST(service, callee_errors_reach_the_caller_over_the_direct_backend) {
    failing_calculator server;
    calculator_client<lidl::direct_backend<calculator>> client(server);
    expect_callee_errors(client);
    EXPECT_EQ(server.calls, 3);
    EXPECT_EQ(server.resets, 1);
}

TEST(service, callee_errors_reach_the_caller_over_tuples) {
    failing_calculator server;
    calculator_client<tuple_backend<calculator>> client(server);
    expect_callee_errors(client);
    EXPECT_EQ(server.calls, 3);
    EXPECT_EQ(server.resets, 1);
    EXPECT_EQ(client.backend().calls, 5);  // every call went through execute<Id>
}

TEST(service, callee_errors_reach_the_caller_over_messages) {
    failing_calculator server;
    calculator_client<loopback_backend<calculator>> client(server);
    expect_callee_errors(client);
    EXPECT_EQ(server.calls, 3);
    EXPECT_EQ(server.resets, 1);
}

TEST(service, callee_errors_are_stored_by_the_run_time_dispatcher) {
    failing_calculator server;
    calculator::add_params add{40, 2};
    lidl::slot<std::int64_t> added;
    amb::sync_wait(calculator::lidl_dispatch::execute(server, 0, &add, added.address()));
    ASSERT_TRUE(added.failed());
    EXPECT_EQ(added.error().what, lidl::call_fault::callee_error);
    EXPECT_EQ(added.error().code, failing_calculator::add_code);
    expect_callee_error(added.take(), failing_calculator::add_code);

    calculator::reset_params none{};
    lidl::slot<void> reset;
    amb::sync_wait(calculator::lidl_dispatch::execute(server, 7, &none, reset.address()));
    ASSERT_TRUE(reset.failed());
    expect_callee_error(reset.take(), failing_calculator::reset_code);
}

// The generated server function: call message in, reply message out.
struct serve_buffers {
    aligned_buffer call_buffer{4096};
    aligned_buffer response_buffer{4096};
    aligned_buffer spare_buffer{4096};
    lidl::builder call{call_buffer.bytes()};
    lidl::builder response{response_buffer.bytes()};
    lidl::builder spare{spare_buffer.bytes()};
};

TEST(service, serve_runs_a_valid_call_and_encodes_its_reply) {
    calculator_service server;
    serve_buffers b;
    calculator::concat_params params{"zero-", "copy", nullptr};
    ASSERT_TRUE(calculator::lidl_codec::encode_call(1, &params, b.call));
    lidl::serve_result served =
        amb::sync_wait(calculator::lidl_dispatch::serve(server, 1, b.call.written(), b.response,
                                                        b.spare));
    ASSERT_TRUE(served.has_value());
    EXPECT_EQ(server.calls, 1);
    auto reply = lidl::verify<calculator_wire::concat_reply>(served.value());
    ASSERT_TRUE(reply.has_value());
    EXPECT_EQ(reply.value()->value.view(), "zero-copy");

    // A struct result built as the root of `response` is the reply itself.
    b.call.reset();
    b.response.reset();
    b.spare.reset();
    calculator::make_node_params made{"n", 2, nullptr};
    ASSERT_TRUE(calculator::lidl_codec::encode_call(5, &made, b.call));
    served = amb::sync_wait(
        calculator::lidl_dispatch::serve<5>(server, b.call.written(), b.response, b.spare));
    ASSERT_TRUE(served.has_value());
    EXPECT_EQ(served.value().data(), b.response_buffer.data());
    auto root = lidl::verify<node>(served.value());
    ASSERT_TRUE(root.has_value());
    EXPECT_EQ(root.value()->children.size(), 2u);
}

TEST(service, serve_refuses_an_unknown_procedure_without_invoking_anything) {
    calculator_service server;
    serve_buffers b;
    calculator::add_params params{1, 2};
    ASSERT_TRUE(calculator::lidl_codec::encode_call(0, &params, b.call));
    for (std::uint32_t id : {calculator::lidl_procedure_count, 0x7fffffffu, 0xffffffffu}) {
        lidl::serve_result served = amb::sync_wait(
            calculator::lidl_dispatch::serve(server, id, b.call.written(), b.response, b.spare));
        ASSERT_FALSE(served.has_value());
        EXPECT_EQ(served.error().what, lidl::call_fault::unknown_procedure);
    }
    EXPECT_EQ(server.calls, 0);
    EXPECT_EQ(server.resets, 0);
}

TEST(service, serve_refuses_truncated_and_malformed_calls_without_invoking_anything) {
    calculator_service server;
    serve_buffers b;
    calculator::concat_params params{"left", "right", nullptr};
    ASSERT_TRUE(calculator::lidl_codec::encode_call(1, &params, b.call));
    std::span<const std::uint8_t> message = b.call.written();

    // Every proper prefix of a valid call is refused.
    for (std::size_t size = 0; size < message.size(); ++size) {
        lidl::serve_result served = amb::sync_wait(calculator::lidl_dispatch::serve(
            server, 1, message.first(size), b.response, b.spare));
        ASSERT_FALSE(served.has_value()) << size;
        EXPECT_EQ(served.error().what, lidl::call_fault::malformed_call) << size;
    }

    // A string that points outside the message: the verifier's detail says which field.
    b.call_buffer.data()[lidl::header_size] = 0xff;
    b.call_buffer.data()[lidl::header_size + 3] = 0x7f;
    lidl::serve_result corrupt = amb::sync_wait(
        calculator::lidl_dispatch::serve(server, 1, message, b.response, b.spare));
    ASSERT_FALSE(corrupt.has_value());
    EXPECT_EQ(corrupt.error().what, lidl::call_fault::malformed_call);
    EXPECT_EQ(corrupt.error().detail.kind, lidl::error::bad_offset);
    EXPECT_STREQ(corrupt.error().detail.field, "left");

    // A valid add call sent as a describe call (a bigger call struct).
    b.call.reset();
    calculator::add_params add{1, 2};
    ASSERT_TRUE(calculator::lidl_codec::encode_call(0, &add, b.call));
    lidl::serve_result mismatched = amb::sync_wait(
        calculator::lidl_dispatch::serve(server, 4, b.call.written(), b.response, b.spare));
    ASSERT_FALSE(mismatched.has_value());
    EXPECT_EQ(mismatched.error().detail.kind, lidl::error::object_too_small);
    EXPECT_EQ(server.calls, 0);
}

TEST(service, serve_completes_with_the_callees_error) {
    failing_calculator server;
    serve_buffers b;
    calculator::add_params add{40, 2};
    ASSERT_TRUE(calculator::lidl_codec::encode_call(0, &add, b.call));
    lidl::serve_result added = amb::sync_wait(
        calculator::lidl_dispatch::serve(server, 0, b.call.written(), b.response, b.spare));
    expect_callee_error(added, failing_calculator::add_code);
    EXPECT_EQ(server.calls, 1);  // the procedure ran and answered with its error

    // A void procedure's error, through the compile-time entry point.
    b.call.reset();
    calculator::reset_params none{};
    ASSERT_TRUE(calculator::lidl_codec::encode_call(7, &none, b.call));
    lidl::serve_result reset = amb::sync_wait(
        calculator::lidl_dispatch::serve<7>(server, b.call.written(), b.response, b.spare));
    expect_callee_error(reset, failing_calculator::reset_code);
    EXPECT_EQ(server.resets, 1);

    // A procedure that started building its result in `response`, then failed: no reply.
    b.call.reset();
    b.response.reset();
    calculator::make_node_params made{"n", 2, nullptr};
    ASSERT_TRUE(calculator::lidl_codec::encode_call(5, &made, b.call));
    lidl::serve_result node_reply = amb::sync_wait(
        calculator::lidl_dispatch::serve(server, 5, b.call.written(), b.response, b.spare));
    expect_callee_error(node_reply, failing_calculator::make_node_code);
    EXPECT_EQ(server.calls, 2);
}

TEST(service, serve_reports_a_reply_that_does_not_fit) {
    calculator_service server;
    serve_buffers b;
    calculator::concat_params params{std::string_view("0123456789abcdef0123456789abcdef"),
                                     std::string_view("0123456789abcdef0123456789abcdef"),
                                     nullptr};
    ASSERT_TRUE(calculator::lidl_codec::encode_call(1, &params, b.call));
    aligned_buffer small(32);
    lidl::builder spare(small.bytes());
    lidl::serve_result served = amb::sync_wait(
        calculator::lidl_dispatch::serve(server, 1, b.call.written(), b.response, spare));
    ASSERT_FALSE(served.has_value());
    EXPECT_EQ(served.error().what, lidl::call_fault::reply_too_large);
    EXPECT_EQ(server.calls, 1);  // the procedure ran; only its reply was lost
}

}  // namespace
}  // namespace lidl_test

// libFuzzer target: arbitrary bytes as messages of several root types. Verification must never
// read outside the buffer (ASan), and whatever it accepts must be fully readable: it is
// deep-copied (touching every reachable byte) and the copy must verify again. The same bytes
// are also served as a call of every procedure of `calculator` (and of one id past the last)
// through the generated `lidl_dispatch::serve`, by an implementation that reads every argument:
// an unknown id or a refused message must invoke nothing, and an accepted one must produce a
// reply (the buffers are larger than any result an input can cause).
#include "test_messages.hpp"

#include <cstring>
#include <numeric>
#include <string>

namespace {

template <class T>
void check_as(std::span<const std::uint8_t> bytes) {
    auto message = lidl::verify<T>(bytes);
    if (!message)
        return;
    static lidl_test::aligned_buffer copy_buffer(1 << 22);
    lidl::builder out(copy_buffer.bytes());
    const T* copied = lidl::copy_root(out, *message.value());
    if (copied == nullptr && bytes.size() * 5 < copy_buffer.size())
        __builtin_trap();  // an accepted message must copy into a buffer this large
    if (copied != nullptr && !lidl::verify<T>(*out.finish()))
        __builtin_trap();
}

// Reads every byte of its arguments; results stay small.
class reading_calculator final : public lidl_test::calculator {
public:
    bool invoked = false;

    lidl::completion<std::int64_t> add(std::int32_t a, std::int32_t b) override {
        invoked = true;
        co_return static_cast<std::int64_t>(a) + b;
    }
    lidl::completion<std::string_view> concat(std::string_view left, std::string_view right,
                                              lidl::builder& response) override {
        invoked = true;
        co_return response.copy(std::string(left) + std::string(right));
    }
    lidl::completion<std::uint64_t> sum(std::span<const std::uint32_t> values) override {
        invoked = true;
        co_return std::accumulate(values.begin(), values.end(), std::uint64_t{0});
    }
    lidl::completion<lidl_test::point> scale(const lidl_test::point& p,
                                             std::int32_t factor) override {
        invoked = true;
        // Fuzzed values: multiply with wrap-around (unsigned), as signed overflow is undefined.
        auto wrap = [factor](std::int32_t v) {
            return static_cast<std::int32_t>(static_cast<std::uint32_t>(v) *
                                             static_cast<std::uint32_t>(factor));
        };
        co_return lidl_test::point{wrap(p.x), wrap(p.y)};
    }
    lidl::completion<std::string_view> describe(const lidl_test::everything& e,
                                                lidl::builder& response) override {
        invoked = true;
        static lidl_test::aligned_buffer copy_buffer(1 << 22);
        lidl::builder out(copy_buffer.bytes());
        (void)lidl::copy_root(out, e);
        co_return response.copy(e.text.view());
    }
    lidl::completion<const lidl_test::node*>
    make_node(std::string_view name, std::uint32_t children, lidl::builder& response) override {
        invoked = true;
        lidl_test::node* root = response.create_root<lidl_test::node>();
        if (root != nullptr)
            (void)response.set(root->name, name);
        if (root != nullptr)
            (void)response.create_vector(root->children, children % 4);
        co_return root;
    }
    lidl::completion<const lidl_test::shape*> pick(std::uint32_t which,
                                                   lidl::builder& response) override {
        invoked = true;
        lidl_test::shape* result = response.create_root<lidl_test::shape>();
        if (result != nullptr && which % 2 == 0)
            *result->set_circle(response) = lidl_test::point{1, 2};
        co_return result;
    }
    lidl::completion<void> reset() override {
        invoked = true;
        co_return {};
    }
    lidl::completion<std::uint32_t> count() override {
        invoked = true;
        co_return 0;
    }
    lidl::completion<lidl::optional<std::uint32_t>> maybe(bool flag) override {
        invoked = true;
        co_return flag ? lidl::optional<std::uint32_t>(7u) : lidl::optional<std::uint32_t>();
    }
};

void serve_as_calls(std::span<const std::uint8_t> bytes) {
    static lidl_test::aligned_buffer response_buffer(1 << 22);
    static lidl_test::aligned_buffer spare_buffer(1 << 22);
    for (std::uint32_t id = 0; id <= lidl_test::calculator::lidl_procedure_count; ++id) {
        reading_calculator implementation;
        lidl::builder response(response_buffer.bytes());
        lidl::builder spare(spare_buffer.bytes());
        lidl::serve_result served = amb::sync_wait(lidl_test::calculator::lidl_dispatch::serve(
            implementation, id, bytes, response, spare));
        if (served.has_value() != implementation.invoked)
            __builtin_trap();  // refused but invoked, or invoked without a reply
        if (!served.has_value() && served.error().what == lidl::call_fault::reply_too_large)
            __builtin_trap();
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size > (1 << 20))
        return 0;
    lidl_test::aligned_buffer buffer(size);
    std::memcpy(buffer.data(), data, size);
    std::span<const std::uint8_t> bytes(buffer.data(), size);
    check_as<lidl_test::everything>(bytes);
    check_as<lidl_test::node>(bytes);
    check_as<lidl_test::shape>(bytes);
    check_as<lidl_test::calculator_wire::describe_call>(bytes);
    serve_as_calls(bytes);
    return 0;
}

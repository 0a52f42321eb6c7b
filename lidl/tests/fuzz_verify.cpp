// libFuzzer target: arbitrary bytes as messages of several root types. Verification must never
// read outside the buffer (ASan), and whatever it accepts must be fully readable: it is
// deep-copied (touching every reachable byte) and the copy must verify again.
#include "test_messages.hpp"

#include <cstring>

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
    return 0;
}

// libFuzzer target: frames of the static and dynamic strategies as a misbehaving group would
// write them. The first byte picks a procedure of `probe`, the rest is the frame; a 4 KiB buffer
// stands for the caller's heap. Both strategies must accept and refuse the same frames, and
// every view they accept must lie inside the frame or the heap (ASan checks the reads).
#include <groups/marshal.hpp>

#include "probe.lidl.hpp"

#include <array>
#include <cstdlib>
#include <vector>

namespace {

using namespace amb::groups;
using node_test::probe;

alignas(64) std::array<std::uint8_t, 4096> heap_bytes{};

std::uint64_t touch(std::span<const std::uint8_t> bytes) {
    std::uint64_t sum = 0;
    for (std::uint8_t b : bytes)
        sum += b;
    return sum;
}

template <std::uint32_t Id>
void check(std::span<const std::byte> frame) {
    using procedure = probe::lidl_procedure<Id>;
    using fields = typename procedure::fields;
    if constexpr (static_marshal<fields>::capable) {
        heap_view heap{reinterpret_cast<const std::byte*>(heap_bytes.data()), heap_bytes.size()};
        typename procedure::params by_static{};
        typename procedure::params by_dynamic{};
        frame_reader a{frame, 0, heap};
        frame_reader b{frame, 0, heap};
        bool static_ok = static_marshal<fields>::read(by_static, a);
        bool dynamic_ok = dynamic_marshal::read(typed_pointers(fields{}, by_dynamic), b);
        if (static_ok != dynamic_ok)
            std::abort();
        if constexpr (Id == 1 || Id == 2 || Id == 7) {
            if (static_ok && touch(by_static.data) != touch(by_dynamic.data))
                std::abort();
        }
        if constexpr (Id == 3) {
            if (static_ok)
                (void)touch({reinterpret_cast<const std::uint8_t*>(by_static.text.data()),
                             by_static.text.size()});
        }
    }
}

template <std::uint32_t... Ids>
void dispatch(std::uint32_t id, std::span<const std::byte> frame,
              std::integer_sequence<std::uint32_t, Ids...>) {
    ((id == Ids ? check<Ids>(frame) : void()), ...);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size < 1)
        return 0;
    // An aligned private copy, as a channel server's element payload is aligned.
    std::vector<std::uint64_t> aligned((size - 1) / 8 + 1);
    std::memcpy(aligned.data(), data + 1, size - 1);
    std::span<const std::byte> frame(reinterpret_cast<const std::byte*>(aligned.data()), size - 1);
    dispatch(data[0] % probe::lidl_procedure_count, frame,
             std::make_integer_sequence<std::uint32_t, probe::lidl_procedure_count>{});
    return 0;
}

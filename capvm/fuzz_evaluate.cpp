// libFuzzer target: random bytecode with a random context and token. Input: 4 bytes time,
// 4 bytes battery, 4 bytes IPv4 endpoint, 4 bytes token shape; the rest is the bytecode.
// Evaluation must never crash or touch memory outside the machine (ASan/UBSan watch), every
// dispatch strategy must agree, and verified evaluation must agree with unverified.
#include <capvm/isa.hpp>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <vector>

namespace {

using namespace amb::capvm;

class fuzz_context final : public context {
public:
    std::int64_t values[5] = {};
    amb::result<std::int64_t, fault_kind> call(std::uint8_t id, std::span<const std::int64_t> args) override {
        if (args.size() > 3)
            std::abort();
        if (id < 5)
            return values[id] + (args.empty() ? 0 : args[0]);
        return amb::failure{id == 9 ? fault_kind::vm_call_failed : fault_kind::bad_vm_call};
    }
};

class fuzz_token final : public token_view {
public:
    std::vector<std::vector<std::uint8_t>> frames;
    std::uint32_t count(item_kind kind, std::uint32_t frame) const override {
        if (kind == item_kind::frame)
            return static_cast<std::uint32_t>(frames.size());
        if (frame >= frames.size())
            std::abort();
        return static_cast<std::uint32_t>(frames[frame].size() % 4);
    }
    std::span<const std::uint8_t> item(item_kind kind, std::uint32_t frame, std::uint32_t index) const override {
        if (frame >= frames.size() || (kind != item_kind::frame && index >= frames[frame].size() % 4))
            std::abort();
        std::span<const std::uint8_t> bytes = frames[frame];
        return kind == item_kind::frame ? bytes : bytes.subspan(index);
    }
};

std::uint32_t read32(const std::uint8_t* p) {
    return std::uint32_t{p[0]} << 24 | std::uint32_t{p[1]} << 16 | std::uint32_t{p[2]} << 8 | p[3];
}

bool same(const amb::result<evaluation, fault>& a, const amb::result<evaluation, fault>& b) {
    if (a.has_value() != b.has_value())
        return false;
    if (a.has_value())
        return a->accepted == b->accepted && a->executed == b->executed;
    return a.error().kind == b.error().kind && a.error().offset == b.error().offset;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size < 16)
        return 0;
    fuzz_context host;
    host.values[vm_call::now] = read32(data);
    host.values[vm_call::battery] = read32(data + 4);
    host.values[vm_call::endpoint] = read32(data + 8);
    fuzz_token token;
    const std::uint32_t shape = read32(data + 12);
    for (std::uint32_t f = 0; f < shape % 4; ++f)
        token.frames.emplace_back(data + 16, data + 16 + std::min<std::size_t>(size - 16, f * 5 + 3));
    // Exact-size copies, so that ASan sees any read past the end of the code.
    std::vector<std::uint8_t> code(data + 16, data + size);
    const limits bounds{500};
    const token_view* view = shape & 0x100 ? nullptr : &token;
    auto reference = evaluate_using<amb::tvm::dispatch::switch_loop, true>(code, host, view, bounds);
    if (!same(reference, evaluate_using<amb::tvm::dispatch::function_table, true>(code, host, view, bounds)) ||
        !same(reference, evaluate_using<amb::tvm::dispatch::threaded, true>(code, host, view, bounds)))
        std::abort();
    if (auto program = verify(code)) {
        if (!same(reference, evaluate(*program, host, view, bounds)))
            std::abort();
    }
    return 0;
}

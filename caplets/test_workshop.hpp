// Test support for the CAPLets suites (caplets_test, security_test, the verifier attacks in
// tools/): tokens minted and derived under one key, each kept in an 8-byte aligned buffer of its
// own that lives as long as the workshop. Not part of the library.
#pragma once

#include <caplets/caplets.hpp>

#include <gtest/gtest.h>

#include <cstring>
#include <deque>
#include <vector>

namespace caplets::test_support {

class workshop {
public:
    workshop() { key_.bytes.fill(0x42); }
    explicit workshop(std::uint8_t fill) { key_.bytes.fill(fill); }

    const secret_key& key() const { return key_; }

    token_view mint(const frame_spec& spec) { return make(nullptr, spec); }

    /// `spec` appended to `parent`; by default it repeats the parent's constraints first, as a
    /// valid derivation must.
    token_view derive(const token_view& parent, frame_spec spec, bool inherit = true) {
        if (inherit)
            spec.inherit_constraints(parent.leaf());
        return make(&parent, spec);
    }

    /// A copy of `bytes`, parsed.
    token_view parse(byte_view bytes) {
        std::vector<std::uint64_t>& storage = next();
        std::memcpy(storage.data(), bytes.data(), bytes.size());
        auto view = token_view::parse(bytes_of(storage).first(bytes.size()));
        EXPECT_TRUE(view);
        return *view;
    }

    static std::span<std::uint8_t> bytes_of(std::vector<std::uint64_t>& storage) {
        return {reinterpret_cast<std::uint8_t*>(storage.data()), storage.size() * 8};
    }

private:
    token_view make(const token_view* parent, const frame_spec& spec) {
        std::vector<std::uint64_t> frame_storage(512);
        lidl::builder frame_out(bytes_of(frame_storage));
        auto frame_bytes = spec.write(frame_out);
        EXPECT_TRUE(frame_bytes);
        std::vector<std::uint64_t>& storage = next();
        lidl::builder out(bytes_of(storage));
        auto token = parent == nullptr ? caplets::mint(key_, *frame_bytes, out)
                                       : caplets::derive(*parent, *frame_bytes, out);
        EXPECT_TRUE(token);
        return parse(*token);
    }

    std::vector<std::uint64_t>& next() { return storage_.emplace_back(1024); }

    secret_key key_;
    std::deque<std::vector<std::uint64_t>> storage_;
};

inline frame_spec root_spec() {
    frame_spec spec;
    spec.add_root();
    return spec;
}

} // namespace caplets::test_support

// Messages shared by the lidl runtime tests, the fuzz seed writer and the fuzz target.
#pragma once

#include "everything.lidl.hpp"

#include <cstdint>
#include <memory>
#include <span>

namespace lidl_test {

/// An 8-byte aligned heap buffer (lidl messages must start on an 8-byte boundary).
class aligned_buffer {
public:
    explicit aligned_buffer(std::size_t size)
        : storage_(new std::uint64_t[(size + 7) / 8 + 1]()), size_(size) {}
    std::span<std::uint8_t> bytes() { return {reinterpret_cast<std::uint8_t*>(storage_.get()), size_}; }
    std::uint8_t* data() { return reinterpret_cast<std::uint8_t*>(storage_.get()); }
    std::size_t size() const { return size_; }

private:
    std::unique_ptr<std::uint64_t[]> storage_;
    std::size_t size_;
};

/// Builds a message with every field of `everything` set (see the .cpp for the values).
/// Returns the root, or nullptr when the builder runs out of space.
everything* build_everything(lidl::builder& out);

/// Checks every value build_everything wrote; returns the name of the first wrong field, or
/// nullptr when all are right.
const char* check_everything(const everything& e);

/// Builds a chain of `depth` nested nodes (root -> child -> ...).
node* build_chain(lidl::builder& out, int depth);

}  // namespace lidl_test

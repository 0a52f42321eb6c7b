// lidl wire types: the C-layout building blocks of every generated type.
//
// A lidl message is a byte buffer, 8-byte aligned, little-endian:
//
//     offset 0: u16 format (1), u16 flags (0), u32 root_size   -- the message header
//     offset 8: the root object (root_size bytes), then everything it references
//
// Value types (scalars, enums, arrays and structs of value types) are laid out as C structs
// with natural alignment and are read and written in place. Variable-size data lives in
// reference types that address their target through a 32-bit offset relative to the
// reference's own address, always pointing forward (towards the end of the buffer), so a
// message can be copied with memcpy and stays valid, and a verifier can check it in one
// bounded pass. The reference types are:
//
//     lidl::string       {i32 offset, u32 size}          bytes of UTF-8 text
//     lidl::vector<T>    {i32 offset, u32 count}         count elements of T, aligned for T
//     union header       {u32 tag, i32 offset, u32 size} one alternative, out of line;
//                                                         tag 0 = empty, else index + 1
//     lidl::optional<T>  {u8 present, T value}           (inline; a reference type iff T is)
//
// An empty string or vector has offset 0. Objects that contain references are only meaningful
// inside their buffer, so their copy operations are deleted; read them through references
// obtained from a verified message (lidl/verifier.hpp) or build them with lidl/builder.hpp.
#pragma once

#include <base/check.hpp>

#include <array>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <type_traits>

static_assert(std::endian::native == std::endian::little,
              "the lidl wire format is little-endian and read in place");

namespace lidl {

inline constexpr std::size_t message_alignment = 8;
inline constexpr std::size_t header_size = 8;
inline constexpr std::uint16_t format_version = 1;

class builder;
class verifier;

/// Text in a message. Reads as a std::string_view into the buffer.
class string {
public:
    string() = default;
    string(const string&) = delete;
    string& operator=(const string&) = delete;

    std::string_view view() const {
        if (size_ == 0)
            return {};
        return {reinterpret_cast<const char*>(this) + offset_, size_};
    }
    operator std::string_view() const { return view(); }
    std::size_t size() const { return size_; }
    bool empty() const { return size_ == 0; }

private:
    friend class builder;
    friend class verifier;
    std::int32_t offset_ = 0;
    std::uint32_t size_ = 0;
};

/// A sequence of `T` in a message. Reads as a std::span<const T> into the buffer.
template <class T>
class vector {
public:
    vector() = default;
    vector(const vector&) = delete;
    vector& operator=(const vector&) = delete;

    std::span<const T> view() const {
        if (count_ == 0)
            return {};
        return {reinterpret_cast<const T*>(reinterpret_cast<const std::uint8_t*>(this) + offset_),
                count_};
    }
    operator std::span<const T>() const { return view(); }
    std::size_t size() const { return count_; }
    bool empty() const { return count_ == 0; }
    const T& operator[](std::size_t i) const {
        AMB_REQUIRE(i < count_, "lidl::vector index out of range");
        return view()[i];
    }
    const T* begin() const { return view().data(); }
    const T* end() const { return view().data() + count_; }

private:
    friend class builder;
    friend class verifier;
    std::int32_t offset_ = 0;
    std::uint32_t count_ = 0;
};

/// An optional `T`, stored inline after a presence byte.
template <class T>
class optional {
public:
    optional() = default;
    /// A present value (value types; for results returned by value).
    explicit optional(const T& value)
        requires std::is_copy_constructible_v<T>
        : present_(1), value_(value) {}

    bool has_value() const { return present_ != 0; }
    explicit operator bool() const { return has_value(); }
    /// The value, or nullptr when absent.
    const T* get() const { return present_ ? &value_ : nullptr; }
    const T& value() const {
        AMB_REQUIRE(present_, "value() of an absent lidl::optional");
        return value_;
    }
    const T& operator*() const { return value(); }
    const T* operator->() const { return &value(); }
    /// The value, or `fallback` when absent (value types only).
    T value_or(const T& fallback) const
        requires std::is_copy_constructible_v<T>
    {
        return present_ ? value_ : fallback;
    }

private:
    friend class builder;
    friend class verifier;
    std::uint8_t present_ = 0;
    T value_{};
};

/// The wire header of every generated union: which alternative, and where it lives.
class union_header {
public:
    union_header() = default;
    union_header(const union_header&) = delete;
    union_header& operator=(const union_header&) = delete;

    /// 0 when the union holds nothing (zeroed memory), otherwise alternative index + 1.
    std::uint32_t tag() const { return tag_; }
    bool has_value() const { return tag_ != 0; }
    /// Size in bytes of the alternative's object as written (may exceed the reader's type).
    std::uint32_t payload_size() const { return size_; }
    /// The alternative as `T`; the caller has checked the tag.
    template <class T>
    const T& payload() const {
        return *reinterpret_cast<const T*>(reinterpret_cast<const std::uint8_t*>(this) + offset_);
    }

private:
    friend class builder;
    friend class verifier;
    std::uint32_t tag_ = 0;
    std::int32_t offset_ = 0;
    std::uint32_t size_ = 0;
};

/// True for wire types without references, which may be copied byte for byte (scalars, enums,
/// and structs, arrays and optionals of them). Reference-holding types delete their copy
/// assignment, which is what this tests (std::is_trivially_copyable is not reliable for classes
/// whose copy operations are all deleted).
template <class T>
inline constexpr bool is_value_type =
    std::is_trivially_copyable_v<T> && std::is_copy_assignable_v<T>;

/// Fixed-size arrays are std::array (same layout as T[N]).
template <class T, std::size_t N>
using array = std::array<T, N>;

static_assert(sizeof(string) == 8 && alignof(string) == 4);
static_assert(sizeof(vector<std::uint64_t>) == 8 && alignof(vector<std::uint64_t>) == 4);
static_assert(sizeof(union_header) == 12 && alignof(union_header) == 4);
static_assert(sizeof(optional<std::uint32_t>) == 8 && sizeof(optional<string>) == 12);
static_assert(sizeof(optional<std::uint8_t>) == 2 && sizeof(optional<std::uint64_t>) == 16);

/// Per-type information generated by lidlc for enums, structs and unions (and provided here
/// for scalars and the wire templates): `name`, `verify`, and for enums `is_valid`.
template <class T>
struct type_info;

}  // namespace lidl

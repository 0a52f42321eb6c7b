// lidl::verify<T>: makes an untrusted buffer safe to read in place.
//
// `verify<T>(bytes)` checks the whole message before anything is read: the header, the root
// size, and recursively every reference (offset forward and inside the buffer, target aligned
// for its type, length inside the buffer), every bool and optional flag, every enum value and
// union tag, the nesting depth, and a budget on the total bytes referenced (so a message that
// points many references at the same data cannot make verification expensive). Only after all
// of it passes does the caller get a `verified<T>`, the one public way to read a `const T&` out
// of bytes. Reads are then plain loads: strings are std::string_view and vectors std::span into
// the buffer, with no copies.
//
// Forward-only offsets make every reference chain strictly increasing in address, so a message
// cannot contain cycles and verification always terminates in time linear in the buffer size.
// A root or union alternative larger than the reader's type (written by a newer schema that
// appended fields) is accepted and its tail ignored; a smaller one is rejected
// (error::object_too_small).
#pragma once

#include <lidl/error.hpp>
#include <lidl/wire.hpp>

#include <base/result.hpp>

#include <cstring>
#include <type_traits>

namespace lidl {

template <class T>
class verified;

template <class T>
amb::result<verified<T>, verify_error> verify(std::span<const std::uint8_t> bytes);

/// True for types whose every bit pattern is valid (no bools, enums or references inside), so
/// that vectors of them need no per-element checks. Generated types specialise type_info with
/// `static constexpr bool trivially_valid`.
template <class T>
inline constexpr bool trivially_valid = false;
template <class T>
    requires std::is_arithmetic_v<T> && (!std::is_same_v<T, bool>)
inline constexpr bool trivially_valid<T> = true;
template <class T, std::size_t N>
inline constexpr bool trivially_valid<std::array<T, N>> = trivially_valid<T>;
template <class T>
    requires requires { type_info<T>::trivially_valid; }
inline constexpr bool trivially_valid<T> = type_info<T>::trivially_valid;

class verifier {
public:
    static constexpr int max_depth = 64;
    /// Referenced bytes may total at most this multiple of the buffer size.
    static constexpr std::size_t budget_factor = 4;

    explicit verifier(std::span<const std::uint8_t> bytes)
        : begin_(bytes.data()), end_(bytes.data() + bytes.size()),
          budget_(bytes.size() * budget_factor + 64) {}

    /// Records a failure at `at` and returns false.
    bool fail(error kind, const void* at, const char* type, const char* field) {
        if (!failed_) {
            failed_ = true;
            error_.kind = kind;
            error_.offset = static_cast<std::uint32_t>(static_cast<const std::uint8_t*>(at) - begin_);
            error_.type = type;
            error_.field = field;
        }
        return false;
    }
    const verify_error& error() const { return error_; }

    /// Checks any wire value (scalar, wire template or generated type) located in the buffer.
    template <class T>
    bool value(const T& object, const char* type, const char* field) {
        if constexpr (std::is_same_v<T, bool>) {
            std::uint8_t byte;
            std::memcpy(&byte, &object, 1);  // never load a bool that may hold 2..255
            return byte <= 1 || fail(error::bad_bool, &object, type, field);
        } else if constexpr (std::is_arithmetic_v<T>) {
            return true;
        } else if constexpr (std::is_same_v<T, string>) {
            return text(object, type, field);
        } else {
            return type_info<T>::verify(*this, object, type, field);
        }
    }

    template <class T, std::size_t N>
    bool value(const std::array<T, N>& items, const char* type, const char* field) {
        if constexpr (trivially_valid<T>)
            return true;
        for (const T& item : items)
            if (!value(item, type, field))
                return false;
        return true;
    }

    template <class T>
    bool value(const optional<T>& item, const char* type, const char* field) {
        std::uint8_t present;
        std::memcpy(&present, &item, 1);
        if (present > 1)
            return fail(error::bad_optional_flag, &item, type, field);
        return present == 0 || value(*item.get(), type, field);
    }

    template <class T>
    bool value(const vector<T>& items, const char* type, const char* field) {
        if (items.count_ == 0)
            return true;
        if (!reference(&items, items.offset_, sizeof(T), items.count_, alignof(T), type, field))
            return false;
        if constexpr (trivially_valid<T>) {
            return true;
        } else {
            if (!enter(&items, type, field))
                return false;
            for (const T& item : items.view())
                if (!value(item, type, field))
                    return false;
            --depth_;
            return true;
        }
    }

    /// Checks a union holding nothing: it must not reference anything (called by generated code).
    bool empty_union(const union_header& header, const char* type, const char* field) {
        return (header.offset_ == 0 && header.size_ == 0) ||
               fail(error::bad_offset, &header, type, field);
    }

    /// Checks a union whose header selects alternative type `T` (called by generated code).
    template <class T>
    bool alternative(const union_header& header, const char* type, const char* field) {
        if (header.size_ < sizeof(T))
            return fail(error::object_too_small, &header, type, field);
        if (!reference(&header, header.offset_, header.size_, 1, alignof(T), type, field))
            return false;
        if (!enter(&header, type, field))
            return false;
        bool ok = value(header.payload<T>(), type, field);
        --depth_;
        return ok;
    }

private:
    template <class T>
    friend amb::result<verified<T>, verify_error> verify(std::span<const std::uint8_t> bytes);

    bool text(const string& s, const char* type, const char* field) {
        return s.size_ == 0 || reference(&s, s.offset_, 1, s.size_, 1, type, field);
    }

    bool enter(const void* at, const char* type, const char* field) {
        if (++depth_ > max_depth)
            return fail(error::too_deep, at, type, field);
        return true;
    }

    // Checks that `count` objects of `element_size` bytes at `field + offset` lie forward of
    // `field`, inside the buffer, aligned to `align`, and within the budget.
    bool reference(const void* field, std::int32_t offset, std::size_t element_size,
                   std::size_t count, std::size_t align, const char* type, const char* name) {
        auto* at = static_cast<const std::uint8_t*>(field);
        if (offset <= 0)
            return fail(error::bad_offset, field, type, name);
        std::size_t available = static_cast<std::size_t>(end_ - at);
        if (static_cast<std::size_t>(offset) >= available)
            return fail(error::bad_offset, field, type, name);
        available -= static_cast<std::size_t>(offset);
        if (count > available / element_size)
            return fail(error::bad_offset, field, type, name);
        const std::uint8_t* target = at + offset;
        if (reinterpret_cast<std::uintptr_t>(target) % align != 0)
            return fail(error::misaligned_reference, field, type, name);
        std::size_t bytes = element_size * count;
        if (bytes > budget_)
            return fail(error::budget_exceeded, field, type, name);
        budget_ -= bytes;
        return true;
    }

    const std::uint8_t* begin_;
    const std::uint8_t* end_;
    std::size_t budget_;
    int depth_ = 0;
    bool failed_ = false;
    verify_error error_;
};

/// A message whose root is a `T` that passed verification. Holds a view of the caller's buffer
/// (which must outlive it); reading through it is safe.
template <class T>
class verified {
public:
    const T& operator*() const { return *root_; }
    const T* operator->() const { return root_; }
    const T& root() const { return *root_; }
    std::span<const std::uint8_t> bytes() const { return bytes_; }

private:
    template <class U>
    friend amb::result<verified<U>, verify_error> verify(std::span<const std::uint8_t> bytes);
    verified(const T* root, std::span<const std::uint8_t> bytes) : root_(root), bytes_(bytes) {}

    const T* root_;
    std::span<const std::uint8_t> bytes_;
};

template <class T>
amb::result<verified<T>, verify_error> verify(std::span<const std::uint8_t> bytes) {
    verify_error failure_at;
    failure_at.type = type_info<T>::name;
    if (reinterpret_cast<std::uintptr_t>(bytes.data()) % message_alignment != 0) {
        failure_at.kind = error::misaligned_buffer;
        return amb::failure{failure_at};
    }
    if (bytes.size() < header_size) {
        failure_at.kind = error::truncated;
        return amb::failure{failure_at};
    }
    if (bytes.size() > INT32_MAX) {
        failure_at.kind = error::bad_header;
        return amb::failure{failure_at};
    }
    std::uint16_t version;
    std::uint16_t flags;
    std::uint32_t root_size;
    std::memcpy(&version, bytes.data(), 2);
    std::memcpy(&flags, bytes.data() + 2, 2);
    std::memcpy(&root_size, bytes.data() + 4, 4);
    if (version != format_version || flags != 0) {
        failure_at.kind = error::bad_header;
        return amb::failure{failure_at};
    }
    if (root_size < sizeof(T)) {
        failure_at.kind = error::object_too_small;
        return amb::failure{failure_at};
    }
    if (root_size > bytes.size() - header_size) {
        failure_at.kind = error::truncated;
        return amb::failure{failure_at};
    }
    static_assert(alignof(T) <= message_alignment);
    const T* root = reinterpret_cast<const T*>(bytes.data() + header_size);
    verifier check(bytes);
    if (!check.value(*root, type_info<T>::name, ""))
        return amb::failure{check.error()};
    return verified<T>(root, bytes);
}

/// Scalars have type_info too, so that messages may have a scalar root in tests and calls.
template <class T>
    requires std::is_arithmetic_v<T>
struct type_info<T> {
    static constexpr const char* name = "scalar";
};

}  // namespace lidl

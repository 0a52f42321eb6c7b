// lidl::builder: writes a message into a caller-provided buffer.
//
// Building is top-down: `create_root<T>()` places the root object right after the header, then
// reference fields are filled with `set`/`create_vector`/`set_union`..., each of which appends
// the referenced data after everything written so far (so every offset points forward, as the
// verifier requires). Value fields are assigned directly through the returned pointers. The
// memory the builder hands out is zeroed, so unset fields read as zero, empty or absent.
//
// The buffer must be 8-byte aligned and outlive the builder; pointers returned by the builder
// stay valid (nothing moves). When the buffer is too small, the failing call returns nullptr or
// false, the builder stays failed, and `finish()` reports error::buffer_too_small; the builder
// never allocates, never hangs. Fields passed to a builder must belong to objects it handed out
// (a precondition, checked).
#pragma once

#include <lidl/error.hpp>
#include <lidl/wire.hpp>

#include <base/result.hpp>

#include <cstring>
#include <string_view>

namespace lidl {

class builder {
public:
    explicit builder(std::span<std::uint8_t> buffer) : buffer_(buffer) {
        AMB_REQUIRE(reinterpret_cast<std::uintptr_t>(buffer.data()) % message_alignment == 0,
                    "lidl::builder buffer must be 8-byte aligned");
        if (buffer_.size() < header_size) {
            failed_ = true;
            return;
        }
        std::memset(buffer_.data(), 0, header_size);
        used_ = header_size;
    }
    builder(const builder&) = delete;
    builder& operator=(const builder&) = delete;

    /// Starts over with an empty message in the same buffer (all pointers handed out before
    /// become invalid).
    void reset() {
        failed_ = buffer_.size() < header_size;
        rooted_ = false;
        used_ = failed_ ? 0 : header_size;
        if (!failed_)
            std::memset(buffer_.data(), 0, header_size);
    }

    /// Places the root object (once per message). Returns nullptr if the buffer is too small.
    template <class T>
    T* create_root() {
        AMB_REQUIRE(!rooted_, "create_root called twice on one lidl::builder");
        T* root = allocate<T>(1);
        if (root == nullptr)
            return nullptr;
        rooted_ = true;
        const std::uint16_t version = format_version;
        const std::uint32_t root_size = sizeof(T);
        std::memcpy(buffer_.data(), &version, 2);
        std::memcpy(buffer_.data() + 4, &root_size, 4);
        return root;
    }

    /// Copies `text` into the message and points `field` at it.
    bool set(string& field, std::string_view text) {
        if (text.empty())
            return clear(field.offset_, field.size_);
        std::uint8_t* data = allocate_bytes(text.size(), 1);
        if (data == nullptr)
            return false;
        std::memcpy(data, text.data(), text.size());
        link(field, field.offset_, data);
        field.size_ = static_cast<std::uint32_t>(text.size());
        return true;
    }

    /// Copies `items` (a value type without references) into the message.
    template <class T, class U>
        requires std::is_same_v<std::remove_const_t<U>, T> && is_value_type<T>
    bool set(vector<T>& field, std::span<U> items) {
        T* data = create_vector(field, items.size());
        if (data == nullptr)
            return items.empty() && !failed_;
        if (!items.empty())
            std::memcpy(static_cast<void*>(data), items.data(), items.size_bytes());
        return true;
    }

    /// Appends `count` zeroed elements and points `field` at them; fill them through the
    /// returned pointer. Returns nullptr when count is 0 or the buffer is too small.
    /// `align` may raise the elements' alignment (e.g. 8 for bytes that hold a nested message).
    template <class T>
    T* create_vector(vector<T>& field, std::size_t count, std::size_t align = alignof(T)) {
        if (count == 0) {
            clear(field.offset_, field.count_);
            return nullptr;
        }
        if (count > UINT32_MAX || count > SIZE_MAX / sizeof(T)) {
            failed_ = true;
            return nullptr;
        }
        AMB_REQUIRE(align >= alignof(T) && align <= message_alignment && (align & (align - 1)) == 0,
                    "bad alignment for create_vector");
        T* data = reinterpret_cast<T*>(allocate_bytes(sizeof(T) * count, align));
        if (data == nullptr)
            return nullptr;
        link(field, field.offset_, data);
        field.count_ = static_cast<std::uint32_t>(count);
        return data;
    }

    /// Copies each string of `items` into a new vector<string>.
    template <class Strings>
    bool set_strings(vector<string>& field, const Strings& items) {
        std::size_t count = std::size(items);
        string* out = create_vector(field, count);
        if (out == nullptr)
            return count == 0 && !failed_;
        std::size_t i = 0;
        for (const auto& item : items)
            if (!set(out[i++], std::string_view(item)))
                return false;
        return true;
    }

    /// Marks `field` present and returns its value to fill in (zeroed).
    template <class T>
    T* emplace(optional<T>& field) {
        owned(&field, sizeof field);
        field.present_ = 1;
        return &field.value_;
    }

    /// Marks `field` present with `value` (value types).
    template <class T>
        requires std::is_copy_assignable_v<T>
    void set(optional<T>& field, const T& value) {
        *emplace(field) = value;
    }

    /// Sets `header` to alternative `tag` holding a new zeroed `T`, returned to fill in.
    template <class T>
    T* set_union(union_header& header, std::uint32_t tag) {
        T* payload = allocate<T>(1);
        if (payload == nullptr)
            return nullptr;
        link(header, header.offset_, payload);
        header.tag_ = tag;
        header.size_ = sizeof(T);
        return payload;
    }

    /// Copies `text` into the message outside any field and returns a view of the copy
    /// (useful for procedure results that are views into the response buffer). Empty on failure.
    std::string_view copy(std::string_view text) {
        std::uint8_t* data = allocate_bytes(text.size(), 1);
        if (data == nullptr || text.empty())
            return {};
        std::memcpy(data, text.data(), text.size());
        return {reinterpret_cast<const char*>(data), text.size()};
    }

    /// Replaces the contents with a copy of a finished `message` (for instance a reply that
    /// arrived over a network). The copy still has to be verified before it is read.
    bool adopt(std::span<const std::uint8_t> message) {
        reset();
        if (failed_ || message.size() > buffer_.size() || message.size() < header_size) {
            failed_ = true;
            return false;
        }
        std::memcpy(buffer_.data(), message.data(), message.size());
        used_ = message.size();
        rooted_ = true;
        return true;
    }

    /// The bytes written so far (the message once finished).
    std::span<const std::uint8_t> written() const { return {buffer_.data(), used_}; }
    /// The root object, if one was created (or adopted), as `T`.
    template <class T>
    const T* root() const {
        return rooted_ && !failed_ ? reinterpret_cast<const T*>(buffer_.data() + header_size)
                                   : nullptr;
    }

    bool failed() const { return failed_; }
    /// Bytes written so far.
    std::size_t size() const { return used_; }
    std::size_t capacity() const { return buffer_.size(); }

    /// The finished message, or error::buffer_too_small. Requires a root.
    amb::result<std::span<const std::uint8_t>, error> finish() const {
        if (failed_)
            return amb::failure{error::buffer_too_small};
        AMB_REQUIRE(rooted_, "lidl::builder::finish without a root");
        return std::span<const std::uint8_t>(buffer_.data(), used_);
    }

    /// Allocates zeroed storage for `count` objects of T after everything written so far.
    template <class T>
    T* allocate(std::size_t count) {
        if (count > (SIZE_MAX / sizeof(T))) {
            failed_ = true;
            return nullptr;
        }
        return reinterpret_cast<T*>(allocate_bytes(sizeof(T) * count, alignof(T)));
    }

private:
    std::uint8_t* allocate_bytes(std::size_t size, std::size_t align) {
        if (failed_)
            return nullptr;
        std::size_t start = (used_ + align - 1) & ~(align - 1);
        // Offsets are 32-bit: keep every message below 2 GiB.
        if (start > buffer_.size() || size > buffer_.size() - start || start + size > INT32_MAX) {
            failed_ = true;
            return nullptr;
        }
        std::memset(buffer_.data() + used_, 0, start + size - used_);
        used_ = start + size;
        return buffer_.data() + start;
    }

    void owned(const void* field, std::size_t size) const {
        auto* at = static_cast<const std::uint8_t*>(field);
        AMB_REQUIRE(at >= buffer_.data() && at + size <= buffer_.data() + used_,
                    "field does not belong to this lidl::builder's message");
    }

    template <class Field>
    void link(const Field& field, std::int32_t& offset, const void* target) {
        owned(&field, sizeof field);
        offset = static_cast<std::int32_t>(static_cast<const std::uint8_t*>(target) -
                                           reinterpret_cast<const std::uint8_t*>(&field));
    }

    template <class Count>
    bool clear(std::int32_t& offset, Count& count) {
        offset = 0;
        count = 0;
        return !failed_;
    }

    std::span<std::uint8_t> buffer_;
    std::size_t used_ = 0;
    bool failed_ = false;
    bool rooted_ = false;
};

}  // namespace lidl

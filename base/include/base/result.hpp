// result<T, E>: the value-or-error type used by every core library.
//
// Core libraries are built without exceptions (they must run on microcontrollers), so an
// operation that can fail for reasons outside the caller's control returns `result<T, E>`:
// either a value or an error enum. It is a deliberately small subset of C++23 `std::expected`
// (g++ 12 in C++20 mode does not ship it); when the toolchains move to C++23 this header can
// become an alias. Reading the value of an error result, or the error of a value result, is a
// precondition violation and stops the program through AMB_REQUIRE.
#pragma once

#include <base/check.hpp>

#include <new>
#include <type_traits>
#include <utility>

namespace amb {

/// Wraps an error so that `result<T, E>` can be constructed from it unambiguously.
template <class E>
struct failure {
    E error;
};

template <class E>
failure(E) -> failure<E>;

/// Either a `T` or an `E`. `T` may be `void`.
template <class T, class E>
class [[nodiscard]] result {
public:
    using value_type = T;
    using error_type = E;

    result(const T& value) : has_value_(true) { new (&value_) T(value); }
    result(T&& value) : has_value_(true) { new (&value_) T(std::move(value)); }
    result(failure<E> f) : has_value_(false) { new (&error_) E(f.error); }

    result(const result& other) : has_value_(other.has_value_) {
        if (has_value_)
            new (&value_) T(other.value_);
        else
            new (&error_) E(other.error_);
    }
    result(result&& other) noexcept : has_value_(other.has_value_) {
        if (has_value_)
            new (&value_) T(std::move(other.value_));
        else
            new (&error_) E(other.error_);
    }
    result& operator=(result other) noexcept {
        destroy();
        has_value_ = other.has_value_;
        if (has_value_)
            new (&value_) T(std::move(other.value_));
        else
            new (&error_) E(other.error_);
        return *this;
    }
    ~result() { destroy(); }

    bool has_value() const { return has_value_; }
    explicit operator bool() const { return has_value_; }

    T& value() & {
        AMB_REQUIRE(has_value_, "value() of an error result");
        return value_;
    }
    const T& value() const& {
        AMB_REQUIRE(has_value_, "value() of an error result");
        return value_;
    }
    T&& value() && {
        AMB_REQUIRE(has_value_, "value() of an error result");
        return std::move(value_);
    }
    E error() const {
        AMB_REQUIRE(!has_value_, "error() of a value result");
        return error_;
    }

    T& operator*() & { return value(); }
    const T& operator*() const& { return value(); }
    T* operator->() { return &value(); }
    const T* operator->() const { return &value(); }

private:
    void destroy() {
        if (has_value_)
            value_.~T();
        else
            error_.~E();
    }

    bool has_value_;
    union {
        T value_;
        E error_;
    };
};

/// `result<void, E>`: success, or an error.
template <class E>
class [[nodiscard]] result<void, E> {
public:
    using value_type = void;
    using error_type = E;

    result() = default;
    result(failure<E> f) : has_value_(false), error_(f.error) {}

    bool has_value() const { return has_value_; }
    explicit operator bool() const { return has_value_; }
    void value() const { AMB_REQUIRE(has_value_, "value() of an error result"); }
    E error() const {
        AMB_REQUIRE(!has_value_, "error() of a value result");
        return error_;
    }

private:
    bool has_value_ = true;
    E error_{};
};

}  // namespace amb

// Support for generated service code: result slots, the adapter that runs a procedure and
// stores its result, the outcome of serving a call message (`serve_result`), the direct
// backend, and deep copies into a builder.
//
// A generated client `S_client<Backend>` implements interface `S` by packing each call's
// arguments into a parameter tuple (scalars by value, views as pointer and length, structs by
// pointer: no serialization) and awaiting `backend.execute<Id>(&params, &result_slot,
// options)`. A backend either serves the call itself (the direct backend below calls the
// implementation in the same address space) or carries the pointers elsewhere (a ring to
// another group, or a network proxy that uses the generated codec to turn the tuple into a
// message). The callee never learns which path was used. Every call completes exactly once,
// with the value or a `call_error` in its slot: the backend's own failures, or the error the
// implementation returned, carried back across whatever path the call took.
#pragma once

#include <lidl/builder.hpp>
#include <lidl/call_error.hpp>
#include <lidl/verifier.hpp>

#include <async/task.hpp>
#include <base/loop_driver.hpp>

#include <cstring>
#include <new>
#include <utility>

namespace lidl {

/// The members of a procedure's parameter tuple in declaration order, as pointers to members
/// (`lidl_procedure<Id>::fields`). The tuple's `response` builder, if any, is not listed.
/// Marshallers that copy tuples between address spaces walk it (runtime/groups' marshal.hpp).
template <auto... Members>
struct field_list {};

/// What a procedure of a generated interface returns: a task completing with the procedure's
/// value or the `call_error` that stopped it (an implementation returns its own errors with
/// `co_return amb::failure{lidl::call_error{...}}`; a void procedure answers `co_return {};`).
template <class T>
using completion = amb::task<call_result<T>>;

/// Options of one call, taken by every backend's `execute`. Set for the next call through any
/// reference to a generated interface with `dependency.within(timeout).procedure(...)`.
struct call_options {
    /// How long the call may wait for its answer before it completes with deadline_passed;
    /// zero: the backend's own default (a binding's timeout, the node's call_timeout). Calls
    /// that stay in the caller's group (the direct backend) run to completion: the callee runs
    /// on the caller's own stack, so nothing could answer in its place.
    amb::loop_clock::duration timeout{};
};

/// Storage for the outcome of a procedure (its value or a call_error), filled once by a backend.
template <class T>
class slot {
public:
    using outcome = call_result<T>;

    slot() = default;
    slot(const slot&) = delete;
    slot& operator=(const slot&) = delete;
    ~slot() {
        if (full_)
            reinterpret_cast<outcome*>(storage_)->~outcome();
    }
    void* address() { return this; }
    /// Stores the value.
    template <class U>
    void emplace(U&& value) {
        AMB_ASSERT(!full_, "result slot filled twice");
        new (storage_) outcome(T(std::forward<U>(value)));
        full_ = true;
    }
    /// Stores how the call failed.
    void fail(call_error error) {
        AMB_ASSERT(!full_, "result slot filled twice");
        new (storage_) outcome(amb::failure{error});
        full_ = true;
    }
    /// Stores a whole outcome (what an implementation returned).
    void set(outcome&& value) {
        AMB_ASSERT(!full_, "result slot filled twice");
        new (storage_) outcome(std::move(value));
        full_ = true;
    }
    bool failed() const { return full_ && !reinterpret_cast<const outcome*>(storage_)->has_value(); }
    call_error error() const { return reinterpret_cast<const outcome*>(storage_)->error(); }
    outcome take() {
        AMB_ASSERT(full_, "result slot read before the backend filled it");
        return std::move(*reinterpret_cast<outcome*>(storage_));
    }

private:
    alignas(outcome) unsigned char storage_[sizeof(outcome)];
    bool full_ = false;
};

/// A void procedure's slot: success unless a backend stored an error.
template <>
class slot<void> {
public:
    using outcome = call_result<void>;

    void* address() { return this; }
    void emplace() {}
    void fail(call_error error) {
        AMB_ASSERT(!failed_, "result slot filled twice");
        error_ = error;
        failed_ = true;
    }
    void set(outcome&& value) {
        if (!value)
            fail(value.error());
    }
    bool failed() const { return failed_; }
    call_error error() const { return error_; }
    outcome take() {
        if (failed_)
            return amb::failure{error_};
        return {};
    }

private:
    call_error error_{};
    bool failed_ = false;
};

/// Awaits `work` (held here, so it lives as long as the await) and stores its outcome in the
/// slot at `result`. This is how a terminal backend completes a call without an extra frame. A
/// task whose frame could not be allocated completes the call with no_memory.
template <class T>
class into_slot {
public:
    into_slot(completion<T>&& work, void* result) : work_(std::move(work)), result_(result) {}

    bool await_ready() const noexcept { return !work_.valid(); }
    std::coroutine_handle<> await_suspend(std::coroutine_handle<> waiting) noexcept {
        return work_.operator co_await().await_suspend(waiting);
    }
    void await_resume() {
        auto* destination = static_cast<slot<T>*>(result_);
        if (!work_.valid())
            destination->fail(call_error{call_fault::no_memory});
        else
            destination->set(work_.take_result());
    }

private:
    completion<T> work_;
    void* result_;
};

/// The reply message of `lidl_dispatch::serve` (pointing into the `response` or `spare` builder
/// it was given), or why there is none: unknown_procedure or malformed_call (nothing was
/// invoked), reply_too_large.
using serve_result = call_result<std::span<const std::uint8_t>>;

/// A finished task carrying `error` (for a call refused before any work). Costs a frame like
/// any task; an empty task if none could be allocated.
inline amb::task<serve_result> refuse(call_error error) { co_return amb::failure{error}; }

/// True for backends that hand calls straight to an implementation in the same address space
/// (`static constexpr bool forwards_calls = true` and `implementation()`); generated clients
/// then call the implementation's procedure directly instead of packing a tuple.
template <class Backend>
concept forwards_calls = Backend::forwards_calls && requires(Backend& b) { b.implementation(); };

/// The same-group backend: calls the implementation directly. `Service` is a generated
/// interface; its `lidl_dispatch::invoke<Id>` unpacks a tuple and calls the procedure (used when
/// a caller goes through execute()); generated clients skip even that (forwards_calls).
template <class Service>
class direct_backend {
public:
    static constexpr bool forwards_calls = true;

    explicit direct_backend(Service& implementation) : implementation_(&implementation) {}

    Service& implementation() { return *implementation_; }

    template <std::uint32_t Id>
    auto execute(const void* params, void* result, call_options = {}) {
        return Service::lidl_dispatch::template invoke<Id>(*implementation_, params, result);
    }

private:
    Service* implementation_;
};

// --- deep copies (for procedure arguments that must travel in a message) ---

/// Copies `source` (anywhere) into `destination` (an object handed out by `out`), following
/// references. Returns false when the builder's buffer is too small.
template <class T>
bool copy(builder& out, T& destination, const T& source);
template <class T>
bool copy_elements(builder& out, vector<T>& destination, std::span<const T> source);

template <class T>
bool copy_value(builder& out, T& destination, const T& source) {
    if constexpr (std::is_arithmetic_v<T> || std::is_enum_v<T>) {
        destination = source;
        return true;
    } else if constexpr (std::is_same_v<T, string>) {
        return out.set(destination, source.view());
    } else {
        return type_info<T>::copy(out, destination, source);
    }
}

template <class T>
bool copy(builder& out, T& destination, const T& source) {
    return copy_value(out, destination, source);
}

template <class T, std::size_t N>
bool copy(builder& out, std::array<T, N>& destination, const std::array<T, N>& source) {
    for (std::size_t i = 0; i < N; ++i)
        if (!copy(out, destination[i], source[i]))
            return false;
    return true;
}

template <class T>
bool copy(builder& out, optional<T>& destination, const optional<T>& source) {
    if (!source.has_value())
        return true;
    return copy(out, *out.emplace(destination), *source);
}

/// Fills a vector from a span of wire elements (views of a caller's data or of a message).
template <class T>
bool copy_elements(builder& out, vector<T>& destination, std::span<const T> source) {
    if constexpr (is_value_type<T>) {
        return out.set(destination, source);
    } else {
        T* items = out.create_vector(destination, source.size());
        if (items == nullptr)
            return source.empty() && !out.failed();
        for (std::size_t i = 0; i < source.size(); ++i)
            if (!copy(out, items[i], source[i]))
                return false;
        return true;
    }
}

template <class T>
bool copy(builder& out, vector<T>& destination, const vector<T>& source) {
    return copy_elements(out, destination, source.view());
}

/// Copies a whole message of root type T into `out` as its root.
template <class T>
const T* copy_root(builder& out, const T& source) {
    T* root = out.create_root<T>();
    if (root == nullptr || !copy(out, *root, source))
        return nullptr;
    return root;
}

}  // namespace lidl

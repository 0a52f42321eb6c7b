// amb::task<T>: the coroutine type every asynchronous Ambience operation returns.
//
// A task is lazy: creating one runs nothing; `co_await task` starts it and resumes the awaiting
// coroutine when it finishes (symmetric transfer, so long chains of synchronous completions do
// not grow the stack). `sync_wait(task)` runs a task to completion from ordinary code; it
// requires that the task complete without waiting for an external event (for event-driven
// work the runtime's event loop drives tasks instead).
//
// Frames are allocated from a per-thread recycling pool (size classes up to 1 KiB) so that a
// call through a generated stub does not reach malloc on the hot path; larger frames and a cold
// pool fall back to `operator new(std::nothrow)`. If allocation fails the task is empty
// (`valid()` is false); awaiting an empty task is a precondition violation.
//
// This library depends on nothing but base/ so that lidl and the runtime can both use it.
#pragma once

#include <base/check.hpp>

#include <coroutine>
#include <cstddef>
#include <new>
#include <type_traits>
#include <utility>

namespace amb {

namespace detail {

/// Recycles coroutine frames by size class. Not shared between threads.
class frame_pool {
public:
    static constexpr std::size_t granule = 64;
    static constexpr std::size_t classes = 16;  // frames up to 1 KiB

    static void* allocate(std::size_t size) noexcept;
    static void release(void* frame, std::size_t size) noexcept;

private:
    struct node {
        node* next;
    };
    // The free lists of one thread; frames still cached when the thread ends are returned to
    // the system.
    struct lists {
        node* heads[classes] = {};
        ~lists() {
            for (node*& head : heads)
                while (head != nullptr)
                    ::operator delete(std::exchange(head, head->next));
        }
    };
    static node*& head(std::size_t size_class) noexcept;
};

inline frame_pool::node*& frame_pool::head(std::size_t size_class) noexcept {
    thread_local lists per_thread;
    return per_thread.heads[size_class];
}

inline void* frame_pool::allocate(std::size_t size) noexcept {
    std::size_t size_class = (size + granule - 1) / granule - 1;
    if (size_class >= classes)
        return ::operator new(size, std::nothrow);
    node*& free_list = head(size_class);
    if (free_list != nullptr) {
        node* frame = free_list;
        free_list = frame->next;
        return frame;
    }
    return ::operator new((size_class + 1) * granule, std::nothrow);
}

inline void frame_pool::release(void* frame, std::size_t size) noexcept {
    std::size_t size_class = (size + granule - 1) / granule - 1;
    if (size_class >= classes) {
        ::operator delete(frame);
        return;
    }
    node*& free_list = head(size_class);
    node* released = static_cast<node*>(frame);
    released->next = free_list;
    free_list = released;
}

class promise_base {
public:
    void* operator new(std::size_t size) noexcept { return frame_pool::allocate(size); }
    void operator delete(void* frame, std::size_t size) noexcept {
        frame_pool::release(frame, size);
    }

    std::suspend_always initial_suspend() noexcept { return {}; }

    struct final_awaiter {
        bool await_ready() noexcept { return false; }
        template <class Promise>
        std::coroutine_handle<> await_suspend(std::coroutine_handle<Promise> done) noexcept {
            std::coroutine_handle<> next = done.promise().continuation_;
            return next ? next : std::noop_coroutine();
        }
        void await_resume() noexcept {}
    };
    final_awaiter final_suspend() noexcept { return {}; }

    void unhandled_exception() noexcept { AMB_ASSERT(false, "exception escaped a task"); }

    void set_continuation(std::coroutine_handle<> continuation) noexcept {
        continuation_ = continuation;
    }

private:
    std::coroutine_handle<> continuation_;
};

template <class T>
class promise_storage : public promise_base {
public:
    ~promise_storage() {
        if (has_value_)
            reinterpret_cast<T*>(storage_)->~T();
    }
    template <class U>
    void return_value(U&& value) noexcept(std::is_nothrow_constructible_v<T, U&&>) {
        new (storage_) T(std::forward<U>(value));
        has_value_ = true;
    }
    T take() {
        AMB_ASSERT(has_value_, "task finished without a value");
        return std::move(*reinterpret_cast<T*>(storage_));
    }

private:
    alignas(T) unsigned char storage_[sizeof(T)];
    bool has_value_ = false;
};

template <>
class promise_storage<void> : public promise_base {
public:
    void return_void() noexcept {}
    void take() {}
};

}  // namespace detail

template <class T = void>
class [[nodiscard]] task {
public:
    struct promise_type : detail::promise_storage<T> {
        task get_return_object() noexcept {
            return task(std::coroutine_handle<promise_type>::from_promise(*this));
        }
        static task get_return_object_on_allocation_failure() noexcept { return task(); }
    };

    task() = default;
    task(task&& other) noexcept : handle_(std::exchange(other.handle_, {})) {}
    task& operator=(task&& other) noexcept {
        if (this != &other) {
            destroy();
            handle_ = std::exchange(other.handle_, {});
        }
        return *this;
    }
    task(const task&) = delete;
    task& operator=(const task&) = delete;
    ~task() { destroy(); }

    /// False when the frame could not be allocated.
    bool valid() const noexcept { return static_cast<bool>(handle_); }
    bool done() const noexcept { return handle_ && handle_.done(); }

    struct awaiter {
        std::coroutine_handle<promise_type> handle;
        bool await_ready() const noexcept { return false; }
        std::coroutine_handle<> await_suspend(std::coroutine_handle<> waiting) noexcept {
            handle.promise().set_continuation(waiting);
            return handle;
        }
        T await_resume() { return handle.promise().take(); }
    };

    awaiter operator co_await() && noexcept {
        AMB_REQUIRE(handle_, "awaiting an empty task (frame allocation failed)");
        return awaiter{handle_};
    }
    /// Awaits a task that its owner keeps alive (used by adapters that hold the task).
    awaiter operator co_await() & noexcept {
        AMB_REQUIRE(handle_, "awaiting an empty task (frame allocation failed)");
        return awaiter{handle_};
    }

    /// Starts the task without a continuation (used by sync_wait and event loops).
    void start() {
        AMB_REQUIRE(handle_ && !handle_.done(), "starting an empty or finished task");
        handle_.resume();
    }
    /// The result of a finished task.
    T take_result() {
        AMB_REQUIRE(done(), "result of an unfinished task");
        return handle_.promise().take();
    }

private:
    explicit task(std::coroutine_handle<promise_type> handle) noexcept : handle_(handle) {}
    void destroy() noexcept {
        if (handle_)
            handle_.destroy();
        handle_ = {};
    }

    std::coroutine_handle<promise_type> handle_;
};

/// Runs `work` to completion on this thread and returns its result. The task must finish
/// without waiting for an external event (see the header comment).
template <class T>
T sync_wait(task<T> work) {
    work.start();
    AMB_REQUIRE(work.done(), "sync_wait on a task that suspended on an external event");
    return work.take_result();
}

}  // namespace amb

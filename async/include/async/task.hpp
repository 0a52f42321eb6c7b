// amb::task<T>: the coroutine type every asynchronous Ambience operation returns.
//
// A task is lazy: creating one runs nothing; `co_await task` starts it and resumes the awaiting
// coroutine when it finishes (symmetric transfer, so long chains of synchronous completions do
// not grow the stack). `sync_wait(task)` runs a task to completion from ordinary code; it
// requires that the task complete without waiting for an external event (for event-driven
// work the runtime's event loop drives tasks instead).
//
// Frames come from the calling thread's frame allocator. By default that is a per-thread
// recycling pool (size classes up to 1 KiB) so that a call through a generated stub does not
// reach malloc on the hot path; larger frames and a cold pool fall back to
// `operator new(std::nothrow)`. A port or a test can install its own `frame_allocator` for a
// thread (a microcontroller installs a `static_frame_allocator`, which serves fixed blocks from
// static storage and never calls the heap). If allocation fails the task is empty (`valid()` is
// false); awaiting an empty task is a precondition violation.
//
// This library depends on nothing but base/ so that lidl and the runtime can both use it.
#pragma once

#include <base/check.hpp>

#include <coroutine>
#include <cstddef>
#include <cstring>
#include <new>
#include <type_traits>
#include <utility>

namespace amb {

/// Where task frames come from. Implementations return nullptr when they cannot serve a frame
/// (the task is then empty). A frame is released to the allocator that served it, whichever
/// allocator is installed then, on the thread that destroys the frame: an allocator whose frames
/// may be destroyed on another thread (a task resumed elsewhere) must be thread-safe.
class frame_allocator {
public:
    virtual void* allocate(std::size_t size) noexcept = 0;
    virtual void release(void* frame, std::size_t size) noexcept = 0;

protected:
    ~frame_allocator() = default;
};

/// Serves frames of at most `BlockSize` bytes from `BlockCount` blocks of static storage: no heap,
/// a fixed upper bound on live frames, and a clean failure (an empty task) when every block is in
/// use or a frame is too large. Meant for microcontrollers; not thread-safe.
template <std::size_t BlockSize, std::size_t BlockCount>
class static_frame_allocator final : public frame_allocator {
public:
    static constexpr std::size_t alignment = __STDCPP_DEFAULT_NEW_ALIGNMENT__;
    static constexpr std::size_t block_size = (BlockSize + alignment - 1) / alignment * alignment;

    static_frame_allocator() noexcept {
        for (std::size_t i = BlockCount; i-- > 0;)
            push(storage_ + i * block_size);
    }
    static_frame_allocator(const static_frame_allocator&) = delete;
    static_frame_allocator& operator=(const static_frame_allocator&) = delete;

    void* allocate(std::size_t size) noexcept override {
        if (size > block_size || free_ == nullptr)
            return nullptr;
        node* block = free_;
        free_ = block->next;
        --available_;
        return block;
    }
    void release(void* frame, std::size_t) noexcept override { push(frame); }

    /// Blocks not in use.
    std::size_t available() const noexcept { return available_; }

private:
    struct node {
        node* next;
    };
    void push(void* block) noexcept {
        node* released = static_cast<node*>(block);
        released->next = free_;
        free_ = released;
        ++available_;
    }

    static_assert(BlockSize >= sizeof(void*) && BlockCount > 0);
    alignas(alignment) unsigned char storage_[block_size * BlockCount];
    node* free_ = nullptr;
    std::size_t available_ = 0;
};

namespace detail {

/// The allocator installed on this thread; nullptr selects the recycling `frame_pool`.
inline frame_allocator*& installed_frame_allocator() noexcept {
    thread_local frame_allocator* installed = nullptr;
    return installed;
}

}  // namespace detail

/// Installs `allocator` for frames created on this thread from now on (nullptr restores the
/// default recycling pool) and returns the previous one. The allocator must outlive every frame
/// it serves.
inline frame_allocator* install_frame_allocator(frame_allocator* allocator) noexcept {
    return std::exchange(detail::installed_frame_allocator(), allocator);
}

/// Installs an allocator for the lifetime of a scope (tests, a port's start-up code).
class scoped_frame_allocator {
public:
    explicit scoped_frame_allocator(frame_allocator& allocator) noexcept
        : previous_(install_frame_allocator(&allocator)) {}
    ~scoped_frame_allocator() { install_frame_allocator(previous_); }
    scoped_frame_allocator(const scoped_frame_allocator&) = delete;
    scoped_frame_allocator& operator=(const scoped_frame_allocator&) = delete;

private:
    frame_allocator* previous_;
};

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
    // Each frame records the allocator that served it just past the compiler's frame, so that a
    // frame is released to its own allocator even if another was installed in the meantime.
    void* operator new(std::size_t size) noexcept {
        frame_allocator* allocator = installed_frame_allocator();
        std::size_t total = size + sizeof(frame_allocator*);
        void* frame =
            allocator != nullptr ? allocator->allocate(total) : frame_pool::allocate(total);
        if (frame != nullptr)
            std::memcpy(static_cast<unsigned char*>(frame) + size, &allocator, sizeof allocator);
        return frame;
    }
    void operator delete(void* frame, std::size_t size) noexcept {
        frame_allocator* allocator;
        std::memcpy(&allocator, static_cast<unsigned char*>(frame) + size, sizeof allocator);
        std::size_t total = size + sizeof(frame_allocator*);
        if (allocator != nullptr)
            allocator->release(frame, total);
        else
            frame_pool::release(frame, total);
    }

    std::suspend_always initial_suspend() noexcept { return {}; }

    struct final_awaiter {
        bool await_ready() noexcept { return false; }
        template <class Promise>
        std::coroutine_handle<> await_suspend(std::coroutine_handle<Promise> done) noexcept {
            promise_base& promise = done.promise();
            std::coroutine_handle<> next = promise.continuation_;
            // The frame is suspended here, so the notification may destroy it: read nothing
            // from the frame afterwards.
            if (promise.notify_ != nullptr)
                promise.notify_(promise.notify_context_);
            return next ? next : std::noop_coroutine();
        }
        void await_resume() noexcept {}
    };
    final_awaiter final_suspend() noexcept { return {}; }

    void unhandled_exception() noexcept { AMB_ASSERT(false, "exception escaped a task"); }

    void set_continuation(std::coroutine_handle<> continuation) noexcept {
        continuation_ = continuation;
    }
    void set_notification(void (*notify)(void*) noexcept, void* context) noexcept {
        notify_ = notify;
        notify_context_ = context;
    }

private:
    std::coroutine_handle<> continuation_;
    // For a task started from ordinary code (a job adapter): called when the task finishes.
    void (*notify_)(void*) noexcept = nullptr;
    void* notify_context_ = nullptr;
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
    /// `co_return {};` (a braced list deduces no template argument).
    void return_value(T&& value) noexcept(std::is_nothrow_move_constructible_v<T>) {
        new (storage_) T(std::move(value));
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
    /// Starts the task without a continuation; `notify(context)` is called once it has finished
    /// (from whichever thread finishes it), and may destroy the task.
    void start_with_notification(void (*notify)(void*) noexcept, void* context) {
        AMB_REQUIRE(handle_ && !handle_.done(), "starting an empty or finished task");
        handle_.promise().set_notification(notify, context);
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

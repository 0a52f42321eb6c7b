// Jobs: one implementation of an asynchronous operation, four ways to wait for it.
//
// A job is an object that describes an operation and does nothing until a completion is
// attached with `start(completion)`. The caller picks how to wait:
//
//     co_await job;                          // from a task (resumes the coroutine)
//     sync_wait(job);                        // blocks the calling thread (port thread_event)
//     sync_wait(loop, job);                  // runs an event loop until the job completes
//     auto binding = bind(job, callback);    // calls `callback(value)` on completion
//     fiber_wait(job);                       // (fibers, see fiber.hpp when present)
//
// The job contract, for anyone writing one (derive from `job_base<T>` so that `co_await` is
// found by argument-dependent lookup):
// - `void start(completion<T>& done) noexcept` begins the operation. It is called at most once.
//   From then on the job must not move and must stay alive until `done.complete(value)` is called
//   exactly once, later (never inside `start`: split-phase, no synchronous callbacks; the
//   adapters below tolerate it anyway). The job documents which thread completes it.
// - Whether a started job may be destroyed before it completes is the job's own contract (timers
//   allow it and then never complete; see timer.hpp).
// - `T` is the value the operation produces, usually a `result<V, E>`; it is never void (use
//   `void_value`).
//
// `when_all(jobs or tasks...)` is itself a job whose value is a tuple of the values, in order.
// Nothing here allocates: adapters and completions live in the caller's frame or stack.
#pragma once

#include <async/task.hpp>
#include <base/check.hpp>
#include <runtime/event_loop.hpp>
#include <base/thread_event.hpp>

#include <atomic>
#include <concepts>
#include <coroutine>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <tuple>
#include <type_traits>
#include <utility>

namespace amb {

/// The value of a job (or task) that produces nothing.
struct void_value {
    friend bool operator==(void_value, void_value) = default;
};

/// The receiving end of a job: whoever attaches it decides what completion does. Not copyable or
/// movable, because a started job holds a reference to it.
template <class T>
class completion {
public:
    using value_type = T;

    completion(const completion&) = delete;
    completion& operator=(const completion&) = delete;

    /// Delivers the job's value. Called exactly once per start.
    void complete(T value) noexcept { on_complete_(*this, std::move(value)); }

protected:
    using function = void (*)(completion&, T&&) noexcept;
    explicit completion(function on_complete) noexcept : on_complete_(on_complete) {}
    ~completion() = default;

private:
    function on_complete_;
};

/// Base for job types: names the value type and brings namespace amb into argument-dependent
/// lookup, so that `co_await job` finds the adapter below.
template <class T>
struct job_base {
    using value_type = T;
};

template <class J>
concept job = requires(J& operation,
                       completion<typename std::remove_cvref_t<J>::value_type>& done) {
    typename std::remove_cvref_t<J>::value_type;
    { operation.start(done) } noexcept;
};

template <job J>
using job_value_t = typename std::remove_cvref_t<J>::value_type;

namespace detail {

/// Completion that resumes a coroutine. A job that completes inside `start` (or on another thread
/// while `start` is still returning) is handled by an exchange on `state_`: whichever side comes
/// second resumes.
template <class J>
class job_awaiter final : public completion<job_value_t<J>> {
public:
    using value_type = job_value_t<J>;

    explicit job_awaiter(J& operation) noexcept
        : completion<value_type>(&on_complete), job_(operation) {}

    bool await_ready() const noexcept { return false; }
    bool await_suspend(std::coroutine_handle<> waiting) noexcept {
        waiting_ = waiting;
        job_.start(*this);
        return state_.exchange(suspended, std::memory_order_acq_rel) != completed;
    }
    value_type await_resume() noexcept { return std::move(*value_); }

private:
    static constexpr std::uint8_t running = 0, suspended = 1, completed = 2;

    static void on_complete(completion<value_type>& base, value_type&& value) noexcept {
        auto& self = static_cast<job_awaiter&>(base);
        self.value_.emplace(std::move(value));
        if (self.state_.exchange(completed, std::memory_order_acq_rel) == suspended)
            self.waiting_.resume();
    }

    J& job_;
    std::coroutine_handle<> waiting_;
    std::optional<value_type> value_;
    std::atomic<std::uint8_t> state_{running};
};

}  // namespace detail

/// `co_await job` from a task: starts the job and resumes the task with its value, on the thread
/// that completed the job. A temporary job lives in the awaiting frame until the await ends.
template <job J>
detail::job_awaiter<std::remove_reference_t<J>> operator co_await(J&& operation) noexcept {
    return detail::job_awaiter<std::remove_reference_t<J>>(operation);
}

/// Blocks the calling thread until `operation` completes (from any thread) and returns its value.
/// Must not be called on the thread that would complete the job (an event loop's own thread).
template <job J>
job_value_t<J> sync_wait(J&& operation) {
    using value_type = job_value_t<J>;
    struct waiter final : completion<value_type> {
        waiter() noexcept : completion<value_type>(&on_complete) {}
        static void on_complete(completion<value_type>& base, value_type&& value) noexcept {
            auto& self = static_cast<waiter&>(base);
            self.value.emplace(std::move(value));
            self.event.set();  // the last access: the waiting thread may return right after
        }
        std::optional<value_type> value;
        port::thread_event event;
    } done;
    operation.start(done);
    done.event.wait();
    return std::move(*done.value);
}

/// A callback attached to a job; see `bind`. Keep it (and the job) alive until the callback ran.
template <class J, class Callback>
class [[nodiscard]] callback_binding final : public completion<job_value_t<J>> {
public:
    using value_type = job_value_t<J>;

    callback_binding(J& operation, Callback callback) noexcept
        : completion<value_type>(&on_complete), callback_(std::move(callback)) {
        operation.start(*this);
    }
    callback_binding(const callback_binding&) = delete;
    callback_binding& operator=(const callback_binding&) = delete;

private:
    static void on_complete(completion<value_type>& base, value_type&& value) noexcept {
        static_cast<callback_binding&>(base).callback_(std::move(value));
    }
    Callback callback_;
};

/// Starts `operation` with `callback(value)` as its completion, called on the thread that
/// completes the job. The returned binding is the completion itself: keep it alive (it cannot
/// move) until the callback has run.
template <job J, class Callback>
    requires std::invocable<Callback&, job_value_t<J>&&>
callback_binding<J, Callback> bind(J& operation, Callback callback) noexcept {
    return callback_binding<J, Callback>(operation, std::move(callback));
}

/// A task seen as a job: `start` runs the task until its first suspension, and the completion is
/// called when it finishes. Used by `when_all`; `as_job(task)` makes one.
template <class T>
class task_job final : public job_base<std::conditional_t<std::is_void_v<T>, void_value, T>> {
public:
    using value_type = std::conditional_t<std::is_void_v<T>, void_value, T>;

    explicit task_job(task<T> work) noexcept : work_(std::move(work)) {
        AMB_REQUIRE(work_.valid(), "a job from an empty task (frame allocation failed)");
    }
    task_job(task_job&& other) noexcept : work_(std::move(other.work_)), done_(other.done_) {
        AMB_REQUIRE(done_ == nullptr, "moving a started job");
    }

    void start(completion<value_type>& done) noexcept {
        done_ = &done;
        work_.start_with_notification(&finished, this);
    }

private:
    static void finished(void* context) noexcept {
        auto& self = *static_cast<task_job*>(context);
        if constexpr (std::is_void_v<T>) {
            self.work_.take_result();
            self.done_->complete(void_value{});
        } else {
            self.done_->complete(self.work_.take_result());
        }
    }

    task<T> work_;
    completion<value_type>* done_ = nullptr;
};

template <class T>
task_job<T> as_job(task<T> work) noexcept {
    return task_job<T>(std::move(work));
}

namespace detail {

template <class A>
auto to_job(A&& argument) noexcept {
    if constexpr (job<A>)
        return std::remove_cvref_t<A>(std::forward<A>(argument));
    else
        return as_job(std::forward<A>(argument));
}

}  // namespace detail

/// Runs jobs concurrently and completes with the tuple of their values once all have completed
/// (on the thread that completed the last one). Built by `when_all`.
template <job... Jobs>
class when_all_job final : public job_base<std::tuple<job_value_t<Jobs>...>> {
    static_assert(sizeof...(Jobs) > 0, "when_all of nothing would never complete");

public:
    using value_type = std::tuple<job_value_t<Jobs>...>;

    explicit when_all_job(Jobs... jobs) noexcept : jobs_(std::move(jobs)...) {}
    when_all_job(when_all_job&& other) noexcept : jobs_(std::move(other.jobs_)) {
        AMB_REQUIRE(other.done_ == nullptr, "moving a started job");
    }

    void start(completion<value_type>& done) noexcept {
        done_ = &done;
        remaining_.store(sizeof...(Jobs), std::memory_order_relaxed);
        start_all(std::index_sequence_for<Jobs...>{});
    }

private:
    template <std::size_t I>
    class child final
        : public completion<job_value_t<std::tuple_element_t<I, std::tuple<Jobs...>>>> {
    public:
        using value_type = job_value_t<std::tuple_element_t<I, std::tuple<Jobs...>>>;
        child() noexcept : completion<value_type>(&on_complete) {}
        when_all_job* parent = nullptr;

    private:
        static void on_complete(completion<value_type>& base, value_type&& value) noexcept {
            auto& self = static_cast<child&>(base);
            std::get<I>(self.parent->values_).emplace(std::move(value));
            self.parent->one_done();
        }
    };

    template <std::size_t... I>
    void start_all(std::index_sequence<I...>) noexcept {
        ((std::get<I>(children_).parent = this), ...);
        (std::get<I>(jobs_).start(std::get<I>(children_)), ...);
    }
    void one_done() noexcept {
        if (remaining_.fetch_sub(1, std::memory_order_acq_rel) != 1)
            return;
        done_->complete(std::apply(
            [](auto&... values) { return value_type(std::move(*values)...); }, values_));
    }

    template <std::size_t... I>
    static auto child_types(std::index_sequence<I...>) -> std::tuple<child<I>...>;

    std::tuple<Jobs...> jobs_;
    std::tuple<std::optional<job_value_t<Jobs>>...> values_;
    decltype(child_types(std::index_sequence_for<Jobs...>{})) children_;
    completion<value_type>* done_ = nullptr;
    std::atomic<std::size_t> remaining_{0};
};

/// A job that starts every argument (jobs, or tasks, which are run as `task_job`s) and completes
/// with the tuple of their values. The arguments are moved in, so they must not have started.
template <class... Arguments>
auto when_all(Arguments&&... arguments) noexcept {
    return when_all_job<decltype(detail::to_job(std::forward<Arguments>(arguments)))...>(
        detail::to_job(std::forward<Arguments>(arguments))...);
}

/// Runs `loop` on the calling thread until `operation` (a job, or a task) completes, and returns
/// its value. For work the loop completes (timers, I/O it drives, completions other threads or
/// interrupts hand to it with `post_from_any_thread`): the completion itself must run on this
/// thread. While nothing is ready the loop sleeps in its driver, so a job that nobody will ever
/// complete blocks forever.
template <class Operation>
auto sync_wait(event_loop& loop, Operation&& operation) {
    auto work = detail::to_job(std::forward<Operation>(operation));
    using value_type = job_value_t<decltype(work)>;
    struct waiter final : completion<value_type> {
        waiter() noexcept : completion<value_type>(&on_complete) {}
        static void on_complete(completion<value_type>& base, value_type&& value) noexcept {
            static_cast<waiter&>(base).value.emplace(std::move(value));
        }
        std::optional<value_type> value;
    } done;
    work.start(done);
    while (!done.value.has_value())
        loop.run_once();
    return std::move(*done.value);
}

}  // namespace amb

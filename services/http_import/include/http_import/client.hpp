// amb::http_import::http_client: asynchronous HTTP POST requests on an event loop (libcurl's
// multi interface, Debian libcurl4-openssl-dev), for imports of external HTTP services.
//
// One client serves any number of imports and requests at once; libcurl keeps connections
// alive and reuses them between requests to the same host. The client never blocks and has no
// thread of its own: libcurl's sockets are watched by the loop's `socket_watcher` and its
// timeouts are loop timers. A request is a `transfer`, embedded in whatever waits for it (the
// awaiter of a call, backend.hpp):
//
//     struct my_request : http_import::transfer {
//         my_request() : transfer(&finished) {}
//         static void finished(transfer& done) noexcept { ... done.outcome() ... }
//     } request;
//     if (auto started = client->start(request, "http://host/service/procedure", body, settings);
//         !started) { /* started.error() says why; `finished` is not called */ }
//     // later, on the loop thread: finished(request) with the status and body, or a failure
//
// Threading: everything on the loop thread. Lifetime: the loop and the watcher outlive the
// client. A transfer may be destroyed at any time: in flight, its request is abandoned (the
// connection closed); finished but not yet reported, the report is cancelled. A client
// destroyed with transfers in flight abandons them: their completion functions never run.
// Errors are values (`call_failure`); nothing throws.
#pragma once

#include <http_import/socket_watcher.hpp>

#include <base/result.hpp>
#include <lidl/call_error.hpp>
#include <runtime/event_loop.hpp>

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace amb::http_import {

/// Why a call of an imported procedure failed.
enum class call_error : std::uint8_t {
    call_too_large = 1, ///< the call message does not fit `max_call_bytes`
    bad_call,           ///< the arguments do not form a valid call message (e.g. an enum value
                        ///< outside the enum)
    no_memory,          ///< no memory for the request's buffers or libcurl handle
    connection_failed,  ///< the server could not be reached (name not resolved, refused, ...)
    timeout,            ///< no complete answer within the timeout
    transfer_failed,    ///< the connection broke or the HTTP answer was malformed
    reply_too_large,    ///< the answer's body, or the result built from it, is too large
    http_status,        ///< the server answered with a status other than 2xx
    malformed_reply,    ///< the body is not JSON, or not an object with "result"
    bad_result,         ///< "result" does not have the procedure's result type
};

/// A sentence for `e`.
const char* describe(call_error e);

struct call_failure {
    call_error what;
    /// The HTTP status when an answer was received, else 0.
    long status = 0;
    /// For http_status: the server's error code (`{"error": {"code": ...}}`), if it sent one.
    std::string code;
    /// Details: libcurl's message, the server's error message, or where the result does not
    /// fit its type (`path: sentence`).
    std::string message;
    /// For http_status, the code of the call error an Ambience export answered with: a
    /// callee_error's own code (`{"error": {"callee_code": N}}`) or a refusal's class
    /// (`{"error": {"reason": "revoked"}}`, lidl::refusal).
    std::optional<std::uint32_t> call_code = std::nullopt;
};

/// `failure` as the one error type of calls (lidl/call_error.hpp). An error answer whose code
/// names a fault (an Ambience HTTP export's) is that fault; other statuses map by class (504
/// deadline_passed, 502 and 503 unreachable, 401 and 403 refused, 404 unknown_procedure, other
/// 4xx malformed_call, 5xx callee_error), with the HTTP status in `code`. Before an answer:
/// call_too_large, malformed_call (bad_call), no_memory, unreachable (connection_failed,
/// transfer_failed), deadline_passed (timeout); after it: reply_too_large, malformed_reply
/// (malformed_reply, bad_result).
lidl::call_error to_call_error(const call_failure& failure);

/// How one import talks to its service.
struct request_options {
    /// The whole request, connection included; a request still unanswered then fails with
    /// call_error::timeout.
    std::chrono::milliseconds timeout{10000};
    /// Connecting (TCP and TLS) within `timeout`.
    std::chrono::milliseconds connect_timeout{5000};
    /// The `Authorization` header's value (e.g. `Bearer cap1_...`); empty: no header.
    std::string authorization;
    /// Largest body of an answer (a longer one fails with reply_too_large).
    std::size_t max_reply_bytes = std::size_t{256} << 10;
    /// Largest call message built from a call's arguments, and largest reply message built
    /// from an answer's result.
    std::size_t max_message_bytes = std::size_t{256} << 10;
};

class http_client;

/// One HTTP request: its buffers and libcurl handle, and its outcome once finished. Embedded in
/// the object that waits for it; it must not move while started.
class transfer {
public:
    using completion = void (*)(transfer& finished) noexcept;

    explicit transfer(completion done) noexcept;
    transfer(const transfer&) = delete;
    transfer& operator=(const transfer&) = delete;
    /// Abandons the request if it is in flight; cancels the report if it is pending.
    ~transfer();

    /// After completion: the HTTP status (0 if none was received).
    long status() const noexcept { return status_; }
    /// After completion: the body of the answer (at most max_reply_bytes).
    const std::string& body() const noexcept { return response_; }
    /// After completion: empty if an answer was received (whatever its status), else why not.
    const result<void, call_failure>& outcome() const noexcept { return outcome_; }

private:
    friend class http_client;
    enum class stage : std::uint8_t { idle, running, reporting, done };

    static void report(loop_work& work) noexcept;

    completion done_;
    stage stage_ = stage::idle;
    http_client* client_ = nullptr;
    void* easy_ = nullptr;    // CURL*
    void* headers_ = nullptr; // curl_slist*
    std::string url_;
    std::string body_;
    std::string response_;
    std::size_t max_reply_bytes_ = 0;
    bool too_large_ = false;
    long status_ = 0;
    result<void, call_failure> outcome_{};
    std::array<char, 256> error_text_{}; // libcurl's CURLOPT_ERRORBUFFER (CURL_ERROR_SIZE)
    transfer* next_ = nullptr;           // the client's list of transfers in flight
    transfer* previous_ = nullptr;
    struct report_work : loop_work {
        explicit report_work(transfer& owner) noexcept : loop_work(&transfer::report), of(owner) {}
        transfer& of;
    } report_{*this};
    event_loop* loop_ = nullptr;
};

struct client_options {
    /// Connections open at once per host (libcurl's CURLMOPT_MAX_HOST_CONNECTIONS; more
    /// requests to the host wait for one to be free). 0: no limit. Note that calls a service
    /// holds until another call arrives need as many connections as calls in flight.
    long max_host_connections = 0;
};

class http_client {
public:
    /// A client on `loop` whose sockets `watcher` watches. Error: a sentence (libcurl could not
    /// be initialised).
    static result<std::unique_ptr<http_client>, std::string> create(event_loop& loop,
                                                                    socket_watcher& watcher,
                                                                    client_options settings = {});
    http_client(const http_client&) = delete;
    http_client& operator=(const http_client&) = delete;
    ~http_client();

    /// Starts `POST url` with `body` (`Content-Type: application/json`). `request` must be idle
    /// or done (a transfer can be reused) and stay put until it completes: its completion
    /// function runs later on the loop thread, never inside this call, with status and body or
    /// with the failure. On error nothing was started and the completion function never runs.
    result<void, call_failure> start(transfer& request, std::string_view url, std::string body,
                                     const request_options& settings);

    /// Requests in flight.
    std::size_t in_flight() const noexcept { return in_flight_; }

private:
    struct socket_entry;
    struct curl_callbacks; // libcurl's callbacks, with libcurl's types (client.cpp)
    friend class transfer;

    http_client(event_loop& loop, socket_watcher& watcher) noexcept;
    static void on_timer_work(loop_work& work) noexcept;
    static std::size_t take_body(transfer& request, const char* data, std::size_t size) noexcept;
    void act(int fd, int mask) noexcept;
    void collect() noexcept;
    void finish(transfer& request, int code) noexcept;
    void unlink(transfer& request) noexcept;
    void release(transfer& request) noexcept;
    void forget(socket_entry& entry) noexcept;

    event_loop& loop_;
    socket_watcher& watcher_;
    void* multi_ = nullptr; // CURLM*
    transfer* first_ = nullptr;
    std::vector<socket_entry*> sockets_; // every socket libcurl has asked to watch
    std::size_t in_flight_ = 0;
    struct timer_work : loop_work {
        explicit timer_work(http_client& owner) noexcept
            : loop_work(&http_client::on_timer_work), of(owner) {}
        http_client& of;
    } timer_{*this};
};

} // namespace amb::http_import

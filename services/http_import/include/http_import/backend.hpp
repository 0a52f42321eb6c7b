// Imports of external HTTP services as lidl interfaces: `http_import<S, S_client>` implements
// interface S by making every procedure an HTTP call to the imported service.
//
// A call of procedure P becomes `POST <url>/<P>` with the JSON object of its parameters, in the
// mapping of lidl's generated `<stem>.lidl.json.hpp` (the one the HTTP exporter reads,
// docs/http-export.md: an Ambience export can be imported by another deployment), and expects
// `200 {"result": R}` back. R becomes the procedure's reply message through the same mapping,
// and the reply message becomes the result with the generated codec: results with references
// are views into the caller's `response` builder, as with every other backend.
//
//     #include "sensor.lidl.json.hpp"       // the JSON mapping (also includes sensor.lidl.hpp)
//     #include <http_import/backend.hpp>
//
//     auto driver = http_import::io_driver::create();
//     event_loop loop(**driver);
//     auto client = http_import::http_client::create(loop, **driver);
//     http_import::request_options settings;
//     settings.authorization = "Bearer cap1_...";
//     http_import::http_import<temperature_sensor, temperature_sensor_client> outdoor(
//         **client, "https://weather.example/v1/outdoor", settings);
//     lidl::call_result<reading> now = co_await outdoor.read();   // POST .../outdoor/read {}
//     if (!now) ... now.error().what                    // the call failed: why
//
// (The generated client template is named because lidl offers no way to reach `S_client` from
// `S`; `http_import<S, Client>` is `Client<http_backend<S>>`.)
//
// Failures: a call that fails (the service is unreachable, times out, answers 4xx/5xx or
// `{"error": ...}`, or its answer is not JSON or not of the result type) completes with the
// `lidl::call_error` that `to_call_error` makes of the failure (an Ambience export's error
// comes back as the fault it answered with). `dependency.within(t).proc()` gives one call its own
// timeout instead of the options'. Any number of calls may be in flight at once.
//
// Threading: the client's loop thread. Lifetime: the client outlives the backend's calls; the
// URL and options are copied. A task awaiting a call may be destroyed while the call is in
// flight: the request is abandoned.
#pragma once

#include <http_import/client.hpp>

#include <lidl/json.hpp>
#include <lidl/service.hpp>

#include <base/check.hpp>

#include <chrono>
#include <coroutine>
#include <cstdint>
#include <memory>
#include <new>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace amb::http_import {

namespace detail {

/// An uninitialised, 8-byte aligned buffer of `size` bytes for a builder; empty when there is
/// no memory.
struct message_buffer {
    explicit message_buffer(std::size_t size)
        : words(new (std::nothrow) std::uint64_t[(size + 7) / 8]), bytes(size) {}
    std::span<std::uint8_t> span() {
        return words ? std::span<std::uint8_t>(reinterpret_cast<std::uint8_t*>(words.get()), bytes)
                     : std::span<std::uint8_t>();
    }
    std::unique_ptr<std::uint64_t[]> words;
    std::size_t bytes;
};

/// The body of a call: the call message of `Id` built from `params`, as JSON text.
template <class S, std::uint32_t Id>
result<std::string, call_failure> call_body(const void* params, std::size_t max_bytes) {
    using procedure = typename S::template lidl_procedure<Id>;
    message_buffer buffer(max_bytes);
    if (buffer.span().empty())
        return failure{call_failure{call_error::no_memory, 0, {}, "no memory for the call"}};
    lidl::builder out(buffer.span());
    if (!S::lidl_codec::encode_call(Id, params, out) || out.failed())
        return failure{call_failure{call_error::call_too_large, 0, {},
                                    "the call message exceeds " + std::to_string(max_bytes) +
                                        " bytes"}};
    auto finished = out.finish();
    if (!finished)
        return failure{call_failure{call_error::call_too_large, 0, {}, {}}};
    auto checked = lidl::verify<typename procedure::call_message>(finished.value());
    if (!checked)
        return failure{call_failure{call_error::bad_call, 0, {},
                                    lidl::describe(checked.error().kind)}};
    // Text that is not UTF-8 is replaced (U+FFFD), never thrown about.
    return lidl::json::to_json(*checked.value())
        .dump(-1, ' ', false, lidl::json::value::error_handler_t::replace);
}

/// The answer of a call of `Id` (`status`, `body`) into the result slot, or why it cannot be.
template <class S, std::uint32_t Id>
result<void, call_failure> read_answer(long status, const std::string& body, const void* params,
                                       void* result_slot, std::size_t max_bytes) {
    using procedure = typename S::template lidl_procedure<Id>;
    lidl::json::value answer = lidl::json::value::parse(body, nullptr, false);
    bool is_object = !answer.is_discarded() && answer.is_object();
    if (status < 200 || status > 299) {
        call_failure failed{call_error::http_status, status, {}, "HTTP " + std::to_string(status)};
        auto error = is_object ? answer.find("error") : answer.end();
        if (is_object && error != answer.end() && error->is_object()) {
            auto code = error->find("code");
            auto message = error->find("message");
            if (code != error->end() && code->is_string())
                failed.code = code->template get<std::string>();
            if (message != error->end() && message->is_string())
                failed.message += ": " + message->template get<std::string>();
            auto callee_code = error->find("callee_code");
            if (callee_code != error->end() && callee_code->is_number_unsigned() &&
                callee_code->template get<std::uint64_t>() <= 0xffffffffU)
                failed.call_code = callee_code->template get<std::uint32_t>();
            auto reason = error->find("reason");
            if (reason != error->end() && reason->is_string())
                if (auto named = lidl::refusal_named(reason->template get<std::string>()))
                    failed.call_code = static_cast<std::uint32_t>(*named);
        }
        return failure{std::move(failed)};
    }
    if (answer.is_discarded())
        return failure{call_failure{call_error::malformed_reply, status, {},
                                    "the answer is not JSON"}};
    auto found = is_object ? answer.find("result") : answer.end();
    if (found == answer.end())
        return failure{call_failure{call_error::malformed_reply, status, {},
                                    "the answer is not an object with \"result\""}};
    message_buffer buffer(max_bytes);
    if (buffer.span().empty())
        return failure{call_failure{call_error::no_memory, status, {}, "no memory for the reply"}};
    lidl::builder out(buffer.span());
    auto* root = out.template create_root<typename procedure::reply_message>();
    lidl::json::json_error error;
    if (root == nullptr || !lidl::json::from_json(*found, out, *root, error, std::string("result"))) {
        if (root == nullptr || out.failed())
            return failure{call_failure{call_error::reply_too_large, status, {},
                                        "the reply message exceeds " + std::to_string(max_bytes) +
                                            " bytes"}};
        return failure{call_failure{call_error::bad_result, status, {},
                                    error.path + ": " + error.message}};
    }
    auto finished = out.finish();
    if (!finished)
        return failure{call_failure{call_error::reply_too_large, status, {}, {}}};
    auto decoded = S::lidl_codec::decode_reply(Id, finished.value(), params, result_slot);
    if (!decoded) {
        bool truncated = decoded.error().kind == lidl::error::truncated;
        return failure{call_failure{truncated ? call_error::reply_too_large
                                              : call_error::bad_result,
                                    status, {},
                                    truncated ? "the result does not fit the response buffer"
                                              : lidl::describe(decoded.error().kind)}};
    }
    return {};
}

} // namespace detail

/// The lidl backend of HTTP imports: `S_client<http_backend<S>>` (alias `http_import<S,
/// S_client>`). Needs the JSON mapping of S's schema (`<stem>.lidl.json.hpp`) included first.
template <class S>
class http_backend {
public:
    /// Calls `<url>/<procedure>` through `client` (which must outlive every call).
    http_backend(http_client& client, std::string url, request_options settings = {})
        : client_(&client), url_(std::move(url)), settings_(std::move(settings)) {
        while (!url_.empty() && url_.back() == '/')
            url_.pop_back();
    }

    const std::string& url() const { return url_; }
    const request_options& settings() const { return settings_; }

    template <std::uint32_t Id>
    class awaiter final : private transfer {
    public:
        awaiter(http_backend& backend, const void* params, void* result,
                lidl::call_options options)
            : transfer(&finished), backend_(backend), params_(params), result_(result),
              options_(options) {}
        awaiter(const awaiter&) = delete;
        awaiter& operator=(const awaiter&) = delete;

        bool await_ready() const noexcept { return false; }
        bool await_suspend(std::coroutine_handle<> waiting) {
            waiting_ = waiting;
            auto body = detail::call_body<S, Id>(params_, backend_.settings_.max_message_bytes);
            if (!body) {
                fail(body.error());
                return false;
            }
            std::string url = backend_.url_;
            url += '/';
            url += S::lidl_procedure_name(Id);
            std::optional<request_options> own;
            if (options_.timeout > loop_clock::duration::zero()) {
                own = backend_.settings_;
                own->timeout = std::chrono::ceil<std::chrono::milliseconds>(options_.timeout);
            }
            auto started = backend_.client_->start(*this, url, std::move(body.value()),
                                                   own ? *own : backend_.settings_);
            if (!started) {
                fail(started.error());
                return false;
            }
            return true;
        }
        void await_resume() const noexcept {}

    private:
        static void finished(transfer& done) noexcept {
            auto& self = static_cast<awaiter&>(done);
            if (!self.outcome()) {
                self.fail(self.outcome().error());
            } else {
                auto read = detail::read_answer<S, Id>(self.status(), self.body(), self.params_,
                                                       self.result_,
                                                       self.backend_.settings_.max_message_bytes);
                if (!read)
                    self.fail(read.error());
            }
            self.waiting_.resume(); // the awaiter is gone after this
        }

        void fail(const call_failure& why) {
            using result_type = typename S::template lidl_procedure<Id>::result;
            static_cast<lidl::slot<result_type>*>(result_)->fail(to_call_error(why));
        }

        http_backend& backend_;
        const void* params_;
        void* result_;
        lidl::call_options options_;
        std::coroutine_handle<> waiting_{};
    };

    template <std::uint32_t Id>
    awaiter<Id> execute(const void* params, void* result, lidl::call_options options = {}) {
        static_assert(Id < S::lidl_procedure_count);
        return awaiter<Id>(*this, params, result, options);
    }

private:
    http_client* client_;
    std::string url_;
    request_options settings_;
};

/// Interface `S` over HTTP: `Client` is S's generated client template (`S_client`).
template <class S, template <class> class Client>
using http_import = Client<http_backend<S>>;

} // namespace amb::http_import

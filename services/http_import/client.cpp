#include <http_import/client.hpp>

#include <curl/curl.h>

#include <algorithm>
#include <new>
#include <utility>

namespace amb::http_import {

const char* describe(call_error e) {
    switch (e) {
    case call_error::call_too_large:
        return "the call message does not fit its buffer";
    case call_error::bad_call:
        return "the arguments do not form a valid call message";
    case call_error::no_memory:
        return "no memory for the request";
    case call_error::connection_failed:
        return "the service cannot be reached";
    case call_error::timeout:
        return "the service did not answer in time";
    case call_error::transfer_failed:
        return "the HTTP exchange failed";
    case call_error::reply_too_large:
        return "the answer is too large";
    case call_error::http_status:
        return "the service answered with an error status";
    case call_error::malformed_reply:
        return "the answer is not a JSON object with a result";
    case call_error::bad_result:
        return "the result does not have the procedure's result type";
    }
    return "unknown call error";
}

lidl::call_error to_call_error(const call_failure& failure) {
    using lidl::call_fault;
    const auto status = static_cast<std::uint32_t>(failure.status);
    switch (failure.what) {
    case call_error::call_too_large:
        return {call_fault::call_too_large};
    case call_error::bad_call:
        return {call_fault::malformed_call};
    case call_error::no_memory:
        return {call_fault::no_memory};
    case call_error::connection_failed:
    case call_error::transfer_failed:
        return {call_fault::unreachable, status};
    case call_error::timeout:
        return {call_fault::deadline_passed, status};
    case call_error::reply_too_large:
        return {call_fault::reply_too_large, status};
    case call_error::malformed_reply:
    case call_error::bad_result:
        return {call_fault::malformed_reply, status};
    case call_error::http_status:
        break;
    }
    if (auto named = lidl::fault_named(failure.code))
        return {*named, (*named == call_fault::callee_error || *named == call_fault::refused) &&
                                failure.call_code
                            ? *failure.call_code
                            : status};
    switch (failure.status) {
    case 504:
        return {call_fault::deadline_passed, status};
    case 502:
    case 503:
        return {call_fault::unreachable, status};
    case 401:
    case 403:
        return {call_fault::refused, status};
    case 404:
        return {call_fault::unknown_procedure, status};
    default:
        break;
    }
    if (failure.status >= 400 && failure.status < 500)
        return {call_fault::malformed_call, status};
    return {call_fault::callee_error, status};
}

// --- transfers -------------------------------------------------------------------------------

transfer::transfer(completion done) noexcept : done_(done) {}

transfer::~transfer() {
    if (stage_ == stage::running && client_ != nullptr) {
        client_->unlink(*this);
        client_->release(*this);
    } else if (stage_ == stage::reporting && loop_ != nullptr) {
        loop_->cancel(report_);
    }
}

void transfer::report(loop_work& work) noexcept {
    transfer& self = static_cast<report_work&>(work).of;
    self.stage_ = stage::done;
    self.done_(self);
}

// --- sockets ---------------------------------------------------------------------------------

// One socket libcurl asked to have watched: its pending events and the loop work that hands
// them to libcurl (not from inside the watcher, see socket_watcher.hpp).
struct http_client::socket_entry final : socket_handler, loop_work {
    socket_entry(http_client& owner, int descriptor) noexcept
        : loop_work(&run), client(owner), fd(descriptor) {}

    void ready(std::uint32_t happened) noexcept override {
        events |= happened;
        if (!pending())
            client.loop_.post(*this);
    }

    static void run(loop_work& work) noexcept {
        auto& self = static_cast<socket_entry&>(work);
        int mask = ((self.events & socket_readable) != 0 ? CURL_CSELECT_IN : 0) |
                   ((self.events & socket_writable) != 0 ? CURL_CSELECT_OUT : 0) |
                   ((self.events & socket_error) != 0 ? CURL_CSELECT_ERR : 0);
        self.events = 0;
        // libcurl may remove (and this deletes) the entry while acting: nothing touches it after.
        self.client.act(self.fd, mask);
    }

    http_client& client;
    int fd;
    std::uint32_t events = 0;
};

struct http_client::curl_callbacks {
    static int on_socket(CURL*, curl_socket_t fd, int what, void* client_pointer,
                         void* entry_pointer) {
        auto& client = *static_cast<http_client*>(client_pointer);
        auto* entry = static_cast<socket_entry*>(entry_pointer);
        if (what == CURL_POLL_REMOVE) {
            if (entry != nullptr) {
                client.forget(*entry);
                curl_multi_assign(static_cast<CURLM*>(client.multi_), fd, nullptr);
            }
            return 0;
        }
        if (entry == nullptr) {
            entry = new (std::nothrow) socket_entry(client, fd);
            if (entry == nullptr)
                return -1;
            client.sockets_.push_back(entry);
            curl_multi_assign(static_cast<CURLM*>(client.multi_), fd, entry);
        }
        std::uint32_t interest = 0;
        if (what == CURL_POLL_IN || what == CURL_POLL_INOUT)
            interest |= socket_readable;
        if (what == CURL_POLL_OUT || what == CURL_POLL_INOUT)
            interest |= socket_writable;
        if (!client.watcher_.watch(fd, interest, *entry))
            return -1; // libcurl fails the transfers on this socket
        return 0;
    }

    static int on_timer(CURLM*, long timeout_ms, void* client_pointer) {
        auto& client = *static_cast<http_client*>(client_pointer);
        client.loop_.cancel(client.timer_);
        if (timeout_ms >= 0)
            client.loop_.run_at(client.timer_,
                                client.loop_.now() + std::chrono::milliseconds(timeout_ms));
        return 0;
    }

    static std::size_t on_body(char* data, std::size_t size, std::size_t count, void* request) {
        return take_body(*static_cast<transfer*>(request), data, size * count);
    }
};

// --- the client ------------------------------------------------------------------------------

http_client::http_client(event_loop& loop, socket_watcher& watcher) noexcept
    : loop_(loop), watcher_(watcher) {}

result<std::unique_ptr<http_client>, std::string> http_client::create(event_loop& loop,
                                                                      socket_watcher& watcher,
                                                                      client_options settings) {
    // Once per process; thread-safe as a static's initialisation.
    static const CURLcode initialised = curl_global_init(CURL_GLOBAL_DEFAULT);
    if (initialised != CURLE_OK)
        return failure{std::string("libcurl cannot be initialised: ") +
                       curl_easy_strerror(initialised)};
    std::unique_ptr<http_client> client(new (std::nothrow) http_client(loop, watcher));
    if (client == nullptr)
        return failure{std::string("no memory for the HTTP client")};
    CURLM* multi = curl_multi_init();
    if (multi == nullptr)
        return failure{std::string("libcurl cannot create a multi handle")};
    client->multi_ = multi;
    curl_multi_setopt(multi, CURLMOPT_SOCKETFUNCTION, &curl_callbacks::on_socket);
    curl_multi_setopt(multi, CURLMOPT_SOCKETDATA, client.get());
    curl_multi_setopt(multi, CURLMOPT_TIMERFUNCTION, &curl_callbacks::on_timer);
    curl_multi_setopt(multi, CURLMOPT_TIMERDATA, client.get());
    curl_multi_setopt(multi, CURLMOPT_MAX_HOST_CONNECTIONS, settings.max_host_connections);
    return client;
}

http_client::~http_client() {
    // Abandon what is in flight (their completions never run), then let libcurl close its
    // sockets (which reports their removal through on_socket).
    while (first_ != nullptr) {
        transfer& request = *first_;
        unlink(request);
        release(request);
        request.stage_ = transfer::stage::done;
        request.outcome_ = failure{call_failure{call_error::transfer_failed, 0, {},
                                                "the HTTP client was destroyed"}};
    }
    loop_.cancel(timer_);
    if (multi_ != nullptr)
        curl_multi_cleanup(static_cast<CURLM*>(multi_));
    // Sockets libcurl did not report removed while cleaning up.
    while (!sockets_.empty())
        forget(*sockets_.back());
}

void http_client::forget(socket_entry& entry) noexcept {
    watcher_.unwatch(entry.fd);
    loop_.cancel(entry);
    std::erase(sockets_, &entry);
    delete &entry;
}

result<void, call_failure> http_client::start(transfer& request, std::string_view url,
                                              std::string body, const request_options& settings) {
    AMB_REQUIRE(request.stage_ == transfer::stage::idle || request.stage_ == transfer::stage::done,
                "starting a transfer that is in flight");
    CURL* easy = curl_easy_init();
    if (easy == nullptr)
        return failure{call_failure{call_error::no_memory, 0, {}, "curl_easy_init failed"}};
    request.url_.assign(url);
    request.body_ = std::move(body);
    request.response_.clear();
    request.too_large_ = false;
    request.status_ = 0;
    request.max_reply_bytes_ = settings.max_reply_bytes;
    request.error_text_.fill('\0');
    request.outcome_ = result<void, call_failure>{};

    curl_slist* headers = nullptr;
    auto add_header = [&headers](const std::string& line) {
        curl_slist* more = curl_slist_append(headers, line.c_str());
        if (more == nullptr)
            return false;
        headers = more;
        return true;
    };
    bool added = add_header("Content-Type: application/json") &&
                 add_header("Accept: application/json") &&
                 add_header("Expect:"); // no 100-continue round trip for larger bodies
    if (added && !settings.authorization.empty())
        added = add_header("Authorization: " + settings.authorization);
    if (!added) {
        curl_slist_free_all(headers);
        curl_easy_cleanup(easy);
        return failure{call_failure{call_error::no_memory, 0, {}, "no memory for the headers"}};
    }
    curl_easy_setopt(easy, CURLOPT_URL, request.url_.c_str());
    curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(easy, CURLOPT_POST, 1L);
    curl_easy_setopt(easy, CURLOPT_POSTFIELDS, request.body_.data());
    curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE_LARGE,
                     static_cast<curl_off_t>(request.body_.size()));
    curl_easy_setopt(easy, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, &curl_callbacks::on_body);
    curl_easy_setopt(easy, CURLOPT_WRITEDATA, &request);
    curl_easy_setopt(easy, CURLOPT_PRIVATE, &request);
    curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, request.error_text_.data());
    curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, static_cast<long>(settings.timeout.count()));
    curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS,
                     static_cast<long>(settings.connect_timeout.count()));
    curl_easy_setopt(easy, CURLOPT_FOLLOWLOCATION, 0L);

    request.easy_ = easy;
    request.headers_ = headers;
    request.client_ = this;
    request.loop_ = &loop_;
    request.stage_ = transfer::stage::running;
    // Linked before curl_multi_add_handle: its timer callback may run libcurl right away.
    request.previous_ = nullptr;
    request.next_ = first_;
    if (first_ != nullptr)
        first_->previous_ = &request;
    first_ = &request;
    ++in_flight_;
    CURLMcode added_handle = curl_multi_add_handle(static_cast<CURLM*>(multi_), easy);
    if (added_handle != CURLM_OK) {
        unlink(request);
        release(request);
        request.stage_ = transfer::stage::idle;
        return failure{call_failure{call_error::no_memory, 0, {},
                                    curl_multi_strerror(added_handle)}};
    }
    return {};
}

std::size_t http_client::take_body(transfer& request, const char* data, std::size_t size) noexcept {
    if (request.response_.size() + size > request.max_reply_bytes_) {
        request.too_large_ = true;
        return 0; // libcurl stops the transfer with CURLE_WRITE_ERROR
    }
    request.response_.append(data, size);
    return size;
}

void http_client::on_timer_work(loop_work& work) noexcept {
    static_cast<timer_work&>(work).of.act(CURL_SOCKET_TIMEOUT, 0);
}

void http_client::act(int fd, int mask) noexcept {
    int running = 0;
    curl_multi_socket_action(static_cast<CURLM*>(multi_), fd, mask, &running);
    collect();
}

void http_client::collect() noexcept {
    int left = 0;
    while (CURLMsg* message = curl_multi_info_read(static_cast<CURLM*>(multi_), &left)) {
        if (message->msg != CURLMSG_DONE)
            continue;
        void* owner = nullptr;
        curl_easy_getinfo(message->easy_handle, CURLINFO_PRIVATE, &owner);
        CURLcode code = message->data.result;
        if (owner != nullptr)
            finish(*static_cast<transfer*>(owner), code);
    }
}

void http_client::finish(transfer& request, int code) noexcept {
    long status = 0;
    curl_easy_getinfo(static_cast<CURL*>(request.easy_), CURLINFO_RESPONSE_CODE, &status);
    request.status_ = status;
    auto curl_code = static_cast<CURLcode>(code);
    if (curl_code != CURLE_OK) {
        call_failure failed{call_error::transfer_failed, status, {}, {}};
        switch (curl_code) {
        case CURLE_COULDNT_RESOLVE_HOST:
        case CURLE_COULDNT_RESOLVE_PROXY:
        case CURLE_COULDNT_CONNECT:
            failed.what = call_error::connection_failed;
            break;
        case CURLE_OPERATION_TIMEDOUT:
            failed.what = call_error::timeout;
            break;
        case CURLE_WRITE_ERROR:
            if (request.too_large_)
                failed.what = call_error::reply_too_large;
            break;
        default:
            break;
        }
        failed.message = request.error_text_[0] != '\0' ? request.error_text_.data()
                                                        : curl_easy_strerror(curl_code);
        if (failed.what == call_error::reply_too_large)
            failed.message = "the body exceeds " + std::to_string(request.max_reply_bytes_) +
                             " bytes";
        request.outcome_ = failure{std::move(failed)};
    }
    unlink(request);
    release(request);
    request.stage_ = transfer::stage::reporting;
    loop_.post(request.report_);
}

void http_client::unlink(transfer& request) noexcept {
    if (request.previous_ != nullptr)
        request.previous_->next_ = request.next_;
    else
        first_ = request.next_;
    if (request.next_ != nullptr)
        request.next_->previous_ = request.previous_;
    request.next_ = request.previous_ = nullptr;
    --in_flight_;
}

void http_client::release(transfer& request) noexcept {
    if (request.easy_ != nullptr) {
        curl_multi_remove_handle(static_cast<CURLM*>(multi_), static_cast<CURL*>(request.easy_));
        curl_easy_cleanup(static_cast<CURL*>(request.easy_));
    }
    curl_slist_free_all(static_cast<curl_slist*>(request.headers_));
    request.easy_ = nullptr;
    request.headers_ = nullptr;
    request.body_.clear();
    request.body_.shrink_to_fit();
}

} // namespace amb::http_import

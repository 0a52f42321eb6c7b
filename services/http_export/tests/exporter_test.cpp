// The HTTP exporter end to end: a `lab` service exported on 127.0.0.1 by an exporter running on
// its own event-loop thread, and real HTTP requests over TCP from the test thread (a plain socket
// client, and curl as a subprocess), with CAPLets tokens minted by the library.
#include <http_export/exporter.hpp>
#include <http_export/export_names.hpp>

#include "json_call_check.hpp"
#include "lab.lidl.description.hpp"
#include "lab.lidl.json.hpp"

#include <caplets/caplets.hpp>
#include <runtime/timer.hpp>
#include <text.hpp>

#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <chrono>
#include <coroutine>
#include <cstdio>
#include <future>
#include <map>
#include <string>
#include <thread>
#include <vector>

namespace {

using namespace amb;
using json = lidl::json::value;

constexpr std::uint8_t key_fill = 0x42;

// --- the service ---------------------------------------------------------------------------------

class lab_service final : public http_test::lab {
public:
    lab_service(event_loop& loop, std::atomic<int>& calls, std::atomic<int>& waiting)
        : loop_(loop), calls_(calls), waiting_(waiting) {}

    lidl::completion<std::uint64_t> add(std::uint32_t amount) override {
        ++calls_;
        total_ += amount;
        co_return total_;
    }

    lidl::completion<const http_test::summary*> record(std::span<const http_test::reading> readings,
                                                       const lidl::optional<lidl::string>& label,
                                                       lidl::builder& response) override {
        ++calls_;
        auto* out = response.create_root<http_test::summary>();
        if (out == nullptr)
            co_return nullptr;
        out->count = static_cast<std::uint32_t>(readings.size());
        lidl::string* names = response.create_vector(out->sensors, readings.size());
        for (std::size_t i = 0; i < readings.size(); ++i) {
            out->total += readings[i].value;
            response.set(names[i], readings[i].sensor.view());
        }
        if (label.has_value())
            response.set(*response.emplace(out->label), label->view());
        co_return out;
    }

    lidl::completion<std::string_view> echo(std::string_view text, lidl::builder&) override {
        ++calls_;
        co_return text;
    }

    lidl::completion<std::uint32_t> delay(std::uint32_t milliseconds) override {
        ++calls_;
        ++waiting_;
        auto slept = co_await sleep_for(loop_, std::chrono::milliseconds(milliseconds));
        (void)slept;
        --waiting_;
        co_return milliseconds;
    }

    lidl::completion<const http_test::note*> classify(const http_test::note& n,
                                                      lidl::builder& response) override {
        ++calls_;
        auto* out = response.create_root<http_test::note>();
        if (out == nullptr)
            co_return nullptr;
        if (const lidl::string* text = n.text()) {
            *out->set_number(response) = static_cast<std::int64_t>(text->size());
        } else if (const std::int64_t* number = n.number()) {
            response.set(*out->set_text(response), std::to_string(*number));
        }
        co_return out;
    }

    lidl::completion<void> reset() override {
        ++calls_;
        total_ = 0;
        co_return {};
    }

    lidl::completion<std::uint32_t> hold(std::uint32_t ticket) override {
        ++calls_;
        ++waiting_;
        co_await parked{*this, ticket};
        --waiting_;
        co_return ticket;
    }

    lidl::completion<std::uint32_t> release(std::uint32_t ticket) override {
        ++calls_;
        std::vector<std::coroutine_handle<>> woken;
        for (std::size_t i = 0; i < parked_.size();) {
            if (parked_[i]->ticket == ticket) {
                parked_[i]->linked = false;
                woken.push_back(parked_[i]->handle);
                parked_.erase(parked_.begin() + static_cast<std::ptrdiff_t>(i));
            } else {
                ++i;
            }
        }
        // Resumed here, inside this call (so inside libmicrohttpd's request handler).
        for (std::coroutine_handle<> handle : woken)
            handle.resume();
        co_return static_cast<std::uint32_t>(woken.size());
    }

    lidl::completion<std::uint32_t> waiting() override {
        co_return static_cast<std::uint32_t>(waiting_.load());
    }

    lidl::completion<std::string_view> flood(std::uint32_t size, lidl::builder&) override {
        ++calls_;
        text_.assign(size, 'x');
        co_return std::string_view(text_);
    }

private:
    // A call parked in `hold` until `release`; unlinks itself if its frame is destroyed first.
    struct parked {
        lab_service& lab;
        std::uint32_t ticket;
        std::coroutine_handle<> handle{};
        bool linked = false;

        bool await_ready() const noexcept { return false; }
        void await_suspend(std::coroutine_handle<> waiting_call) {
            handle = waiting_call;
            linked = true;
            lab.parked_.push_back(this);
        }
        void await_resume() noexcept {}
        ~parked() {
            if (linked)
                std::erase(lab.parked_, this);
        }
    };

    event_loop& loop_;
    std::atomic<int>& calls_;
    std::atomic<int>& waiting_;
    std::uint64_t total_ = 0;
    std::string text_;
    std::vector<parked*> parked_;
};

// --- the server: an exporter on its own loop thread
// -----------------------------------------------

http_export::options test_options() {
    http_export::options settings;
    settings.max_body_bytes = 16 * 1024;
    settings.max_reply_bytes = 4096;
    settings.idle_timeout_seconds = 2;
    return settings;
}

// A target whose calls all fail with one lidl::call_error (as a remote or channel target's
// would), to check how the exporter answers each fault.
class failing_target final : public http_export::call_target {
public:
    task<lidl::serve_result> call(std::uint32_t, std::span<const std::uint8_t>, lidl::builder&,
                                  lidl::builder&) override {
        return lidl::refuse(lidl::call_error{fault.load(), code.load()});
    }
    std::atomic<lidl::call_fault> fault{lidl::call_fault::deadline_passed};
    std::atomic<std::uint32_t> code{0};
};

class lab_server {
public:
    explicit lab_server(http_export::options settings = test_options()) {
        std::promise<std::uint16_t> started;
        std::future<std::uint16_t> port = started.get_future();
        thread_ = std::thread([this, settings, &started] { serve(settings, started); });
        port_ = port.get();
    }
    ~lab_server() { stop(); }

    std::uint16_t port() const { return port_; }
    int service_calls() const { return calls_.load(); }
    int waiting() const { return waiting_.load(); }

    /// Stops the exporter (with whatever calls are in flight) and joins the loop thread.
    void stop() {
        if (!thread_.joinable())
            return;
        if (loop_ != nullptr)
            loop_->post_from_any_thread(stop_work_);
        thread_.join();
    }

private:
    struct stop_item : loop_work {
        explicit stop_item(lab_server& server)
            : loop_work([](loop_work& work) noexcept {
                  static_cast<stop_item&>(work).owner.stopping_ = true;
              }),
              owner(server) {}
        lab_server& owner;
    };

    void serve(const http_export::options& settings, std::promise<std::uint16_t>& started) {
        auto driver = http_export::io_driver::create();
        if (!driver) {
            started.set_value(0);
            return;
        }
        event_loop loop(**driver);
        lab_service lab(loop, calls_, waiting_);
        caplets::secret_key key;
        key.bytes.fill(key_fill);
        http_export::exporter server(loop, **driver, key, settings);
        if (!server.add_local("lab", lab, lidl_descriptions::lab) ||
            !server.add("failing", http_export::interface_of<http_test::lab>(), failing_,
                        lidl_descriptions::lab) ||
            !server.start()) {
            started.set_value(0);
            return;
        }
        loop_ = &loop;
        started.set_value(server.port());
        while (!stopping_)
            loop.run_once();
        server.stop();
    }

public:
    failing_target failing_; // set its fault before the call

private:
    std::thread thread_;
    std::uint16_t port_ = 0;
    std::atomic<int> calls_{0};
    std::atomic<int> waiting_{0};
    event_loop* loop_ = nullptr;
    bool stopping_ = false; // loop thread only
    stop_item stop_work_{*this};
};

// --- a plain HTTP client
// ----------------------------------------------------------------------------

struct http_reply {
    int status = 0;                             // 0: the connection closed without an answer
    std::map<std::string, std::string> headers; // names in lower case
    std::string body;
    std::string raw;

    json parsed() const { return json::parse(body, nullptr, false); }
    std::string error_code() const {
        json j = parsed();
        if (!j.is_object() || !j.contains("error"))
            return "";
        return j["error"].value("code", "");
    }
    std::string error_field() const {
        json j = parsed();
        if (!j.is_object() || !j.contains("error") || !j["error"].contains("field"))
            return "<none>";
        return j["error"]["field"].get<std::string>();
    }
    std::string error_message() const {
        json j = parsed();
        if (!j.is_object() || !j.contains("error"))
            return "";
        return j["error"].value("message", "");
    }
};

int connect_to(std::uint16_t port) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    EXPECT_GE(fd, 0);
    // A safety net against a hung server, not a timing assertion.
    timeval timeout{30, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(port);
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
    return fd;
}

void send_all(int fd, std::string_view data) {
    while (!data.empty()) {
        ssize_t sent = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
        if (sent <= 0)
            return; // the server may close early (e.g. after rejecting a huge header)
        data.remove_prefix(static_cast<std::size_t>(sent));
    }
}

// Waits until `count` calls are parked in the lab service; false (a test failure) if they are
// not within 30 s. A bound on the wait, not a timing assertion.
bool wait_for_waiting(lab_server& server, int count) {
    const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (server.waiting() < count) {
        if (std::chrono::steady_clock::now() > give_up) {
            ADD_FAILURE() << server.waiting() << " of " << count
                          << " calls parked in the service after 30 s";
            return false;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    return true;
}

std::string read_all(int fd) {
    std::string out;
    char buffer[4096];
    for (;;) {
        ssize_t got = ::recv(fd, buffer, sizeof buffer, 0);
        if (got <= 0)
            return out;
        out.append(buffer, static_cast<std::size_t>(got));
    }
}

// Parses the first response of `raw`.
http_reply parse_reply(const std::string& raw) {
    http_reply reply;
    reply.raw = raw;
    std::size_t end = raw.find("\r\n\r\n");
    if (raw.rfind("HTTP/1.", 0) != 0 || end == std::string::npos)
        return reply;
    reply.status = std::stoi(raw.substr(9, 3));
    std::size_t line = raw.find("\r\n") + 2;
    while (line < end) {
        std::size_t next = raw.find("\r\n", line);
        std::string header = raw.substr(line, next - line);
        std::size_t colon = header.find(':');
        std::string name = header.substr(0, colon);
        for (char& c : name)
            c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        std::string value = header.substr(colon + 1);
        while (!value.empty() && value.front() == ' ')
            value.erase(0, 1);
        reply.headers[name] = value;
        line = next + 2;
    }
    reply.body = raw.substr(end + 4);
    if (auto length = reply.headers.find("content-length"); length != reply.headers.end())
        reply.body = reply.body.substr(0, std::stoul(length->second));
    return reply;
}

http_reply exchange(std::uint16_t port, std::string_view request, bool close_writing = false) {
    int fd = connect_to(port);
    send_all(fd, request);
    if (close_writing)
        ::shutdown(fd, SHUT_WR);
    http_reply reply = parse_reply(read_all(fd));
    ::close(fd);
    return reply;
}

std::string request_text(std::string_view method, std::string_view path, std::string_view body,
                         std::string_view token,
                         std::string_view content_type = "application/json") {
    std::string out = std::string(method) + " " + std::string(path) + " HTTP/1.1\r\n";
    out += "Host: 127.0.0.1\r\nConnection: close\r\n";
    if (!token.empty())
        out += "Authorization: Bearer " + std::string(token) + "\r\n";
    if (!content_type.empty())
        out += "Content-Type: " + std::string(content_type) + "\r\n";
    if (method == "POST" || !body.empty())
        out += "Content-Length: " + std::to_string(body.size()) + "\r\n";
    out += "\r\n";
    out += body;
    return out;
}

http_reply post(const lab_server& server, std::string_view path, std::string_view body,
                std::string_view token, std::string_view content_type = "application/json") {
    return exchange(server.port(), request_text("POST", path, body, token, content_type));
}

http_reply get(const lab_server& server, std::string_view path, std::string_view token) {
    return exchange(server.port(), request_text("GET", path, "", token, ""));
}

// --- tokens -------------------------------------------------------------------------------------

caplets::secret_key key_with(std::uint8_t fill) {
    caplets::secret_key key;
    key.bytes.fill(fill);
    return key;
}

std::string make(const caplets::token_view* parent, const caplets::frame_spec& spec,
                 std::uint8_t fill = key_fill) {
    std::vector<std::uint64_t> frame_storage(256);
    lidl::builder frame_out({reinterpret_cast<std::uint8_t*>(frame_storage.data()), 2048});
    auto frame = spec.write(frame_out);
    EXPECT_TRUE(frame);
    std::vector<std::uint64_t> storage(1024);
    lidl::builder out({reinterpret_cast<std::uint8_t*>(storage.data()), 8192});
    caplets::secret_key key = key_with(fill);
    auto token =
        parent == nullptr ? caplets::mint(key, *frame, out) : caplets::derive(*parent, *frame, out);
    EXPECT_TRUE(token);
    return caplets::text::token_to_text(*token);
}

std::string mint(const caplets::frame_spec& spec, std::uint8_t fill = key_fill) {
    return make(nullptr, spec, fill);
}

// Derives a frame from `parent` (text), keeping the parent's constraints.
std::string derive(const std::string& parent, caplets::frame_spec spec) {
    std::string error;
    auto bytes = caplets::text::token_from_text(parent, error);
    EXPECT_TRUE(bytes) << error;
    auto view = caplets::token_view::parse(bytes->bytes());
    EXPECT_TRUE(view);
    spec.inherit_constraints(view->leaf());
    return make(&*view, spec);
}

std::string root_token(std::uint8_t fill = key_fill) {
    caplets::frame_spec spec;
    spec.add_root();
    return mint(spec, fill);
}

// A token granting `procedures` of export `service` ("*" for all).
std::string service_token(std::vector<std::string_view> procedures,
                          std::string_view service = "lab") {
    caplets::frame_spec spec;
    bool all = procedures.size() == 1 && procedures[0] == "*";
    if (all)
        procedures.clear();
    spec.add_service(service, procedures, all);
    return derive(root_token(), spec);
}

std::string request_token(std::string_view procedure, caplets::byte_view arguments = {},
                          std::uint64_t sequence = 0) {
    caplets::frame_spec spec;
    spec.add_call_request("lab", procedure, arguments);
    if (sequence != 0)
        spec.add_sequence(sequence);
    return derive(service_token({"*"}), spec);
}

// The call message of lab.add(amount), built by the generated codec (as a client would).
std::vector<std::uint8_t> add_call_message(std::uint32_t amount) {
    std::vector<std::uint64_t> storage(64);
    lidl::builder out({reinterpret_cast<std::uint8_t*>(storage.data()), 512});
    http_test::lab::add_params params{amount};
    EXPECT_TRUE(http_test::lab::lidl_codec::encode_call(0, &params, out));
    auto bytes = out.finish();
    EXPECT_TRUE(bytes);
    return {bytes->begin(), bytes->end()};
}

// --- calls --------------------------------------------------------------------------------------

TEST(calls, add_answers_the_result_and_keeps_state) {
    lab_server server;
    ASSERT_NE(server.port(), 0);
    std::string token = service_token({"add"});
    http_reply first = post(server, "/lab/add", R"({"amount": 3})", token);
    ASSERT_EQ(first.status, 200) << first.raw;
    EXPECT_EQ(first.headers["content-type"], "application/json");
    EXPECT_EQ(first.parsed(), json::parse(R"({"result": 3})"));
    http_reply second = post(server, "/lab/add", R"({"amount": 4000000000})", token);
    ASSERT_EQ(second.status, 200) << second.raw;
    EXPECT_EQ(second.parsed()["result"].get<std::uint64_t>(), 4000000003u);
}

TEST(calls, structs_vectors_optionals_and_unions_map_to_json) {
    lab_server server;
    std::string token = service_token({"*"});
    http_reply recorded = post(server, "/lab/record", R"({
        "readings": [
            {"sensor": "kitchen", "value": 21.5, "unit": "celsius", "tags": ["indoor"]},
            {"sensor": "roof", "value": 0.5, "unit": "kelvin", "tags": []}],
        "label": "morning"})",
                               token);
    ASSERT_EQ(recorded.status, 200) << recorded.raw;
    EXPECT_EQ(recorded.parsed(), json::parse(R"({"result": {"count": 2, "total": 22.0,
        "sensors": ["kitchen", "roof"], "label": "morning"}})"));

    http_reply without_label = post(server, "/lab/record", R"({"readings": []})", token);
    ASSERT_EQ(without_label.status, 200) << without_label.raw;
    EXPECT_EQ(without_label.parsed()["result"]["label"], json(nullptr));

    http_reply echoed = post(server, "/lab/echo", R"({"text": "h\u00e9llo \"quoted\""})", token);
    ASSERT_EQ(echoed.status, 200) << echoed.raw;
    EXPECT_EQ(echoed.parsed()["result"], "h\xc3\xa9llo \"quoted\"");

    http_reply length = post(server, "/lab/classify", R"({"n": {"text": "four"}})", token);
    ASSERT_EQ(length.status, 200) << length.raw;
    EXPECT_EQ(length.parsed(), json::parse(R"({"result": {"number": 4}})"));
    http_reply text = post(server, "/lab/classify", R"({"n": {"number": -12}})", token);
    EXPECT_EQ(text.parsed(), json::parse(R"({"result": {"text": "-12"}})"));

    http_reply nothing = post(server, "/lab/reset", "{}", token);
    ASSERT_EQ(nothing.status, 200) << nothing.raw;
    EXPECT_EQ(nothing.parsed(), json::parse(R"({"result": null})"));
}

TEST(calls, a_call_suspended_on_a_timer_is_answered_when_it_completes) {
    lab_server server;
    http_reply delayed =
        post(server, "/lab/delay", R"({"milliseconds": 20})", service_token({"delay"}));
    ASSERT_EQ(delayed.status, 200) << delayed.raw;
    EXPECT_EQ(delayed.parsed()["result"], 20);
}

TEST(calls, other_requests_are_served_while_a_call_is_suspended) {
    lab_server server;
    std::string token = service_token({"*"});
    // Two calls park in `hold` on their own connections...
    int first = connect_to(server.port());
    send_all(first, request_text("POST", "/lab/hold", R"({"ticket": 7})", token));
    int second = connect_to(server.port());
    send_all(second, request_text("POST", "/lab/hold", R"({"ticket": 7})", token));
    ASSERT_TRUE(wait_for_waiting(server, 2));
    // ...other calls go on meanwhile...
    http_reply added = post(server, "/lab/add", R"({"amount": 1})", token);
    EXPECT_EQ(added.status, 200) << added.raw;
    // ...and a third call releases them (resuming them inside its own request handler).
    http_reply released = post(server, "/lab/release", R"({"ticket": 7})", token);
    ASSERT_EQ(released.status, 200) << released.raw;
    EXPECT_EQ(released.parsed()["result"], 2);
    for (int fd : {first, second}) {
        http_reply held = parse_reply(read_all(fd));
        ::close(fd);
        ASSERT_EQ(held.status, 200) << held.raw;
        EXPECT_EQ(held.parsed()["result"], 7);
    }
}

TEST(calls, stopping_with_a_call_in_flight_closes_its_connection) {
    auto server = std::make_unique<lab_server>();
    int fd = connect_to(server->port());
    send_all(fd, request_text("POST", "/lab/delay", R"({"milliseconds": 600000})",
                              service_token({"delay"})));
    ASSERT_TRUE(wait_for_waiting(*server, 1));
    server.reset(); // destroys the exporter: the suspended call's task is destroyed
    http_reply reply = parse_reply(read_all(fd));
    ::close(fd);
    EXPECT_EQ(reply.status, 0) << reply.raw;
}

TEST(calls, a_connection_serves_several_requests) {
    lab_server server;
    std::string token = service_token({"add"});
    std::string keep_alive = request_text("POST", "/lab/add", R"({"amount": 2})", token);
    keep_alive.replace(keep_alive.find("Connection: close"), 17, "Connection: keep-alive");
    int fd = connect_to(server.port());
    send_all(fd, keep_alive + request_text("POST", "/lab/add", R"({"amount": 5})", token));
    std::string both = read_all(fd);
    ::close(fd);
    http_reply first = parse_reply(both);
    ASSERT_EQ(first.status, 200) << both;
    http_reply second = parse_reply(both.substr(both.find("HTTP/1.1", 10)));
    ASSERT_EQ(second.status, 200) << both;
    EXPECT_EQ(second.parsed()["result"], 7);
}

// --- the description --------------------------------------------------------------------------

TEST(describe, get_lists_procedures_with_types_and_docs) {
    lab_server server;
    http_reply described = get(server, "/lab", service_token({"add"}));
    ASSERT_EQ(described.status, 200) << described.raw;
    json d = described.parsed();
    EXPECT_EQ(d["export"], "lab");
    EXPECT_EQ(d["interface"], "http_test::lab");
    EXPECT_EQ(d["doc"], "A laboratory of procedures for the HTTP exporter's tests.");
    ASSERT_EQ(d["procedures"].size(), 10u);
    const json& add = d["procedures"][0];
    EXPECT_EQ(add["name"], "add");
    EXPECT_EQ(add["path"], "/lab/add");
    EXPECT_EQ(add["method"], "POST");
    EXPECT_EQ(add["doc"], "Adds `amount` to the counter and returns the new total.");
    EXPECT_EQ(add["params"][0]["name"], "amount");
    EXPECT_EQ(add["params"][0]["type"], json::parse(R"({"kind": "u32"})"));
    EXPECT_EQ(add["result"], json::parse(R"({"kind": "u64"})"));
    EXPECT_EQ(d["procedures"][5]["result"], json(nullptr)); // reset()
    std::vector<std::string> types;
    for (const json& type : d["types"])
        types.push_back(type["qualified_name"]);
    // Reached through record's span<reading> (and reading.unit), its summary, classify's note.
    EXPECT_EQ(types, (std::vector<std::string>{"http_test::unit", "http_test::reading",
                                               "http_test::summary", "http_test::note"}));
}

TEST(describe, needs_a_token_for_the_export) {
    lab_server server;
    EXPECT_EQ(get(server, "/lab", "").status, 401);
    EXPECT_EQ(get(server, "/lab", service_token({"*"}, "other")).status, 403);
    EXPECT_EQ(get(server, "/lab", request_token("add")).status, 403);
    EXPECT_EQ(get(server, "/lab", root_token()).status, 200);
}

TEST(describe, can_be_public) {
    http_export::options settings = test_options();
    settings.describe_requires_token = false;
    lab_server server(settings);
    EXPECT_EQ(get(server, "/lab", "").status, 200);
}

// --- routing ------------------------------------------------------------------------------------

TEST(routing, unknown_exports_and_procedures_are_404) {
    lab_server server;
    std::string token = root_token();
    http_reply no_export = post(server, "/nothing/add", "{}", token);
    EXPECT_EQ(no_export.status, 404);
    EXPECT_EQ(no_export.error_code(), "unknown_export");
    http_reply no_procedure = post(server, "/lab/subtract", "{}", token);
    EXPECT_EQ(no_procedure.status, 404);
    EXPECT_EQ(no_procedure.error_code(), "unknown_procedure");
    EXPECT_EQ(post(server, "/lab/add/more", "{}", token).status, 404);
    EXPECT_EQ(get(server, "/", token).status, 404);
    EXPECT_EQ(server.service_calls(), 0);
}

TEST(routing, wrong_methods_are_405_with_allow) {
    lab_server server;
    std::string token = root_token();
    http_reply get_call = get(server, "/lab/add", token);
    EXPECT_EQ(get_call.status, 405);
    EXPECT_EQ(get_call.headers["allow"], "POST");
    EXPECT_EQ(get_call.error_code(), "method_not_allowed");
    http_reply post_export = post(server, "/lab", "{}", token);
    EXPECT_EQ(post_export.status, 405);
    EXPECT_EQ(post_export.headers["allow"], "GET, HEAD");
    EXPECT_EQ(exchange(server.port(), request_text("PUT", "/lab/add", "{}", token)).status, 405);
    EXPECT_EQ(exchange(server.port(), request_text("DELETE", "/lab/add", "", token, "")).status,
              405);
    EXPECT_EQ(server.service_calls(), 0);
}

// --- bodies -------------------------------------------------------------------------------------

TEST(bodies, malformed_json_is_400) {
    lab_server server;
    std::string token = service_token({"*"});
    for (const char* body :
         {R"({"amount": )", "", "{amount: 1}", R"({"amount": 1} trailing)", "\xff\xfe"}) {
        http_reply reply = post(server, "/lab/add", body, token);
        EXPECT_EQ(reply.status, 400) << body;
        EXPECT_EQ(reply.error_code(), "malformed_json") << body;
    }
    http_reply not_object = post(server, "/lab/add", "[1]", token);
    EXPECT_EQ(not_object.status, 400);
    EXPECT_EQ(not_object.error_code(), "bad_parameters");
    EXPECT_EQ(not_object.error_field(), "");
    EXPECT_EQ(server.service_calls(), 0);
}

TEST(bodies, wrong_types_name_the_field) {
    lab_server server;
    std::string token = service_token({"*"});
    struct bad_case {
        const char* path;
        const char* body;
        const char* field;
    };
    for (const bad_case& c : {
             bad_case{"/lab/add", R"({"amount": "three"})", "amount"},
             bad_case{"/lab/add", R"({"amount": -1})", "amount"},
             bad_case{"/lab/add", R"({"amount": 4294967296})", "amount"},
             bad_case{"/lab/add", R"({"amount": 1.5})", "amount"},
             bad_case{"/lab/add", R"({})", "amount"},
             bad_case{"/lab/add", R"({"amount": 1, "extra": 2})", ""},
             bad_case{"/lab/echo", R"({"text": null})", "text"},
             bad_case{"/lab/record", R"({"readings": [{"sensor": "a", "value": 1, "unit": "celsius",
                 "tags": []}, {"sensor": "b", "value": 2, "unit": "celsius", "tags": [5]}]})",
                      "readings[1].tags[0]"},
             bad_case{"/lab/record",
                      R"({"readings": [{"sensor": "a", "value": 1, "unit": "fahrenheit",
                 "tags": []}]})",
                      "readings[0].unit"},
             bad_case{"/lab/record",
                      R"({"readings": [{"sensor": "a", "unit": "celsius", "tags": []}]})",
                      "readings[0].value"},
             bad_case{"/lab/classify", R"({"n": {"colour": 1}})", "n"},
             bad_case{"/lab/classify", R"({"n": {"number": "x"}})", "n.number"},
             bad_case{"/lab/reset", R"({"x": 1})", ""},
         }) {
        http_reply reply = post(server, c.path, c.body, token);
        EXPECT_EQ(reply.status, 400) << c.body;
        EXPECT_EQ(reply.error_code(), "bad_parameters") << c.body;
        EXPECT_EQ(reply.error_field(), c.field) << c.body << " " << reply.body;
    }
    http_reply missing = post(server, "/lab/add", "{}", token);
    EXPECT_EQ(missing.error_message(), "amount: missing field");
    EXPECT_EQ(server.service_calls(), 0);
}

TEST(bodies, content_type_must_be_json) {
    lab_server server;
    std::string token = service_token({"add"});
    http_reply plain = post(server, "/lab/add", R"({"amount": 1})", token, "text/plain");
    EXPECT_EQ(plain.status, 415);
    EXPECT_EQ(plain.error_code(), "unsupported_media_type");
    EXPECT_EQ(post(server, "/lab/add", R"({"amount": 1})", token, "").status, 415);
    EXPECT_EQ(post(server, "/lab/add", R"({"amount": 1})", token, "Application/JSON; charset=utf-8")
                  .status,
              200);
    EXPECT_EQ(server.service_calls(), 1);
}

TEST(bodies, bodies_over_the_limit_are_413) {
    lab_server server;
    std::string token = service_token({"echo"});
    std::string big = R"({"text": ")" + std::string(20000, 'a') + R"("})";
    http_reply declared = post(server, "/lab/echo", big, token);
    EXPECT_EQ(declared.status, 413);
    EXPECT_EQ(declared.error_code(), "body_too_large");
    // Chunked: no Content-Length, the limit applies while reading.
    std::string chunked = "POST /lab/echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                          "Authorization: Bearer " +
                          token +
                          "\r\n"
                          "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n";
    for (std::size_t sent = 0; sent < big.size(); sent += 4000) {
        std::string piece = big.substr(sent, 4000);
        char size[16];
        std::snprintf(size, sizeof size, "%zx\r\n", piece.size());
        chunked += size + piece + "\r\n";
    }
    chunked += "0\r\n\r\n";
    http_reply streamed = exchange(server.port(), chunked);
    EXPECT_EQ(streamed.status, 413) << streamed.raw.substr(0, 300);
    EXPECT_EQ(server.service_calls(), 0);
    // Under the limit, chunked works.
    std::string small = R"({"text": "hi"})";
    std::string ok = "POST /lab/echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                     "Authorization: Bearer " +
                     token +
                     "\r\n"
                     "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n" +
                     "e\r\n" + small + "\r\n0\r\n\r\n";
    http_reply fine = exchange(server.port(), ok);
    EXPECT_EQ(fine.status, 200) << fine.raw;
    EXPECT_EQ(fine.parsed()["result"], "hi");
}

TEST(bodies, call_messages_over_the_limit_are_413) {
    http_export::options settings = test_options();
    settings.max_call_bytes = 512;
    lab_server server(settings);
    std::string readings = "[";
    for (int i = 0; i < 40; ++i)
        readings += std::string(i ? "," : "") +
                    R"({"sensor": "s", "value": 1, "unit": "celsius", "tags": []})";
    http_reply reply =
        post(server, "/lab/record", R"({"readings": )" + readings + "]}", service_token({"*"}));
    EXPECT_EQ(reply.status, 413) << reply.body;
    EXPECT_EQ(reply.error_code(), "call_too_large");
    EXPECT_EQ(server.service_calls(), 0);
}

TEST(calls, a_failed_call_answers_its_fault_as_a_status_and_a_json_error) {
    struct expectation {
        lidl::call_fault fault;
        int status;
    };
    const expectation cases[] = {
        {lidl::call_fault::deadline_passed, 504}, {lidl::call_fault::unreachable, 503},
        {lidl::call_fault::peer_exited, 503},     {lidl::call_fault::busy, 503},
        {lidl::call_fault::refused, 502},         {lidl::call_fault::callee_error, 500},
        {lidl::call_fault::malformed_reply, 500},
    };
    lab_server server;
    for (const expectation& c : cases) {
        server.failing_.fault = c.fault;
        http_reply reply = post(server, "/failing/add", R"({"amount": 1})",
                                service_token({"*"}, "failing"));
        EXPECT_EQ(reply.status, c.status) << lidl::name(c.fault) << ": " << reply.body;
        EXPECT_EQ(reply.error_code(), lidl::name(c.fault));
        // The fault's sentence, then for malformed messages the verifier's.
        EXPECT_EQ(reply.parsed()["error"].value("message", "").rfind(lidl::describe(c.fault), 0),
                  0u);
    }
}

TEST(calls, a_callee_error_answers_the_callees_own_code) {
    lab_server server;
    server.failing_.fault = lidl::call_fault::callee_error;
    server.failing_.code = 4000000007u;
    http_reply reply =
        post(server, "/failing/add", R"({"amount": 1})", service_token({"*"}, "failing"));
    EXPECT_EQ(reply.status, 500) << reply.body;
    EXPECT_EQ(reply.error_code(), "callee_error");
    EXPECT_EQ(reply.parsed()["error"].value("callee_code", std::uint64_t{0}), 4000000007u)
        << reply.body;
    // Other faults carry no callee code, whatever their `code` (a refusal's reason class).
    server.failing_.fault = lidl::call_fault::refused;
    server.failing_.code = 3;
    http_reply refused =
        post(server, "/failing/add", R"({"amount": 1})", service_token({"*"}, "failing"));
    EXPECT_EQ(refused.status, 502) << refused.body;
    EXPECT_FALSE(refused.parsed()["error"].contains("callee_code")) << refused.body;
}

TEST(bodies, a_reply_too_large_for_its_buffer_is_500) {
    lab_server server; // max_reply_bytes 4096
    http_reply reply = post(server, "/lab/flood", R"({"size": 100000})", service_token({"flood"}));
    EXPECT_EQ(reply.status, 500) << reply.body;
    EXPECT_EQ(reply.error_code(), "reply_too_large");
    http_reply fits = post(server, "/lab/flood", R"({"size": 100})", service_token({"flood"}));
    EXPECT_EQ(fits.status, 200);
    EXPECT_EQ(fits.parsed()["result"], std::string(100, 'x'));
}

// --- authorisation ----------------------------------------------------------------------------

TEST(tokens, missing_or_malformed_tokens_are_401) {
    lab_server server;
    std::string body = R"({"amount": 1})";
    http_reply none = post(server, "/lab/add", body, "");
    EXPECT_EQ(none.status, 401);
    EXPECT_EQ(none.error_code(), "missing_token");
    EXPECT_EQ(none.headers["www-authenticate"], "Bearer realm=\"ambience\"");

    std::string request = request_text("POST", "/lab/add", body, "");
    request.insert(request.find("Content-Type"), "Authorization: Basic dXNlcjpwYXNz\r\n");
    EXPECT_EQ(exchange(server.port(), request).error_code(), "missing_token");

    std::string good = service_token({"add"});
    for (const std::string& token :
         {std::string("cap1_"), std::string("nonsense"), good.substr(0, good.size() - 7),
          good.substr(0, 40), good + "AAAA", std::string("cap1_!!!!")}) {
        http_reply reply = post(server, "/lab/add", body, token);
        EXPECT_EQ(reply.status, 401) << token;
        EXPECT_EQ(reply.error_code(), "invalid_token") << token;
        EXPECT_NE(reply.error_message(), "");
        EXPECT_NE(reply.headers["www-authenticate"].find("invalid_token"), std::string::npos);
    }
    EXPECT_EQ(server.service_calls(), 0);
}

TEST(tokens, forged_and_tampered_tokens_are_401_bad_tag) {
    lab_server server;
    std::string body = R"({"amount": 1})";
    // Another origin's token.
    caplets::frame_spec spec;
    spec.add_service("lab", {}, true);
    http_reply other_origin = post(server, "/lab/add", body, mint(spec, 0x24));
    EXPECT_EQ(other_origin.status, 401);
    EXPECT_NE(other_origin.error_message().find("tag"), std::string::npos) << other_origin.body;
    // Every byte of a valid token changed in turn.
    std::string good = service_token({"add"});
    std::string error;
    auto bytes = caplets::text::token_from_text(good, error);
    ASSERT_TRUE(bytes);
    std::vector<std::uint8_t> raw(bytes->bytes().begin(), bytes->bytes().end());
    for (std::size_t i = 0; i < raw.size(); i += 7) {
        std::vector<std::uint8_t> changed = raw;
        changed[i] ^= 0x01;
        http_reply reply = post(server, "/lab/add", body, caplets::text::token_to_text(changed));
        EXPECT_EQ(reply.status, 401) << "byte " << i;
    }
    EXPECT_EQ(server.service_calls(), 0);
    EXPECT_EQ(post(server, "/lab/add", body, good).status, 200);
}

TEST(tokens, expired_and_not_yet_valid_tokens_are_401) {
    lab_server server;
    caplets::frame_spec expired;
    expired.add_service("lab", {}, true);
    expired.add_expires(1000);
    http_reply reply = post(server, "/lab/add", R"({"amount": 1})", derive(root_token(), expired));
    EXPECT_EQ(reply.status, 401);
    EXPECT_NE(reply.error_message().find("expired"), std::string::npos) << reply.body;
    caplets::frame_spec future;
    future.add_service("lab", {}, true);
    future.add_not_before(4'000'000'000ULL);
    EXPECT_EQ(post(server, "/lab/add", R"({"amount": 1})", derive(root_token(), future)).status,
              401);
    caplets::frame_spec current;
    current.add_service("lab", {}, true);
    current.add_expires(4'000'000'000ULL);
    EXPECT_EQ(post(server, "/lab/add", R"({"amount": 1})", derive(root_token(), current)).status,
              200);
}

TEST(tokens, endpoint_constraints_use_the_peer_address) {
    lab_server server;
    caplets::frame_spec here;
    here.add_service("lab", {}, true);
    std::array<std::uint8_t, 4> loopback{127, 0, 0, 1};
    here.add_endpoint(loopback, 32);
    EXPECT_EQ(post(server, "/lab/add", R"({"amount": 1})", derive(root_token(), here)).status, 200);
    caplets::frame_spec elsewhere;
    elsewhere.add_service("lab", {}, true);
    std::array<std::uint8_t, 4> other{10, 0, 0, 0};
    elsewhere.add_endpoint(other, 8);
    EXPECT_EQ(post(server, "/lab/add", R"({"amount": 1})", derive(root_token(), elsewhere)).status,
              401);
}

TEST(tokens, a_token_for_another_procedure_or_export_is_403) {
    lab_server server;
    http_reply echo_only =
        post(server, "/lab/add", R"({"amount": 1})", service_token({"echo", "reset"}));
    EXPECT_EQ(echo_only.status, 403);
    EXPECT_EQ(echo_only.error_code(), "forbidden");
    EXPECT_EQ(echo_only.error_message(), "the token does not grant lab.add");
    EXPECT_EQ(post(server, "/lab/add", R"({"amount": 1})", service_token({"*"}, "other")).status,
              403);
    caplets::frame_spec path;
    path.add_path("/lab", caplets::rights::all);
    EXPECT_EQ(post(server, "/lab/add", R"({"amount": 1})", derive(root_token(), path)).status, 403);
    EXPECT_EQ(server.service_calls(), 0);
    EXPECT_EQ(post(server, "/lab/add", R"({"amount": 1})", service_token({"echo", "add"})).status,
              200);
}

TEST(tokens, request_tokens_grant_one_call) {
    lab_server server;
    EXPECT_EQ(post(server, "/lab/add", R"({"amount": 5})", request_token("add")).status, 200);
    http_reply other = post(server, "/lab/echo", R"({"text": "x"})", request_token("add"));
    EXPECT_EQ(other.status, 403);
    EXPECT_EQ(other.error_message(), "the token requests lab.add, not lab.echo");
    // A request cannot be derived further (leaf-only): 401 at verification.
    caplets::frame_spec wider;
    wider.add_call_request("lab", "echo", {});
    EXPECT_EQ(
        post(server, "/lab/echo", R"({"text": "x"})", derive(request_token("add"), wider)).status,
        401);
    // A request for another export.
    caplets::frame_spec elsewhere;
    elsewhere.add_call_request("other", "add", {});
    EXPECT_EQ(post(server, "/lab/add", R"({"amount": 5})", derive(root_token(), elsewhere)).status,
              403);
}

TEST(tokens, request_tokens_with_arguments_bind_the_exact_call) {
    lab_server server;
    std::vector<std::uint8_t> five = add_call_message(5);
    std::string token = request_token("add", five);
    http_reply same = post(server, "/lab/add", R"({"amount": 5})", token);
    EXPECT_EQ(same.status, 200) << same.body;
    http_reply different = post(server, "/lab/add", R"({"amount": 6})", token);
    EXPECT_EQ(different.status, 403);
    EXPECT_EQ(different.error_code(), "forbidden");
    EXPECT_EQ(server.service_calls(), 1);
}

TEST(tokens, sequenced_request_tokens_cannot_be_replayed) {
    lab_server server;
    std::string first = request_token("add", {}, 100);
    EXPECT_EQ(post(server, "/lab/add", R"({"amount": 1})", first).status, 200);
    http_reply replayed = post(server, "/lab/add", R"({"amount": 1})", first);
    EXPECT_EQ(replayed.status, 401);
    EXPECT_NE(replayed.error_message().find("last accepted: 100"), std::string::npos)
        << replayed.body;
    EXPECT_EQ(post(server, "/lab/add", R"({"amount": 1})", request_token("add", {}, 101)).status,
              200);
    EXPECT_EQ(server.service_calls(), 2);
}

TEST(tokens, capability_tokens_can_be_refused) {
    http_export::options settings = test_options();
    settings.accept_capability_tokens = false;
    lab_server server(settings);
    http_reply bearer = post(server, "/lab/add", R"({"amount": 1})", service_token({"add"}));
    EXPECT_EQ(bearer.status, 403);
    EXPECT_EQ(post(server, "/lab/add", R"({"amount": 1})", request_token("add")).status, 200);
}

TEST(tokens, authorisation_comes_before_the_body) {
    lab_server server;
    // A malformed body and a wrong content type, but no token: 401, not 400 or 415.
    EXPECT_EQ(post(server, "/lab/add", "{not json", "", "text/plain").status, 401);
    EXPECT_EQ(post(server, "/lab/add", "{not json", service_token({"echo"}), "text/plain").status,
              403);
}

// --- malformed HTTP ---------------------------------------------------------------------------

TEST(malformed_http, garbage_request_lines_are_rejected_and_the_server_goes_on) {
    lab_server server;
    for (const char* garbage :
         {"HELLO\r\n\r\n", "GET\r\n\r\n", "\x01\x02\x03\x04\r\n\r\n",
          "POST /lab/add HTTP/9.9\r\n\r\n", "GET /lab HTTP/1.1\r\nno colon\r\n\r\n"}) {
        http_reply reply = exchange(server.port(), garbage, true);
        EXPECT_NE(reply.status, 200) << garbage;
        if (reply.status != 0) {
            EXPECT_GE(reply.status, 400) << garbage;
        }
    }
    EXPECT_EQ(post(server, "/lab/add", R"({"amount": 1})", service_token({"add"})).status, 200);
}

TEST(malformed_http, huge_headers_are_rejected) {
    lab_server server;
    std::string request =
        request_text("POST", "/lab/add", R"({"amount": 1})", service_token({"add"}));
    request.insert(request.find("\r\n") + 2, "X-Padding: " + std::string(100000, 'p') + "\r\n");
    http_reply reply = exchange(server.port(), request);
    EXPECT_TRUE(reply.status == 431 || reply.status == 413 || reply.status == 0) << reply.status;
    EXPECT_EQ(server.service_calls(), 0);
    EXPECT_EQ(post(server, "/lab/add", R"({"amount": 1})", service_token({"add"})).status, 200);
}

TEST(malformed_http, a_truncated_body_gets_no_call) {
    lab_server server;
    std::string request =
        request_text("POST", "/lab/add", R"({"amount": 1})", service_token({"add"}));
    request.resize(request.size() - 5); // the client stops sending and closes its side
    http_reply reply = exchange(server.port(), request, true);
    EXPECT_EQ(reply.status, 0) << reply.raw;
    EXPECT_EQ(server.service_calls(), 0);
}

TEST(malformed_http, a_content_length_beyond_the_body_times_out_without_a_call) {
    lab_server server; // idle timeout 2 s
    std::string request =
        request_text("POST", "/lab/add", R"({"amount": 1})", service_token({"add"}));
    request.replace(request.find("Content-Length: 13"), 18, "Content-Length: 99");
    http_reply reply = exchange(server.port(), request); // the client keeps its side open
    EXPECT_EQ(reply.status, 0) << reply.raw;
    EXPECT_EQ(server.service_calls(), 0);
}

TEST(malformed_http, a_content_length_short_of_the_body_splits_it) {
    lab_server server;
    std::string request =
        request_text("POST", "/lab/add", R"({"amount": 1})", service_token({"add"}));
    request.replace(request.find("Content-Length: 13"), 18, "Content-Length: 5");
    request.replace(request.find("Connection: close"), 17, "Connection: keep-alive");
    int fd = connect_to(server.port());
    send_all(fd, request);
    ::shutdown(fd, SHUT_WR);
    std::string raw = read_all(fd);
    ::close(fd);
    http_reply first = parse_reply(raw);
    EXPECT_EQ(first.status, 400) << raw;
    EXPECT_EQ(first.error_code(), "malformed_json");
    EXPECT_EQ(server.service_calls(), 0);
}

// --- curl ---------------------------------------------------------------------------------------

std::string run(const std::string& command) {
    std::string output;
    FILE* pipe = ::popen(command.c_str(), "r");
    if (pipe == nullptr)
        return output;
    char buffer[4096];
    std::size_t got;
    while ((got = std::fread(buffer, 1, sizeof buffer, pipe)) > 0)
        output.append(buffer, got);
    ::pclose(pipe);
    return output;
}

TEST(curl, calls_and_describes_like_the_documentation_says) {
    lab_server server;
    std::string url = "http://127.0.0.1:" + std::to_string(server.port());
    std::string token = service_token({"*"}); // [A-Za-z0-9_-]: safe inside single quotes
    std::string call =
        run("curl -s -w '\\n%{http_code}' -H 'Authorization: Bearer " + token +
            "' -H 'Content-Type: application/json' -d '{\"amount\": 41}' " + url + "/lab/add");
    EXPECT_EQ(call, "{\"result\":41}\n200");
    std::string wrong =
        run("curl -s -w '\\n%{http_code}' -H 'Authorization: Bearer " + token +
            "' -H 'Content-Type: application/json' -d '{\"amount\": \"x\"}' " + url + "/lab/add");
    EXPECT_NE(wrong.find("\"field\":\"amount\""), std::string::npos) << wrong;
    EXPECT_EQ(wrong.substr(wrong.size() - 3), "400");
    std::string described = run("curl -s -H 'Authorization: Bearer " + token + "' " + url + "/lab");
    json d = json::parse(described, nullptr, false);
    ASSERT_TRUE(d.is_object()) << described;
    EXPECT_EQ(d["procedures"][1]["name"], "record");
    std::string unauthorised =
        run("curl -s -o /dev/null -w '%{http_code}' -d '{}' " + url + "/lab/add");
    EXPECT_EQ(unauthorised, "401");
}

// --- the library pieces on their own ------------------------------------------------------------

TEST(library, json_calls_match_the_generated_encoder) {
    // The bytes a request token binds: the JSON mapping builds the same message as encode_call.
    std::vector<std::uint64_t> storage(64);
    lidl::builder out({reinterpret_cast<std::uint8_t*>(storage.data()), 512});
    const http_export::interface_codec& codec = http_export::interface_of<http_test::lab>();
    EXPECT_EQ(codec.name, "http_test::lab");
    ASSERT_EQ(codec.procedures.size(), http_test::lab::lidl_procedure_count);
    auto built = codec.procedures[0].call_from_json(json::parse(R"({"amount": 5})"), out);
    ASSERT_TRUE(built);
    std::vector<std::uint8_t> expected = add_call_message(5);
    EXPECT_EQ(std::vector<std::uint8_t>(built->begin(), built->end()), expected);
}

TEST(library, the_fuzz_property_holds_on_seeds_and_their_mutations) {
    std::size_t built = 0;
    for (const auto& [id, body] : http_export_fuzz::seeds()) {
        std::string input = std::string(1, static_cast<char>(id)) + std::string(body);
        auto bytes = [](const std::string& text) {
            return std::span<const std::uint8_t>(reinterpret_cast<const std::uint8_t*>(text.data()),
                                                 text.size());
        };
        EXPECT_TRUE(http_export_fuzz::check_json_call(bytes(input))) << body;
        for (std::size_t i = 1; i < input.size(); ++i) {
            built += http_export_fuzz::check_json_call(bytes(input.substr(0, i)));
            for (char c : std::string("0\"[]{},:-9nte")) {
                std::string changed = input;
                changed[i] = c;
                built += http_export_fuzz::check_json_call(bytes(changed));
            }
        }
    }
    EXPECT_GT(built, 0u); // some mutations are still valid calls, and round-trip
}

TEST(library, exports_are_validated) {
    auto driver = http_export::io_driver::create();
    ASSERT_TRUE(driver);
    event_loop loop(**driver);
    std::atomic<int> calls{0}, waiting{0};
    lab_service lab(loop, calls, waiting);
    http_export::exporter server(loop, **driver, key_with(key_fill));
    EXPECT_EQ(server.add_local("bad/name", lab).error(), http_export::export_error::bad_name);
    EXPECT_EQ(server.add_local("", lab).error(), http_export::export_error::bad_name);
    EXPECT_EQ(server.add_local(std::string(http_export::export_name_max_length + 1, 'a'), lab).error(),
              http_export::export_error::bad_name);
    EXPECT_EQ(server.add_local("caf\xC3\xA9", lab).error(), http_export::export_error::bad_name);
    EXPECT_TRUE(server.add_local(std::string(http_export::export_name_max_length - 2, 'a') + "_-", lab));
    EXPECT_EQ(server.add_local("lab", lab, "{\"declarations\": []}").error(),
              http_export::export_error::bad_description);
    EXPECT_EQ(server.add_local("lab", lab, "not json").error(),
              http_export::export_error::bad_description);
    EXPECT_TRUE(server.add_local("lab", lab, lidl_descriptions::lab));
    EXPECT_EQ(server.add_local("lab", lab).error(), http_export::export_error::duplicate_name);
    EXPECT_TRUE(server.add_local("lab-2", lab));
    http_export::options taken;
    ASSERT_TRUE(server.start());
    EXPECT_NE(server.port(), 0);
    EXPECT_EQ(server.add_local("late", lab).error(), http_export::export_error::already_started);
    taken.port = server.port();
    http_export::exporter second(loop, **driver, key_with(key_fill), taken);
    auto refused = second.start();
    ASSERT_FALSE(refused);
    EXPECT_NE(refused.error().find("cannot listen"), std::string::npos) << refused.error();
    http_export::options bad_address;
    bad_address.address = "not-an-address";
    http_export::exporter third(loop, **driver, key_with(key_fill), bad_address);
    EXPECT_FALSE(third.start());
}

} // namespace

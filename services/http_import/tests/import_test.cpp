// HTTP imports end to end: a `lab` service exported by the project's HTTP exporter on its own
// event-loop thread, imported back through `http_import<lab, lab_client>` on the test thread's
// loop over real HTTP on 127.0.0.1 (import(export(service)) answers as the service does), and
// the failures: error statuses from the exporter and from a raw socket server with canned
// answers, malformed JSON, wrong result types, a refused connection, a server that never
// answers, answers too large, and calls abandoned in flight.
#include <http_import/backend.hpp>
#include <http_import/io_driver.hpp>

#include <http_export/exporter.hpp>

#include "import_lab.lidl.json.hpp"

#include <caplets/caplets.hpp>
#include <text.hpp>

#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <coroutine>
#include <cstdio>
#include <cstdlib>
#include <future>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace {

using namespace amb;
using json = lidl::json::value;
using import_test::lab;
using import_test::lab_client;
using import_test::liar;
using import_test::liar_client;

constexpr std::uint8_t key_fill = 0x5A;

// --- the service -------------------------------------------------------------------------------

class lab_service final : public lab {
public:
    explicit lab_service(std::atomic<int>* waiting = nullptr) : waiting_(waiting) {}

    lidl::completion<std::uint64_t> add(std::uint32_t amount) override {
        total_ += amount;
        co_return total_;
    }

    lidl::completion<const import_test::summary*>
    record(std::span<const import_test::reading> readings,
           const lidl::optional<lidl::string>& label, lidl::builder& response) override {
        auto* out = response.create_root<import_test::summary>();
        if (out == nullptr)
            co_return nullptr;
        out->count = static_cast<std::uint32_t>(readings.size());
        lidl::string* names = response.create_vector(out->sensors, readings.size());
        for (std::size_t i = 0; i < readings.size(); ++i) {
            double value = readings[i].value;
            if (readings[i].unit == import_test::unit::kelvin)
                value -= 273.15;
            out->total += value;
            response.set(names[i], readings[i].sensor.view());
        }
        if (label.has_value())
            response.set(*response.emplace(out->label), label->view());
        co_return out;
    }

    lidl::completion<std::string_view> echo(std::string_view text, lidl::builder&) override {
        co_return text;
    }

    lidl::completion<const import_test::note*> classify(const import_test::note& n,
                                                        lidl::builder& response) override {
        auto* out = response.create_root<import_test::note>();
        if (out == nullptr)
            co_return nullptr;
        if (const lidl::string* text = n.text())
            *out->set_number(response) = static_cast<std::int64_t>(text->size());
        else if (const std::int64_t* number = n.number())
            response.set(*out->set_text(response), std::to_string(*number));
        co_return out;
    }

    lidl::completion<void> reset() override {
        total_ = 0;
        co_return {};
    }

    lidl::completion<std::uint32_t> hold(std::uint32_t ticket) override {
        if (waiting_ != nullptr)
            ++*waiting_;
        co_await parked{*this, ticket};
        if (waiting_ != nullptr)
            --*waiting_;
        co_return ticket;
    }

    lidl::completion<std::uint32_t> release(std::uint32_t ticket) override {
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
        for (std::coroutine_handle<> handle : woken)
            handle.resume();
        co_return static_cast<std::uint32_t>(woken.size());
    }

    lidl::completion<std::string_view> flood(std::uint32_t size, lidl::builder&) override {
        text_.assign(size, 'x');
        co_return std::string_view(text_);
    }

    lidl::completion<std::span<const double>> scale(std::span<const double> values, double factor,
                                                    import_test::unit to,
                                                    lidl::builder& response) override {
        double* out = response.allocate<double>(values.size());
        if (out == nullptr && !values.empty())
            co_return std::span<const double>();
        for (std::size_t i = 0; i < values.size(); ++i)
            out[i] = values[i] * factor + (to == import_test::unit::kelvin ? 273.15 : 0.0);
        co_return std::span<const double>(out, values.size());
    }

private:
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

    std::atomic<int>* waiting_;
    std::uint64_t total_ = 0;
    std::string text_;
    std::vector<parked*> parked_;
};

// --- the exporter, on its own loop thread ----------------------------------------------------

class lab_server {
public:
    lab_server() {
        std::promise<std::uint16_t> started;
        std::future<std::uint16_t> port = started.get_future();
        thread_ = std::thread([this, &started] { serve(started); });
        port_ = port.get();
    }
    ~lab_server() {
        if (loop_ != nullptr)
            loop_->post_from_any_thread(stop_work_);
        thread_.join();
    }

    std::uint16_t port() const { return port_; }
    std::string url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/lab"; }
    int waiting() const { return waiting_.load(); }

private:
    struct stop_item : loop_work {
        explicit stop_item(lab_server& server)
            : loop_work([](loop_work& work) noexcept {
                  static_cast<stop_item&>(work).owner.stopping_ = true;
              }),
              owner(server) {}
        lab_server& owner;
    };

    void serve(std::promise<std::uint16_t>& started) {
        auto driver = http_export::io_driver::create();
        if (!driver) {
            started.set_value(0);
            return;
        }
        event_loop loop(**driver);
        lab_service service(&waiting_);
        caplets::secret_key key;
        key.bytes.fill(key_fill);
        http_export::options settings;
        settings.max_connections = 128;
        http_export::exporter server(loop, **driver, key, settings);
        if (!server.add("lab", http_export::interface_of<lab>(), target_for(service)) ||
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

    http_export::call_target& target_for(lab_service& service) {
        target_ = std::make_unique<http_export::local_target<lab>>(service);
        return *target_;
    }

    std::thread thread_;
    std::uint16_t port_ = 0;
    std::atomic<int> waiting_{0};
    event_loop* loop_ = nullptr;
    bool stopping_ = false; // loop thread only
    stop_item stop_work_{*this};
    std::unique_ptr<http_export::local_target<lab>> target_;
};

// A capability token for every procedure of export `lab` (or a narrower one).
std::string lab_token(std::vector<std::string_view> procedures = {}) {
    caplets::frame_spec spec;
    spec.add_service("lab", procedures, procedures.empty());
    std::vector<std::uint64_t> frame_storage(256), token_storage(1024);
    lidl::builder frame_out({reinterpret_cast<std::uint8_t*>(frame_storage.data()), 2048});
    lidl::builder token_out({reinterpret_cast<std::uint8_t*>(token_storage.data()), 8192});
    auto frame = spec.write(frame_out);
    EXPECT_TRUE(frame);
    caplets::secret_key key;
    key.bytes.fill(key_fill);
    auto token = caplets::mint(key, *frame, token_out);
    EXPECT_TRUE(token);
    return caplets::text::token_to_text(*token);
}

// --- a raw HTTP server with canned answers -----------------------------------------------------

// Answers each connection with `answer` (a whole HTTP response) after reading the request,
// which it keeps for the test to look at.
class canned_server {
public:
    explicit canned_server(std::string answer) : answer_(std::move(answer)) {
        listener_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_in address{};
        address.sin_family = AF_INET;
        address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        EXPECT_EQ(::bind(listener_, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
        EXPECT_EQ(::listen(listener_, 16), 0);
        socklen_t length = sizeof address;
        ::getsockname(listener_, reinterpret_cast<sockaddr*>(&address), &length);
        port_ = ntohs(address.sin_port);
        thread_ = std::thread([this] { serve(); });
    }
    ~canned_server() {
        ::shutdown(listener_, SHUT_RDWR);
        thread_.join();
        ::close(listener_);
    }

    std::string url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/svc"; }
    std::vector<std::string> requests() {
        std::lock_guard<std::mutex> lock(mutex_);
        return requests_;
    }

private:
    void serve() {
        for (;;) {
            int connection = ::accept4(listener_, nullptr, nullptr, SOCK_CLOEXEC);
            if (connection < 0)
                return;
            timeval timeout{10, 0};
            ::setsockopt(connection, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
            std::string request = read_request(connection);
            {
                std::lock_guard<std::mutex> lock(mutex_);
                requests_.push_back(request);
            }
            std::string_view rest = answer_;
            while (!rest.empty()) {
                ssize_t sent = ::send(connection, rest.data(), rest.size(), MSG_NOSIGNAL);
                if (sent <= 0)
                    break;
                rest.remove_prefix(static_cast<std::size_t>(sent));
            }
            ::shutdown(connection, SHUT_WR);
            char drain[256];
            while (::recv(connection, drain, sizeof drain, 0) > 0) {
            }
            ::close(connection);
        }
    }

    static std::string read_request(int connection) {
        std::string data;
        char buffer[4096];
        std::size_t wanted = std::string::npos;
        while (wanted == std::string::npos || data.size() < wanted) {
            ssize_t got = ::recv(connection, buffer, sizeof buffer, 0);
            if (got <= 0)
                break;
            data.append(buffer, static_cast<std::size_t>(got));
            std::size_t end = data.find("\r\n\r\n");
            if (end != std::string::npos && wanted == std::string::npos) {
                std::string lower = data.substr(0, end);
                for (char& c : lower)
                    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
                std::size_t field = lower.find("content-length:");
                std::size_t body = field == std::string::npos
                                       ? 0
                                       : std::stoul(lower.substr(field + 15));
                wanted = end + 4 + body;
            }
        }
        return data;
    }

    std::string answer_;
    int listener_ = -1;
    std::uint16_t port_ = 0;
    std::thread thread_;
    std::mutex mutex_;
    std::vector<std::string> requests_;
};

std::string http_answer(std::string_view status_line, std::string_view body,
                        std::string_view type = "application/json") {
    return "HTTP/1.1 " + std::string(status_line) + "\r\nContent-Type: " + std::string(type) +
           "\r\nContent-Length: " + std::to_string(body.size()) +
           "\r\nConnection: close\r\n\r\n" + std::string(body);
}

// --- the importing side: a loop on the test thread ---------------------------------------------

class importer : public ::testing::Test {
protected:
    void SetUp() override {
        auto created = http_import::io_driver::create();
        ASSERT_TRUE(created);
        driver_ = std::move(*created);
        loop_ = std::make_unique<event_loop>(*driver_);
        auto client = http_import::http_client::create(*loop_, *driver_);
        ASSERT_TRUE(client) << client.error();
        client_ = std::move(*client);
        // Keeps run_once from sleeping for long while the test waits on another thread.
        loop_->run_at(tick_, loop_->now() + std::chrono::milliseconds(5));
    }
    void TearDown() override {
        loop_->cancel(tick_);
        client_.reset();
        loop_->run_until_idle();
    }

    http_import::request_options with_token(std::string token = lab_token()) {
        http_import::request_options settings;
        settings.authorization = "Bearer " + token;
        return settings;
    }

    /// Runs the loop until `work` has finished; returns its result. Bounded: unfinished after
    /// `wait_limit` on the loop clock (the ticker wakes the loop every 5 ms), the test program
    /// fails with a message, as no result can be returned and the suspended task cannot be
    /// unwound safely.
    template <class T>
    T run(task<T> work) {
        EXPECT_TRUE(work.valid());
        work.start();
        const loop_clock::time_point give_up = loop_->now() + wait_limit;
        while (!work.done()) {
            if (loop_->now() > give_up) {
                ADD_FAILURE() << "the call did not finish within 60 s";
                std::fflush(stdout);
                std::_Exit(1);
            }
            loop_->run_once();
        }
        return work.take_result();
    }

    /// Runs the loop until `condition()` holds; false (a test failure) if it does not within
    /// `wait_limit`.
    template <class Condition>
    bool run_until(Condition condition) {
        const loop_clock::time_point give_up = loop_->now() + wait_limit;
        while (!condition()) {
            if (loop_->now() > give_up) {
                ADD_FAILURE() << "the awaited condition did not hold within 60 s";
                return false;
            }
            loop_->run_once();
        }
        return true;
    }

    static constexpr std::chrono::seconds wait_limit{60};

    struct ticker : loop_work {
        explicit ticker(importer& owner) : loop_work(&tick), of(owner) {}
        static void tick(loop_work& work) noexcept {
            auto& self = static_cast<ticker&>(work);
            self.of.loop_->run_at(self, self.of.loop_->now() + std::chrono::milliseconds(5));
        }
        importer& of;
    };

    std::unique_ptr<http_import::io_driver> driver_;
    std::unique_ptr<event_loop> loop_;
    std::unique_ptr<http_import::http_client> client_;
    ticker tick_{*this};
};

using lab_import = http_import::http_import<lab, lab_client>;
using liar_import = http_import::http_import<liar, liar_client>;

// Buffers for results with references.
struct response_buffer {
    explicit response_buffer(std::size_t bytes = 8192) : storage((bytes + 7) / 8) {}
    lidl::builder builder() {
        return lidl::builder(
            {reinterpret_cast<std::uint8_t*>(storage.data()), storage.size() * 8});
    }
    std::vector<std::uint64_t> storage;
};

// The value of a call that must succeed: a test failure naming its fault if it failed (and a
// value-initialised T, so that the test goes on).
template <class T>
T value_of(lidl::call_result<T> outcome) {
    if (!outcome) {
        ADD_FAILURE() << "the call failed: " << lidl::name(outcome.error().what) << " (code "
                      << outcome.error().code << ")";
        return T{};
    }
    return std::move(outcome).value();
}

// How the backend reads an answer (`status`, `body`) to a call of procedure `Id` of `S`: the
// failure it finds, with the server's code and message, of which the call's result carries
// `to_call_error` (nullopt if the answer is a result).
template <class S, std::uint32_t Id>
std::optional<http_import::call_failure> answer_failure(long status, const std::string& body) {
    using procedure = typename S::template lidl_procedure<Id>;
    response_buffer storage;
    lidl::builder response = storage.builder();
    typename procedure::params params{};
    if constexpr (requires { params.response; })
        params.response = &response;
    lidl::slot<typename procedure::result> result;
    auto read = http_import::detail::read_answer<S, Id>(status, body, &params, result.address(),
                                                        std::size_t{256} << 10);
    if (read)
        return std::nullopt;
    return read.error();
}
static_assert(std::string_view(lab::lidl_procedure<0>::name) == "add" &&
              std::string_view(lab::lidl_procedure<1>::name) == "record" &&
              std::string_view(liar::lidl_procedure<0>::name) == "add");

// Everything `lab` answers, as plain values, for comparing a service with its import.
struct lab_answers {
    std::vector<std::uint64_t> totals;
    std::uint32_t count = 0;
    double total = 0;
    std::vector<std::string> sensors;
    std::string label;
    bool has_label = false;
    std::string echoed;
    std::int64_t classified_number = 0;
    std::string classified_text;
    std::vector<double> scaled;
    /// The calls that failed: "procedure: fault".
    std::vector<std::string> failures;
    bool operator==(const lab_answers&) const = default;
};

// True if the call of `procedure` succeeded; else records its fault in `out.failures`.
template <class T>
bool succeeded(const lidl::call_result<T>& outcome, const char* procedure, lab_answers& out) {
    if (!outcome)
        out.failures.push_back(std::string(procedure) + ": " + lidl::name(outcome.error().what));
    return outcome.has_value();
}

task<lab_answers> exercise(lab& service) {
    lab_answers out;
    for (std::uint32_t amount : {5u, 37u}) {
        lidl::call_result<std::uint64_t> added = co_await service.add(amount);
        if (succeeded(added, "add", out))
            out.totals.push_back(added.value());
    }
    succeeded(co_await service.reset(), "reset", out);
    lidl::call_result<std::uint64_t> added = co_await service.add(1);
    if (succeeded(added, "add", out))
        out.totals.push_back(added.value());

    // Readings with strings, enums, vectors, an optional: the struct result in `response`.
    response_buffer response_storage;
    std::vector<std::uint64_t> reading_storage(1024);
    lidl::builder reading_out(
        {reinterpret_cast<std::uint8_t*>(reading_storage.data()), reading_storage.size() * 8});
    reading_out.create_root<import_test::summary>(); // the arguments below live after it
    import_test::reading* items = reading_out.allocate<import_test::reading>(2);
    reading_out.set(items[0].sensor, std::string_view("kitchen \xc3\xa9"));
    items[0].value = 21.5;
    items[0].unit = import_test::unit::celsius;
    lidl::string* tags = reading_out.create_vector(items[0].tags, 2);
    reading_out.set(tags[0], std::string_view("indoor"));
    reading_out.set(tags[1], std::string_view("\"quoted\""));
    reading_out.set(items[1].sensor, std::string_view("roof"));
    items[1].value = 280.15;
    items[1].unit = import_test::unit::kelvin;
    auto* label = reading_out.allocate<lidl::optional<lidl::string>>(1);
    reading_out.set(*reading_out.emplace(*label), std::string_view("first batch"));
    lidl::builder response = response_storage.builder();
    lidl::call_result<const import_test::summary*> recorded =
        co_await service.record(std::span<const import_test::reading>(items, 2), *label, response);
    const import_test::summary* summary =
        succeeded(recorded, "record", out) ? recorded.value() : nullptr;
    if (summary != nullptr) {
        out.count = summary->count;
        out.total = summary->total;
        for (const lidl::string& name : summary->sensors.view())
            out.sensors.emplace_back(name.view());
        out.has_label = summary->label.has_value();
        if (summary->label.has_value())
            out.label = std::string(summary->label->view());
    }

    lidl::builder echo_response = response_storage.builder();
    lidl::call_result<std::string_view> echoed =
        co_await service.echo("h\xc3\xa9llo, \"world\"\n", echo_response);
    if (succeeded(echoed, "echo", out))
        out.echoed = std::string(echoed.value());

    // A union parameter and result, both alternatives.
    std::vector<std::uint64_t> note_storage(64);
    lidl::builder note_out(
        {reinterpret_cast<std::uint8_t*>(note_storage.data()), note_storage.size() * 8});
    auto* note = note_out.create_root<import_test::note>();
    note_out.set(*note->set_text(note_out), std::string_view("seven"));
    lidl::builder note_response = response_storage.builder();
    lidl::call_result<const import_test::note*> of_text =
        co_await service.classify(*note, note_response);
    const import_test::note* classified =
        succeeded(of_text, "classify", out) ? of_text.value() : nullptr;
    if (classified != nullptr && classified->number() != nullptr)
        out.classified_number = *classified->number();
    std::vector<std::uint64_t> number_storage(64);
    lidl::builder number_out(
        {reinterpret_cast<std::uint8_t*>(number_storage.data()), number_storage.size() * 8});
    auto* number = number_out.create_root<import_test::note>();
    *number->set_number(number_out) = -12345678901234;
    lidl::builder number_response = response_storage.builder();
    lidl::call_result<const import_test::note*> of_number =
        co_await service.classify(*number, number_response);
    classified = succeeded(of_number, "classify", out) ? of_number.value() : nullptr;
    if (classified != nullptr && classified->text() != nullptr)
        out.classified_text = std::string(classified->text()->view());

    std::vector<double> values{1.5, -2.0, 1e300};
    lidl::builder scale_response = response_storage.builder();
    lidl::call_result<std::span<const double>> scaled =
        co_await service.scale(values, 2.0, import_test::unit::celsius, scale_response);
    if (succeeded(scaled, "scale", out))
        out.scaled.assign(scaled.value().begin(), scaled.value().end());
    co_return out;
}

// --- round trips -------------------------------------------------------------------------------

TEST_F(importer, an_imported_export_answers_as_the_service_itself) {
    lab_server server;
    ASSERT_NE(server.port(), 0);
    lab_import imported(*client_, server.url(), with_token());
    lab_service local;

    lab_answers direct = run(exercise(local));
    lab_answers remote = run(exercise(imported));
    EXPECT_EQ(remote.failures, std::vector<std::string>{});
    EXPECT_EQ(remote, direct);
    // And the answers are what the service computes, not two equal mistakes.
    EXPECT_EQ(direct.failures, std::vector<std::string>{});
    EXPECT_EQ(direct.totals, (std::vector<std::uint64_t>{5, 42, 1}));
    EXPECT_EQ(direct.count, 2u);
    EXPECT_DOUBLE_EQ(direct.total, 21.5 + 7.0);
    EXPECT_EQ(direct.sensors, (std::vector<std::string>{"kitchen \xc3\xa9", "roof"}));
    EXPECT_EQ(direct.label, "first batch");
    EXPECT_EQ(direct.echoed, "h\xc3\xa9llo, \"world\"\n");
    EXPECT_EQ(direct.classified_number, 5);
    EXPECT_EQ(direct.classified_text, "-12345678901234");
    EXPECT_EQ(direct.scaled, (std::vector<double>{3.0, -4.0, 2e300}));
}

TEST_F(importer, results_with_references_are_built_in_the_callers_response_buffer) {
    lab_server server;
    lab_import imported(*client_, server.url(), with_token());
    response_buffer storage;
    lidl::builder response = storage.builder();
    std::string_view echoed = value_of(run(imported.echo("inside", response)));
    EXPECT_EQ(echoed, "inside");
    const auto* begin = reinterpret_cast<const char*>(storage.storage.data());
    EXPECT_GE(echoed.data(), begin);
    EXPECT_LT(echoed.data(), begin + storage.storage.size() * 8);
    // The connection stays open for the next call, but nothing waits on it meanwhile.
    EXPECT_EQ(driver_->watched(), 0u);
    EXPECT_EQ(value_of(run(imported.echo("again", response))), "again");
    EXPECT_EQ(driver_->watched(), 0u);
}

TEST_F(importer, many_calls_are_in_flight_at_once) {
    lab_server server;
    lab_import imported(*client_, server.url(), with_token());
    constexpr std::uint32_t calls = 24;
    std::vector<lidl::completion<std::uint32_t>> held;
    for (std::uint32_t i = 0; i < calls; ++i) {
        held.push_back(imported.hold(7));
        held.back().start();
    }
    // Every hold reaches the service and waits there: none can finish before the release.
    ASSERT_TRUE(run_until([&] { return server.waiting() == static_cast<int>(calls); }));
    EXPECT_EQ(client_->in_flight(), calls);
    for (auto& call : held)
        EXPECT_FALSE(call.done());
    EXPECT_EQ(value_of(run(imported.release(7))), calls);
    ASSERT_TRUE(run_until([&] {
        for (auto& call : held)
            if (!call.done())
                return false;
        return true;
    }));
    for (auto& call : held)
        EXPECT_EQ(value_of(call.take_result()), 7u); // each call succeeded, with its ticket
    EXPECT_EQ(client_->in_flight(), 0u);
}

TEST_F(importer, a_call_destroyed_in_flight_is_abandoned_and_the_import_keeps_working) {
    lab_server server;
    lab_import imported(*client_, server.url(), with_token());
    {
        lidl::completion<std::uint32_t> call = imported.hold(3);
        call.start();
        ASSERT_TRUE(run_until([&] { return server.waiting() == 1; }));
        EXPECT_EQ(client_->in_flight(), 1u);
    } // destroyed while the service holds it
    EXPECT_EQ(client_->in_flight(), 0u);
    EXPECT_EQ(value_of(run(imported.add(2))), 2u);
}

// --- errors from the exporter ----------------------------------------------------------------

TEST_F(importer, error_statuses_of_the_exporter_fail_the_call_with_its_code) {
    // The exporter's refusals (401 missing_token and invalid_token, 403 forbidden: no fault
    // names) map by status to refused, with the status in `code`.
    lab_server server;
    lab_import anonymous(*client_, server.url());
    lidl::call_result<std::uint64_t> missing = run(anonymous.add(1));
    ASSERT_FALSE(missing);
    EXPECT_EQ(missing.error().what, lidl::call_fault::refused);
    EXPECT_EQ(missing.error().code, 401u);

    lab_import forged(*client_, server.url(), with_token(lab_token() + "A"));
    lidl::call_result<std::uint64_t> invalid = run(forged.add(1));
    ASSERT_FALSE(invalid);
    EXPECT_EQ(invalid.error().what, lidl::call_fault::refused);
    EXPECT_EQ(invalid.error().code, 401u);

    lab_import narrow(*client_, server.url(), with_token(lab_token({"echo"})));
    lidl::call_result<std::uint64_t> forbidden = run(narrow.add(1));
    ASSERT_FALSE(forbidden);
    EXPECT_EQ(forbidden.error().what, lidl::call_fault::refused);
    EXPECT_EQ(forbidden.error().code, 403u);
    // A granted procedure of the same import still works.
    response_buffer storage;
    lidl::builder response = storage.builder();
    EXPECT_EQ(value_of(run(narrow.echo("ok", response))), "ok");

    // The export names the fault (unknown_procedure): it travels back as itself.
    liar_import wrong(*client_, server.url(), with_token());
    lidl::call_result<std::uint32_t> unknown = run(wrong.missing());
    ASSERT_FALSE(unknown);
    EXPECT_EQ(unknown.error().what, lidl::call_fault::unknown_procedure);
    EXPECT_EQ(unknown.error().code, 404u);
}

TEST_F(importer, a_result_of_the_wrong_type_fails_the_call) {
    lab_server server;
    liar_import wrong(*client_, server.url(), with_token());
    response_buffer storage;
    lidl::builder response = storage.builder();
    lidl::call_result<std::string_view> added = run(wrong.add(4, response));
    ASSERT_FALSE(added); // lab.add answers 4, not a string
    EXPECT_EQ(added.error().what, lidl::call_fault::malformed_reply);
    EXPECT_EQ(added.error().code, 200u);
    // What the backend found in that answer.
    std::optional<http_import::call_failure> failed =
        answer_failure<liar, 0>(200, R"({"result": 4})");
    ASSERT_TRUE(failed);
    EXPECT_EQ(failed->what, http_import::call_error::bad_result);
    EXPECT_EQ(failed->status, 200);
    EXPECT_NE(failed->message.find("result"), std::string::npos) << failed->message;
}

TEST_F(importer, a_reply_larger_than_the_limits_fails_the_call) {
    lab_server server;
    http_import::request_options settings = with_token();
    settings.max_reply_bytes = 4096;
    lab_import limited(*client_, server.url(), settings);
    response_buffer storage(64 * 1024);
    lidl::builder response = storage.builder();
    lidl::call_result<std::string_view> flooded = run(limited.flood(100000, response));
    ASSERT_FALSE(flooded);
    EXPECT_EQ(flooded.error().what, lidl::call_fault::reply_too_large);

    // The body fits, the caller's response buffer does not.
    lab_import imported(*client_, server.url(), with_token());
    response_buffer small(64);
    lidl::builder tiny = small.builder();
    lidl::call_result<std::string_view> overflowed = run(imported.flood(1000, tiny));
    ASSERT_FALSE(overflowed);
    EXPECT_EQ(overflowed.error().what, lidl::call_fault::reply_too_large);
}

// --- canned answers ----------------------------------------------------------------------------

TEST_F(importer, the_request_is_a_json_post_to_the_procedure_with_the_authorization) {
    canned_server server(http_answer("200 OK", R"({"result": 12})"));
    http_import::request_options settings;
    settings.authorization = "Bearer secret-token";
    lab_import imported(*client_, server.url() + "/", settings); // a trailing '/' is dropped
    EXPECT_EQ(value_of(run(imported.add(5))), 12u);
    auto requests = server.requests();
    ASSERT_EQ(requests.size(), 1u);
    const std::string& request = requests[0];
    EXPECT_EQ(request.rfind("POST /svc/add HTTP/1.1\r\n", 0), 0u) << request;
    EXPECT_NE(request.find("\r\nContent-Type: application/json\r\n"), std::string::npos);
    EXPECT_NE(request.find("\r\nAuthorization: Bearer secret-token\r\n"), std::string::npos);
    std::string body = request.substr(request.find("\r\n\r\n") + 4);
    EXPECT_EQ(json::parse(body, nullptr, false), json::parse(R"({"amount": 5})"));
}

struct canned_case {
    const char* name;
    std::string answer;
    http_import::call_error expected;
    long status;
    const char* code;
    const char* in_message;
    lidl::call_fault fault; // to_call_error of the failure: what the call's result carries
};

TEST_F(importer, error_statuses_and_malformed_answers_fail_the_call) {
    const canned_case cases[] = {
        {"500 with a JSON error",
         http_answer("500 Internal Server Error",
                     R"({"error": {"code": "boom", "message": "it broke"}})"),
         http_import::call_error::http_status, 500, "boom", "it broke",
         lidl::call_fault::callee_error},
        {"404 with a JSON error",
         http_answer("404 Not Found", R"({"error": {"code": "unknown_export", "message": "no"}})"),
         http_import::call_error::http_status, 404, "unknown_export", "no",
         lidl::call_fault::unknown_procedure},
        {"503 with HTML", http_answer("503 Service Unavailable", "<h1>down</h1>", "text/html"),
         http_import::call_error::http_status, 503, "", "503", lidl::call_fault::unreachable},
        {"400 without a body", http_answer("400 Bad Request", ""),
         http_import::call_error::http_status, 400, "", "400", lidl::call_fault::malformed_call},
        {"not JSON", http_answer("200 OK", "{\"result\": 1"),
         http_import::call_error::malformed_reply, 200, "", "not JSON",
         lidl::call_fault::malformed_reply},
        {"HTML", http_answer("200 OK", "<html></html>", "text/html"),
         http_import::call_error::malformed_reply, 200, "", "not JSON",
         lidl::call_fault::malformed_reply},
        {"no result", http_answer("200 OK", R"({"value": 1})"),
         http_import::call_error::malformed_reply, 200, "", "result",
         lidl::call_fault::malformed_reply},
        {"an array", http_answer("200 OK", "[1]"), http_import::call_error::malformed_reply, 200,
         "", "result", lidl::call_fault::malformed_reply},
        {"an error with 200", http_answer("200 OK", R"({"error": {"code": "x"}})"),
         http_import::call_error::malformed_reply, 200, "", "result",
         lidl::call_fault::malformed_reply},
        {"a string result", http_answer("200 OK", R"({"result": "twelve"})"),
         http_import::call_error::bad_result, 200, "", "result", lidl::call_fault::malformed_reply},
        {"a negative result", http_answer("200 OK", R"({"result": -1})"),
         http_import::call_error::bad_result, 200, "", "result", lidl::call_fault::malformed_reply},
        {"a fractional result", http_answer("200 OK", R"({"result": 1.5})"),
         http_import::call_error::bad_result, 200, "", "result", lidl::call_fault::malformed_reply},
        {"a cut answer",
         "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"re",
         http_import::call_error::transfer_failed, 200, "", "", lidl::call_fault::unreachable},
        {"not HTTP", "garbage\r\n\r\n", http_import::call_error::transfer_failed, 0, "", "",
         lidl::call_fault::unreachable},
        // An Ambience export names the fault: it travels back as itself.
        {"an export's deadline",
         http_answer("504 Gateway Timeout",
                     R"({"error": {"code": "deadline_passed", "message": "late"}})"),
         http_import::call_error::http_status, 504, "deadline_passed", "late",
         lidl::call_fault::deadline_passed},
        {"an export's busy callee",
         http_answer("503 Service Unavailable", R"({"error": {"code": "busy", "message": "b"}})"),
         http_import::call_error::http_status, 503, "busy", "b", lidl::call_fault::busy},
    };
    for (const canned_case& test : cases) {
        SCOPED_TRACE(test.name);
        canned_server server(test.answer);
        lab_import imported(*client_, server.url());
        lidl::call_result<std::uint64_t> added = run(imported.add(1));
        ASSERT_FALSE(added);
        EXPECT_EQ(added.error().what, test.fault);
        EXPECT_EQ(added.error().code, static_cast<std::uint32_t>(test.status));
        if (test.expected == http_import::call_error::transfer_failed)
            continue; // no answer to read: libcurl failed the transfer
        // What the backend reads from the answer: the failure, the server's code and message.
        std::size_t head = test.answer.find("\r\n\r\n");
        ASSERT_NE(head, std::string::npos);
        std::optional<http_import::call_failure> failed =
            answer_failure<lab, 0>(test.status, test.answer.substr(head + 4));
        ASSERT_TRUE(failed);
        EXPECT_EQ(failed->what, test.expected) << failed->message;
        EXPECT_EQ(failed->status, test.status);
        EXPECT_EQ(failed->code, test.code);
        EXPECT_NE(failed->message.find(test.in_message), std::string::npos) << failed->message;
        EXPECT_EQ(http_import::to_call_error(*failed).what, test.fault);
    }
}

TEST_F(importer, an_exports_callee_error_keeps_the_callees_own_code) {
    canned_server server(http_answer(
        "500 Internal Server Error",
        R"({"error": {"code": "callee_error", "message": "m", "callee_code": 4000000007}})"));
    lab_import imported(*client_, server.url());
    lidl::call_result<std::uint64_t> added = run(imported.add(1));
    ASSERT_FALSE(added);
    EXPECT_EQ(added.error().what, lidl::call_fault::callee_error);
    EXPECT_EQ(added.error().code, 4000000007u); // not the status
}

TEST_F(importer, a_struct_result_missing_a_field_or_with_an_unknown_one_fails_the_call) {
    for (const char* result : {R"({"count": 1})",
                               R"({"count": 1, "total": 2, "sensors": [], "extra": 1})",
                               R"({"count": 1, "total": 2, "sensors": [3]})"}) {
        SCOPED_TRACE(result);
        canned_server server(http_answer("200 OK", std::string(R"({"result": )") + result + "}"));
        lab_import imported(*client_, server.url());
        response_buffer storage;
        lidl::builder response = storage.builder();
        lidl::optional<lidl::string> no_label;
        lidl::call_result<const import_test::summary*> recorded =
            run(imported.record({}, no_label, response));
        ASSERT_FALSE(recorded);
        EXPECT_EQ(recorded.error().what, lidl::call_fault::malformed_reply);
        EXPECT_EQ(recorded.error().code, 200u);
        std::optional<http_import::call_failure> failed =
            answer_failure<lab, 1>(200, std::string(R"({"result": )") + result + "}");
        ASSERT_TRUE(failed);
        EXPECT_EQ(failed->what, http_import::call_error::bad_result);
        EXPECT_EQ(failed->message.rfind("result", 0), 0u) << failed->message;
    }
    canned_server good(http_answer(
        "200 OK", R"({"result": {"count": 1, "total": 2.5, "sensors": ["a"], "label": null}})"));
    lab_import imported(*client_, good.url());
    response_buffer storage;
    lidl::builder response = storage.builder();
    lidl::optional<lidl::string> no_label;
    lidl::call_result<const import_test::summary*> recorded =
        run(imported.record({}, no_label, response));
    ASSERT_TRUE(recorded);
    const import_test::summary* summary = recorded.value();
    ASSERT_NE(summary, nullptr);
    EXPECT_EQ(summary->count, 1u);
    EXPECT_EQ(summary->total, 2.5);
    EXPECT_FALSE(summary->label.has_value());
}

// --- unreachable services ----------------------------------------------------------------------

TEST_F(importer, a_refused_connection_fails_the_call) {
    // A bound socket that does not listen: connections to its port are refused.
    int socket = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(::bind(socket, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
    socklen_t length = sizeof address;
    ::getsockname(socket, reinterpret_cast<sockaddr*>(&address), &length);
    lab_import imported(*client_,
                        "http://127.0.0.1:" + std::to_string(ntohs(address.sin_port)) + "/lab");
    lidl::call_result<std::uint64_t> added = run(imported.add(1));
    ::close(socket);
    ASSERT_FALSE(added); // connection_failed
    EXPECT_EQ(added.error().what, lidl::call_fault::unreachable);
    EXPECT_EQ(added.error().code, 0u); // no HTTP status
}

namespace {

// A listening socket nobody accepts on: a connection is made, no answer ever comes. Its URL.
struct silent_server {
    int socket = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    std::string url;
    silent_server() {
        sockaddr_in address{};
        address.sin_family = AF_INET;
        address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        EXPECT_EQ(::bind(socket, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
        EXPECT_EQ(::listen(socket, 4), 0);
        socklen_t length = sizeof address;
        ::getsockname(socket, reinterpret_cast<sockaddr*>(&address), &length);
        url = "http://127.0.0.1:" + std::to_string(ntohs(address.sin_port)) + "/lab";
    }
    ~silent_server() { ::close(socket); }
};

} // namespace

TEST_F(importer, a_server_that_never_answers_times_out) {
    silent_server silent;
    http_import::request_options settings;
    settings.timeout = std::chrono::milliseconds(300);
    lab_import imported(*client_, silent.url, settings);
    lidl::call_result<std::uint64_t> added = run(imported.add(1));
    ASSERT_FALSE(added); // timeout
    EXPECT_EQ(added.error().what, lidl::call_fault::deadline_passed);
}

TEST_F(importer, a_call_given_its_own_deadline_times_out_then) {
    // As above, but the import's timeout is longer than the test runs (run() gives up after
    // its own limit): only the call's own deadline (within) can end it.
    silent_server silent;
    http_import::request_options settings;
    settings.timeout = std::chrono::hours(1);
    lab_import imported(*client_, silent.url, settings);
    lidl::call_result<std::uint64_t> added =
        run(imported.within(std::chrono::milliseconds(300)).add(1));
    ASSERT_FALSE(added);
    EXPECT_EQ(added.error().what, lidl::call_fault::deadline_passed);
}

TEST_F(importer, a_url_that_is_not_http_is_refused) {
    lab_import imported(*client_, "file:///etc/passwd");
    lidl::call_result<std::uint64_t> added = run(imported.add(1));
    ASSERT_FALSE(added); // transfer_failed
    EXPECT_EQ(added.error().what, lidl::call_fault::unreachable);
}

TEST_F(importer, a_call_too_large_for_its_message_buffer_is_not_sent) {
    canned_server server(http_answer("200 OK", R"({"result": "x"})"));
    http_import::request_options settings;
    settings.max_message_bytes = 64;
    lab_import imported(*client_, server.url(), settings);
    response_buffer storage;
    lidl::builder response = storage.builder();
    lidl::call_result<std::string_view> echoed =
        run(imported.echo(std::string(200, 'y'), response));
    ASSERT_FALSE(echoed);
    EXPECT_EQ(echoed.error().what, lidl::call_fault::call_too_large);
    EXPECT_TRUE(server.requests().empty());
}

} // namespace

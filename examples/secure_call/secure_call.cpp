// The secure-call demo, run by `./ambience demo`: a thermostat service (lidl) on a node that
// authorises every call with CAPLets, called over a real UDP socket on the loopback interface.
//
// The client packs each call with the generated lidl codec, puts the call message into a CAPLets
// request (call_request{service, procedure, arguments}) derived from the token it was given, adds
// a time-based sequence number, and sends the token as one datagram. The node verifies the token
// before the service sees anything, decodes the arguments in place, runs the procedure through
// the generated dispatcher and sends back the reply message. Then an attacker tries what the
// network allows. Exits non-zero if anything does not behave as expected (it is also a test).
#include "thermostat.lidl.hpp"

#include <caplets/caplets.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

namespace {

using namespace demo::home;

// 8-byte aligned storage for messages and tokens.
struct buffer {
    std::vector<std::uint64_t> words = std::vector<std::uint64_t>(8192);
    std::span<std::uint8_t> bytes() {
        return {reinterpret_cast<std::uint8_t*>(words.data()), words.size() * 8};
    }
};

std::uint64_t unix_now() {
    return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::seconds>(
                                          std::chrono::system_clock::now().time_since_epoch())
                                          .count());
}

std::uint64_t micros_now() {
    return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(
                                          std::chrono::system_clock::now().time_since_epoch())
                                          .count());
}

// --- the service --------------------------------------------------------------------------------

class thermostat_service final : public thermostat {
public:
    amb::task<const reading*> read(lidl::builder& response) override {
        reading* now = response.create_root<reading>();
        if (now == nullptr)
            co_return nullptr;
        now->celsius = 19.5F;
        now->target = target_;
        now->heating = target_ > now->celsius;
        response.set(now->room, "living room");
        co_return now;
    }
    amb::task<bool> set_target(float celsius) override {
        if (celsius < 5 || celsius > 30)
            co_return false;
        target_ = celsius;
        co_return true;
    }

private:
    float target_ = 18.0F;
};

// --- the node: verify, then dispatch -------------------------------------------------------------

class node {
public:
    // Sequence numbers are microseconds (see the client): refuse those from before this start,
    // minus a minute of clock skew. A node that must also refuse requests of the last minute
    // after a restart persists a mark (remote::durable_sequence_store, docs/remote.md).
    explicit node(const caplets::secret_key& secret)
        : secret_(secret), sequences_((unix_now() - 60) * 1000000u) {}
    caplets::revocation_list& revoked() { return revoked_; }

    // Handles one datagram (a request token); returns the reply datagram: 'O' + reply message,
    // or 'R' + the reason for the rejection.
    std::vector<std::uint8_t> handle(std::span<const std::uint8_t> datagram,
                                     const std::uint8_t (&peer)[4]) {
        buffer token_copy;
        std::memcpy(token_copy.bytes().data(), datagram.data(), datagram.size());
        auto token = caplets::token_view::parse(token_copy.bytes().first(datagram.size()));
        if (!token)
            return refuse(token.error());
        caplets::verify_context context;
        context.now = unix_now();
        context.endpoint = peer;
        context.revoked = &revoked_;
        context.sequences = &sequences_;
        // The number is recorded only once the call is known to be served (below).
        context.defer_sequences = true;
        caplets::verification_details details;
        auto request = caplets::verify_request(secret_, *token, context, &details);
        if (!request)
            return refuse(request.error());
        // Access control is done: from here on, only the service's own checks remain.
        const caplets::call_request* call = (*request)->call_request();
        if (call == nullptr || call->service.view() != "thermostat")
            return text('R', "not a thermostat call");
        std::uint32_t id = 0;
        while (id < thermostat::lidl_procedure_count &&
               thermostat::lidl_procedure_name(id) != call->procedure.view())
            ++id;
        buffer arguments;
        std::memcpy(arguments.bytes().data(), call->arguments.view().data(), call->arguments.size());
        std::span<const std::uint8_t> message = arguments.bytes().first(call->arguments.size());
        if (id >= thermostat::lidl_procedure_count)
            return text('R', "no such procedure");
        if (auto recorded = caplets::commit_sequences(context, details); !recorded)
            return refuse(recorded.error());
        switch (id) {
        case 0: return serve<0>(message);
        case 1: return serve<1>(message);
        default: return text('R', "no such procedure");
        }
    }

private:
    template <std::uint32_t Id>
    std::vector<std::uint8_t> serve(std::span<const std::uint8_t> call_message) {
        typename thermostat::lidl_procedure<Id>::params params{};
        buffer response_buffer;
        lidl::builder response(response_buffer.bytes());
        auto decoded = thermostat::lidl_codec::decode_call(Id, call_message, &params, &response);
        if (!decoded)
            return text('R', std::string("bad arguments: ") + lidl::describe(decoded.error().kind));
        lidl::slot<typename thermostat::lidl_procedure<Id>::result> result;
        amb::sync_wait(thermostat::lidl_dispatch::execute(service_, Id, &params, result.address()));
        buffer spare_buffer;
        lidl::builder spare(spare_buffer.bytes());
        auto reply = thermostat::lidl_codec::encode_reply(Id, result.address(), response, spare);
        std::vector<std::uint8_t> out{'O'};
        out.insert(out.end(), reply.begin(), reply.end());
        return out;
    }

    static std::vector<std::uint8_t> text(char kind, const std::string& message) {
        std::vector<std::uint8_t> out{static_cast<std::uint8_t>(kind)};
        out.insert(out.end(), message.begin(), message.end());
        return out;
    }

    static std::vector<std::uint8_t> refuse(const caplets::reason& why) {
        std::string message = "frame " + std::to_string(why.frame) + ": " + caplets::describe(why.what);
        if (why.what == caplets::check::sequence_replayed)
            message += " (last accepted " + std::to_string(why.current_sequence) + ")";
        return text('R', message);
    }

    const caplets::secret_key& secret_;
    thermostat_service service_;
    caplets::revocation_list revoked_;
    caplets::memory_sequence_store sequences_;
};

// --- the network -------------------------------------------------------------------------------

class udp_socket {
public:
    udp_socket() : fd_(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0)) {
        sockaddr_in address{};
        address.sin_family = AF_INET;
        address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        ::bind(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address);
        timeval timeout{5, 0};
        ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    }
    ~udp_socket() { ::close(fd_); }
    udp_socket(const udp_socket&) = delete;
    udp_socket& operator=(const udp_socket&) = delete;

    bool ok() const { return fd_ >= 0; }
    sockaddr_in address() const {
        sockaddr_in out{};
        socklen_t length = sizeof out;
        ::getsockname(fd_, reinterpret_cast<sockaddr*>(&out), &length);
        return out;
    }
    bool send(std::span<const std::uint8_t> data, const sockaddr_in& to) {
        return ::sendto(fd_, data.data(), data.size(), 0, reinterpret_cast<const sockaddr*>(&to),
                        sizeof to) == static_cast<ssize_t>(data.size());
    }
    // Returns the datagram (empty on timeout) and who sent it.
    std::vector<std::uint8_t> receive(sockaddr_in& from) {
        std::vector<std::uint8_t> data(65536);
        socklen_t length = sizeof from;
        ssize_t got = ::recvfrom(fd_, data.data(), data.size(), 0,
                                 reinterpret_cast<sockaddr*>(&from), &length);
        data.resize(got > 0 ? static_cast<std::size_t>(got) : 0);
        return data;
    }

private:
    int fd_;
};

// Serves datagrams until it receives an empty one.
void run_node(node& home, udp_socket& socket) {
    for (;;) {
        sockaddr_in from{};
        std::vector<std::uint8_t> datagram = socket.receive(from);
        if (datagram.empty())
            return;
        std::uint8_t peer[4];
        std::memcpy(peer, &from.sin_addr.s_addr, 4);
        socket.send(home.handle(datagram, peer), from);
    }
}

// --- the client ---------------------------------------------------------------------------------

struct held_token {
    buffer storage;
    std::size_t size = 0;
    caplets::token_view view() {
        return *caplets::token_view::parse(storage.bytes().first(size));
    }
};

bool make_token(held_token& out, const caplets::secret_key* secret, held_token* parent,
                const caplets::frame_spec& spec) {
    buffer frame_buffer;
    lidl::builder frame_out(frame_buffer.bytes());
    auto frame = spec.write(frame_out);
    if (!frame)
        return false;
    lidl::builder token_out(out.storage.bytes());
    auto token = parent == nullptr ? caplets::mint(*secret, *frame, token_out)
                                   : caplets::derive(parent->view(), *frame, token_out);
    out.size = token ? token->size() : 0;
    return token.has_value();
}

class client {
public:
    client(held_token& token, sockaddr_in node_address)
        : token_(token), node_(node_address) {}

    std::vector<std::uint8_t> last_datagram;

    // Calls procedure Id; returns the reply message bytes, or the node's reason in `refused`.
    template <std::uint32_t Id>
    bool call(const void* params, void* result, std::string& refused) {
        buffer call_buffer;
        lidl::builder call_message(call_buffer.bytes());
        if (!thermostat::lidl_codec::encode_call(Id, params, call_message))
            return false;
        caplets::frame_spec request;
        request.add_call_request("thermostat", thermostat::lidl_procedure_name(Id),
                                 call_message.written());
        request.inherit_constraints(token_.view().leaf());
        request.add_sequence(micros_now());
        held_token request_token;
        if (!make_token(request_token, nullptr, &token_, request))
            return false;
        last_datagram.assign(request_token.storage.bytes().data(),
                             request_token.storage.bytes().data() + request_token.size);
        std::vector<std::uint8_t> reply = exchange(last_datagram);
        if (reply.empty() || reply[0] != 'O') {
            refused.assign(reply.begin() + (reply.empty() ? 0 : 1), reply.end());
            return false;
        }
        buffer reply_buffer;
        std::memcpy(reply_buffer.bytes().data(), reply.data() + 1, reply.size() - 1);
        return thermostat::lidl_codec::decode_reply(
                   Id, reply_buffer.bytes().first(reply.size() - 1), params, result)
            .has_value();
    }

    std::vector<std::uint8_t> exchange(std::span<const std::uint8_t> datagram) {
        socket_.send(datagram, node_);
        sockaddr_in from{};
        return socket_.receive(from);
    }

private:
    held_token& token_;
    sockaddr_in node_;
    udp_socket socket_;
};

bool expect(bool condition, const std::string& what) {
    std::printf("  [%s] %s\n", condition ? " ok " : "FAIL", what.c_str());
    return condition;
}

}  // namespace

int main() {
    bool ok = true;
    caplets::secret_key secret;
    if (!amb::crypto::random_bytes(secret.bytes))
        return 1;
    node home(secret);
    udp_socket node_socket;
    if (!node_socket.ok())
        return 1;
    std::thread server([&] { run_node(home, node_socket); });
    sockaddr_in node_address = node_socket.address();

    std::printf("1. The home node mints tokens (its secret never leaves it)\n");
    held_token root, owner, guest;
    caplets::frame_spec root_spec;
    root_spec.add_root();
    const std::string_view everything[] = {"read", "set_target"};
    const std::string_view read_only[] = {"read"};
    caplets::frame_spec owner_spec;
    owner_spec.add_service("thermostat", everything, false);
    owner_spec.add_expires(unix_now() + 3600);
    caplets::frame_spec guest_spec;
    guest_spec.add_service("thermostat", read_only, false);
    const std::uint8_t loopback[4] = {127, 0, 0, 1};
    guest_spec.add_endpoint(loopback, 32);
    bool minted = make_token(root, &secret, nullptr, root_spec) &&
                  make_token(owner, nullptr, &root, owner_spec) &&
                  make_token(guest, nullptr, &root, guest_spec);
    ok &= expect(minted, "owner token: thermostat read + set_target for 1 hour (" +
                             std::to_string(owner.size) + " bytes); guest token: read only, from "
                             "127.0.0.1 only (" + std::to_string(guest.size) + " bytes)");

    std::printf("2. The owner calls the thermostat over UDP (lidl call inside a CAPLets request)\n");
    client owner_client(owner, node_address);
    std::string refused;
    buffer response_buffer;
    lidl::builder response(response_buffer.bytes());
    thermostat::read_params read_params{&response};
    lidl::slot<const reading*> now;
    bool granted = owner_client.call<0>(&read_params, now.address(), refused);
    ok &= expect(granted, "read() granted");
    const reading* current = now.take();
    if (current != nullptr)
        std::printf("       %s: %.1f °C, target %.1f °C, heating %s\n",
                    std::string(current->room.view()).c_str(), static_cast<double>(current->celsius),
                    static_cast<double>(current->target), current->heating ? "on" : "off");
    thermostat::set_target_params set_params{21.5F};
    lidl::slot<bool> set;
    granted = owner_client.call<1>(&set_params, set.address(), refused) && set.take();
    ok &= expect(granted, "set_target(21.5) granted and applied");
    std::vector<std::uint8_t> captured = owner_client.last_datagram;

    std::printf("3. The guest may read but not set\n");
    client guest_client(guest, node_address);
    lidl::slot<const reading*> guest_read;
    response.reset();
    granted = guest_client.call<0>(&read_params, guest_read.address(), refused) &&
              guest_read.take()->target == 21.5F;
    ok &= expect(granted, "guest read() granted, sees the new target");
    lidl::slot<bool> guest_set;
    granted = guest_client.call<1>(&set_params, guest_set.address(), refused);
    ok &= expect(!granted && refused.find("not within") != std::string::npos,
                 "guest set_target() refused by the node: " + refused);

    std::printf("4. An attacker on the network\n");
    std::vector<std::uint8_t> reply = owner_client.exchange(captured);
    std::string answer(reply.begin() + 1, reply.end());
    ok &= expect(!reply.empty() && reply[0] == 'R' && answer.find("replay") != std::string::npos,
                 "replaying the owner's request: " + answer);
    // Change the call's argument in a fresh copy: 21.5 (0x41ac0000) becomes 29.5 (0x41ec0000).
    std::vector<std::uint8_t> tampered = captured;
    const std::uint8_t target_bytes[4] = {0x00, 0x00, 0xac, 0x41};
    auto at = std::search(tampered.begin(), tampered.end(), target_bytes, target_bytes + 4);
    if (at != tampered.end())
        at[2] = 0xec;
    reply = owner_client.exchange(tampered);
    answer.assign(reply.begin() + 1, reply.end());
    ok &= expect(at != tampered.end() && !reply.empty() && reply[0] == 'R' &&
                     answer.find("tag does not match") != std::string::npos,
                 "changing the target inside it to 29.5: " + answer);

    std::printf("5. The owner's token is revoked\n");
    ok &= expect(home.revoked().add(owner.view().tag(), 0, unix_now()), "tag added to the list");
    lidl::slot<bool> after;
    granted = owner_client.call<1>(&set_params, after.address(), refused);
    ok &= expect(!granted && refused.find("revoked") != std::string::npos,
                 "set_target() refused: " + refused);

    udp_socket stopper;
    stopper.send({}, node_address);
    server.join();
    std::printf("%s\n", ok ? "secure call demo: every step behaved as expected"
                           : "secure call demo: SOME STEPS FAILED");
    return ok ? 0 : 1;
}

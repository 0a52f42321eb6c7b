// The secure-call demo, run by `./ambience demo`: a thermostat service (lidl) exported by a home
// node and called from two other nodes through runtime/remote, the path every deployment uses
// between nodes (DESIGN.md §3 case 3, docs/remote.md). Read it top to bottom:
//
// 1. Keys as the deployment tool makes them (remote/keys.hpp): one root key per deployment that
//    never leaves the tool, the home node's verification key derived from it, and a credential
//    per calling node, a CAPLets token naming the caller and granting the procedures it may call.
// 2. Three `remote::node`s: home exports the implementation (`remote::lidl_export`), owner and
//    guest call it with the generated client over `remote::remote_backend`. Each call becomes a
//    CAPLets request derived from the caller's credential (the lidl call inside, a fresh sequence
//    number) in an envelope; home verifies the token before anything is decoded, then serves the
//    call with the generated dispatcher and answers with an authenticated reply.
// 3. Refusals: home refuses and logs the reason (its incident sink); the caller only learns that
//    its call failed. Then an attacker on the wire replays and tampers with a captured request,
//    and the owner's credential is revoked.
//
// The wire here is a queue in this process that the attacker can read and write; in a
// deployment, hosted::remote::network_node carries the same packets over UDP, TCP or serial
// links (examples/pipeline). Exits non-zero if any step does not behave as described, so it is
// also a test (ctest -R examples.secure_call).
#include "thermostat.lidl.hpp"

#include <remote/exports.hpp>
#include <remote/keys.hpp>
#include <remote/node.hpp>
#include <remote/remote_backend.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <deque>
#include <memory>
#include <string>
#include <vector>

namespace {

using namespace demo::home;
using amb::remote::link_id;
using bytes = std::vector<std::uint8_t>;
using remote_thermostat = thermostat_client<amb::remote::remote_backend<thermostat>>;

// --- the service --------------------------------------------------------------------------------

class thermostat_service final : public thermostat {
public:
    int calls = 0; ///< calls that reached the service (a refused request never does)

    lidl::completion<const reading*> read(lidl::builder& response) override {
        ++calls;
        reading* now = response.create_root<reading>();
        if (now == nullptr)
            co_return nullptr;
        now->celsius = 19.5F;
        now->target = target_;
        now->heating = target_ > now->celsius;
        response.set(now->room, "living room");
        co_return now;
    }
    lidl::completion<bool> set_target(float celsius) override {
        ++calls;
        if (celsius < 5 || celsius > 30)
            co_return false;
        target_ = celsius;
        co_return true;
    }

private:
    float target_ = 18.0F;
};

// --- what the port gives a node: time, links, a log ----------------------------------------------

class system_clock final : public amb::remote::clock_source {
public:
    amb::loop_clock::time_point monotonic() override {
        return amb::loop_clock::time_point(std::chrono::duration_cast<amb::loop_clock::duration>(
            std::chrono::steady_clock::now().time_since_epoch()));
    }
    std::uint64_t unix_microseconds() override {
        return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(
                                              std::chrono::system_clock::now().time_since_epoch())
                                              .count());
    }
};

// Node 0 is home (link 0 to owner, link 1 to guest); node 1 is owner and node 2 guest (link 0 to
// home each).
constexpr std::size_t home_index = 0, owner_index = 1, guest_index = 2;

struct packet {
    std::size_t from = 0;
    link_id link = 0;
    bytes data;
};

// A node's links: every packet it sends goes into the shared queue, in order.
class wire final : public amb::remote::link_output {
public:
    wire(std::deque<packet>& queue, std::size_t from) : queue_(queue), from_(from) {}
    bool send(link_id link, amb::remote::byte_view data) override {
        queue_.push_back({from_, link, bytes(data.begin(), data.end())});
        return true;
    }

private:
    std::deque<packet>& queue_;
    std::size_t from_;
};

// Where a packet sent by node `from` on `link` arrives: (node, link).
std::pair<std::size_t, link_id> arrives_at(std::size_t from, link_id link) {
    if (from == home_index)
        return {link == 0 ? owner_index : guest_index, 0};
    return {home_index, from == owner_index ? link_id{0} : link_id{1}};
}

// Home's log: every refusal, with the check and frame CAPLets names.
class incident_log final : public amb::remote::incident_sink {
public:
    std::vector<amb::remote::incident_kind> kinds;
    std::vector<caplets::check> checks; // of request_denied

    void report(const amb::remote::incident& what) override {
        kinds.push_back(what.kind);
        std::string line = std::string("       home logs: ") + amb::remote::describe(what.kind) +
                           " from " + std::string(what.source);
        if (what.kind == amb::remote::incident_kind::request_denied) {
            checks.push_back(what.token.what);
            line += ": frame " + std::to_string(what.token.frame) + ", " +
                    caplets::describe(what.token.what);
        }
        std::printf("%s\n", line.c_str());
    }
    bool last_refusal_was(caplets::check check) const {
        return !checks.empty() && checks.back() == check;
    }
};

// --- the demo -----------------------------------------------------------------------------------

// A credential as bytes (mint_credential writes into an aligned builder).
bytes credential(const caplets::secret_key& root, std::string_view caller,
                 std::span<const amb::remote::import_rights> rights, std::uint64_t expires) {
    std::vector<std::uint64_t> storage(1024);
    lidl::builder out({reinterpret_cast<std::uint8_t*>(storage.data()), storage.size() * 8});
    auto token = amb::remote::mint_credential(root, caller, "home", rights, expires, out);
    if (!token)
        return {};
    return bytes(token->begin(), token->end());
}

class deployment {
public:
    // The tool's side: the root key, home's key, the callers' credentials.
    explicit deployment(const caplets::secret_key& root)
        : home_key_(amb::remote::node_verification_key(root, "home")) {
        const std::uint64_t in_an_hour = clock_.unix_microseconds() / 1000000 + 3600;
        const amb::remote::import_rights everything[] = {{"thermostat", {}}};
        const std::string_view read_only_procedures[] = {"read"};
        const amb::remote::import_rights read_only[] = {{"thermostat", read_only_procedures}};
        owner_credential = credential(root, "owner", everything, in_an_hour);
        guest_credential = credential(root, "guest", read_only, 0);
    }

    bytes owner_credential;
    bytes guest_credential;
    thermostat_service service;
    caplets::revocation_list revoked;
    incident_log home_log;
    std::unique_ptr<amb::remote::node> home, owner, guest;

    // The nodes, as the generated glue of each would make them.
    bool start() {
        const amb::remote::route_entry home_routes[] = {{"owner", 0}, {"guest", 1}};
        amb::remote::node_config home_config;
        home_config.name = "home";
        home_config.routes = home_routes_.emplace_back(std::begin(home_routes), std::end(home_routes));
        home_config.verification_key = &home_key_;
        home_config.revoked = &revoked;
        auto made = amb::remote::node::create(home_config, wires_[home_index], clock_, &home_log);
        if (!made || !(*made)->export_service("thermostat", exported_))
            return false;
        home = std::move(*made);
        return make_caller(owner, "owner", owner_index, owner_credential) &&
               make_caller(guest, "guest", guest_index, guest_credential);
    }

    // Runs `work` to completion: delivers every packet (each seen first by `attacker`, which may
    // keep a copy) and lets the nodes finish their requests.
    template <class T, class Attacker>
    T run(amb::task<T> work, Attacker attacker) {
        work.start();
        for (int round = 0; round < 1000 && !work.done(); ++round) {
            while (!queue_.empty()) {
                packet next = std::move(queue_.front());
                queue_.pop_front();
                attacker(next);
                deliver(next);
            }
            for (auto* each : {home.get(), owner.get(), guest.get()})
                each->poll();
        }
        return work.take_result();
    }
    template <class T>
    T run(amb::task<T> work) {
        return run(std::move(work), [](const packet&) {});
    }

    // The attacker: a packet of its own choosing arrives at home as if from owner's link.
    void inject_at_home(const bytes& data) {
        home->on_packet(0, data);
        queue_.clear(); // home's error answer to owner, which has no call waiting for it
    }

private:
    bool make_caller(std::unique_ptr<amb::remote::node>& out, std::string_view name,
                     std::size_t index, const bytes& token) {
        amb::remote::node_config config;
        config.name = name;
        config.routes = routes_.emplace_back(1, amb::remote::route_entry{"home", 0});
        config.credentials = credentials_.emplace_back(
            1, amb::remote::credential_entry{"home", token, false});
        auto made = amb::remote::node::create(config, wires_[index], clock_);
        if (!made)
            return false;
        out = std::move(*made);
        return true;
    }

    void deliver(const packet& sent) {
        auto [to, link] = arrives_at(sent.from, sent.link);
        amb::remote::node* nodes[] = {home.get(), owner.get(), guest.get()};
        nodes[to]->on_packet(link, sent.data);
    }

    system_clock clock_;
    caplets::secret_key home_key_;
    amb::remote::lidl_export<thermostat> exported_{service};
    std::deque<packet> queue_;
    wire wires_[3] = {{queue_, home_index}, {queue_, owner_index}, {queue_, guest_index}};
    std::deque<std::vector<amb::remote::route_entry>> home_routes_, routes_;
    std::deque<std::vector<amb::remote::credential_entry>> credentials_;
};

bool expect(bool condition, const std::string& what) {
    std::printf("  [%s] %s\n", condition ? " ok " : "FAIL", what.c_str());
    return condition;
}

struct response_buffer {
    std::vector<std::uint64_t> words = std::vector<std::uint64_t>(1024);
    lidl::builder builder{{reinterpret_cast<std::uint8_t*>(words.data()), words.size() * 8}};
};

} // namespace

int main() {
    bool ok = true;
    caplets::secret_key root;
    if (!amb::crypto::random_bytes(root.bytes))
        return 1;

    std::printf("1. The deployment tool derives home's key and mints the callers' credentials\n");
    deployment net(root);
    ok &= expect(!net.owner_credential.empty() && !net.guest_credential.empty() && net.start(),
                 "owner: thermostat.read and .set_target for an hour (" +
                     std::to_string(net.owner_credential.size()) +
                     " bytes); guest: thermostat.read (" +
                     std::to_string(net.guest_credential.size()) +
                     " bytes); home holds only its own key");

    std::printf("2. The owner calls the thermostat (a lidl call inside a CAPLets request)\n");
    remote_thermostat owner_thermostat(*net.owner, "home", "thermostat");
    response_buffer response;
    // Every call completes with its value or the lidl::call_error that stopped it.
    lidl::call_result<const reading*> read = net.run(owner_thermostat.read(response.builder));
    const reading* current = read ? read.value() : nullptr;
    ok &= expect(current != nullptr, "read() served");
    if (current != nullptr)
        std::printf("       %s: %.1f °C, target %.1f °C, heating %s\n",
                    std::string(current->room.view()).c_str(), static_cast<double>(current->celsius),
                    static_cast<double>(current->target), current->heating ? "on" : "off");
    bytes captured; // the attacker keeps the owner's set_target request
    lidl::call_result<bool> applied =
        net.run(owner_thermostat.set_target(21.5F), [&](const packet& sent) {
            if (sent.from == owner_index)
                captured = sent.data;
        });
    ok &= expect(applied && applied.value(), "set_target(21.5) served and applied");

    std::printf("3. The guest may read but not set\n");
    remote_thermostat guest_thermostat(*net.guest, "home", "thermostat");
    response.builder.reset();
    lidl::call_result<const reading*> seen = net.run(guest_thermostat.read(response.builder));
    ok &= expect(seen && seen.value() != nullptr && seen.value()->target == 21.5F,
                 "guest read() served, sees the new target");
    const int served = net.service.calls;
    const auto failed = net.guest->counters().calls_failed;
    lidl::call_result<bool> set = net.run(guest_thermostat.set_target(25.0F));
    ok &= expect(!set && set.error().what == lidl::call_fault::refused &&
                     net.guest->counters().calls_failed == failed + 1 &&
                     net.service.calls == served &&
                     net.home_log.last_refusal_was(caplets::check::not_a_subset),
                 "guest set_target() refused by home before the service saw it");

    std::printf("4. An attacker on the wire\n");
    net.inject_at_home(captured);
    ok &= expect(net.service.calls == served &&
                     net.home_log.last_refusal_was(caplets::check::sequence_replayed),
                 "replaying the owner's set_target(21.5) request is refused");
    // Change the call's argument in a fresh copy: 21.5 (0x41ac0000) becomes 29.5 (0x41ec0000).
    bytes tampered = captured;
    const std::uint8_t target_bytes[4] = {0x00, 0x00, 0xac, 0x41};
    auto at = std::search(tampered.begin(), tampered.end(), target_bytes, target_bytes + 4);
    if (at != tampered.end())
        at[2] = 0xec;
    net.inject_at_home(tampered);
    ok &= expect(at != tampered.end() && net.service.calls == served &&
                     net.home_log.last_refusal_was(caplets::check::bad_tag),
                 "changing the target inside it to 29.5 is refused");

    std::printf("5. The owner's credential is revoked\n");
    const caplets::tag_bytes owner_tag =
        caplets::token_view::parse(net.owner_credential)->tag();
    const std::uint64_t now_seconds = system_clock().unix_microseconds() / 1000000;
    ok &= expect(net.revoked.add(owner_tag, 0, now_seconds),
                 "its tag added to home's revocation list");
    set = net.run(owner_thermostat.set_target(22.0F));
    ok &= expect(!set && set.error().what == lidl::call_fault::refused &&
                     net.service.calls == served &&
                     net.home_log.last_refusal_was(caplets::check::revoked),
                 "owner set_target() refused");

    std::printf("%s\n", ok ? "secure call demo: every step behaved as expected"
                           : "secure call demo: SOME STEPS FAILED");
    return ok ? 0 : 1;
}

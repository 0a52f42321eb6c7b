#include <remote/node.hpp>

#include <crypto/crypto.hpp>

#include <algorithm>
#include <array>
#include <cstring>
#include <new>

namespace amb::remote {

const char* describe(incident_kind kind) {
    switch (kind) {
    case incident_kind::malformed_packet:
        return "malformed packet";
    case incident_kind::packet_too_large:
        return "packet too large";
    case incident_kind::request_denied:
        return "request token refused";
    case incident_kind::missing_sequence:
        return "request without a sequence number";
    case incident_kind::source_mismatch:
        return "credential does not name the source node";
    case incident_kind::not_a_call:
        return "request token is not a call";
    case incident_kind::no_verification_key:
        return "request to a node that exports nothing";
    case incident_kind::unknown_service:
        return "unknown service";
    case incident_kind::unknown_procedure:
        return "unknown procedure";
    case incident_kind::bad_arguments:
        return "arguments do not decode";
    case incident_kind::service_failure:
        return "service failed";
    case incident_kind::busy:
        return "every serving slot is busy";
    case incident_kind::no_route:
        return "no route";
    case incident_kind::hop_limit_exceeded:
        return "hop limit exceeded";
    case incident_kind::reply_bad_mac:
        return "reply with a bad MAC";
    case incident_kind::reply_unmatched:
        return "reply for no call in flight";
    case incident_kind::send_failed:
        return "link refused a packet";
    case incident_kind::unencrypted_request:
        return "plaintext request from a caller that must encrypt";
    case incident_kind::sealing_failed:
        return "a payload could not be sealed or opened";
    }
    return "unknown incident";
}

const char* describe(config_error error) {
    switch (error) {
    case config_error::bad_name:
        return "invalid node name in the configuration";
    case config_error::bad_credential:
        return "a credential does not parse";
    case config_error::bad_sizes:
        return "invalid sizes in the configuration";
    case config_error::out_of_memory:
        return "out of memory";
    }
    return "unknown configuration error";
}

struct node::pending_call {
    bool active = false;
    std::uint64_t correlation = 0;
    std::size_t peer = 0;
    link_id link = 0;
    loop_clock::time_point deadline{};
    caplets::tag_bytes request_tag{};
    bool sealed = false; // the reply must be sealed too
    outgoing_call call{};
    std::string_view service;
    std::coroutine_handle<> waiting;
    // Sent again once after an authenticated sequence refusal (see handle_answer).
    bool retried = false;
};

struct node::serving_slot {
    task<lidl::serve_result> work;
    bool busy = false;
    char source[max_node_name] = {};
    std::size_t source_size = 0;
    std::uint64_t correlation = 0;
    caplets::tag_bytes holder_tag{};
    caplets::tag_bytes request_tag{};
    bool sealed = false; // the request was: the reply is sealed with `key`
    pair_key key{};
    byte_span arguments;
    std::optional<lidl::builder> response;
    std::optional<lidl::builder> spare;

    std::string_view source_name() const { return {source, source_size}; }
};

// One caller's verified credential (docs/remote.md, "Verified credentials"). The name only
// finds the slot; whether the remembered frames are used is decided by caplets on their bytes.
struct node::verified_caller {
    char caller[max_node_name] = {};
    std::size_t caller_size = 0;
    std::uint64_t used = 0; // verified_clock_ when a request through this slot was accepted
    std::optional<caplets::verified_prefix> prefix;

    std::string_view caller_name() const { return {caller, caller_size}; }
};

namespace {

// Bounds node_config::verified_callers (the memory is verified_callers × credential bytes).
constexpr std::size_t max_verified_callers = 4096;

constexpr std::size_t round_up(std::size_t size) {
    return (size + 7) & ~std::size_t{7};
}

// The lidl::call_error of an error the network answered with; `code` keeps the status.
std::optional<lidl::call_error> error_for(status_code status) {
    lidl::call_fault fault = lidl::call_fault::malformed_reply;
    switch (status) {
    case status_code::ok:
        return std::nullopt;
    case status_code::unknown_service:
    case status_code::no_route:
    case status_code::hop_limit_exceeded:
        fault = lidl::call_fault::unreachable;
        break;
    case status_code::unknown_procedure:
        fault = lidl::call_fault::unknown_procedure;
        break;
    case status_code::denied:
        fault = lidl::call_fault::refused;
        break;
    case status_code::bad_arguments:
        fault = lidl::call_fault::malformed_call;
        break;
    case status_code::service_failure:
        fault = lidl::call_fault::callee_error;
        break;
    case status_code::busy:
        fault = lidl::call_fault::busy;
        break;
    }
    return lidl::call_error{fault, static_cast<std::uint32_t>(status)};
}

incident about(incident_kind kind, link_id link = 0xffff, std::string_view source = {},
               std::string_view destination = {}, std::string_view service = {},
               std::string_view procedure = {}) {
    incident what{};
    what.kind = kind;
    what.link = link;
    what.source = source;
    what.destination = destination;
    what.service = service;
    what.procedure = procedure;
    return what;
}

void wipe_pending(caplets::verification_details& details) {
    for (auto& pending : details.sequences) {
        crypto::secure_zero(std::span(pending.key.root));
        crypto::secure_zero(std::span(pending.key.holder));
    }
}

// One part of the CAPLets work on a request, told to node_config::meter (nothing at all when it
// is unset). Ends as refused unless finish() said otherwise first, so that every early return
// ends the part.
class metered_part {
public:
    metered_part(verification_meter* meter, verification_meter::part what)
        : meter_(meter), what_(what) {
        if (meter_ != nullptr)
            meter_->begin(what_);
    }
    ~metered_part() { finish(false, false); }
    metered_part(const metered_part&) = delete;
    metered_part& operator=(const metered_part&) = delete;
    void finish(bool passed, bool from_verified_credential) {
        if (meter_ == nullptr)
            return;
        meter_->end(what_, passed, from_verified_credential);
        meter_ = nullptr;
    }

private:
    verification_meter* meter_;
    verification_meter::part what_;
};

bool has_sequence(const caplets::frame& leaf) {
    for (const caplets::constraint& c : leaf.constraints)
        if (c.sequence() != nullptr)
            return true;
    return false;
}

// The credential's root frame names the node it was minted for.
bool names_source(const caplets::frame& root, std::string_view source) {
    for (const caplets::capability& c : root.capabilities)
        if (const caplets::identity_capability* identity = c.identity())
            if (identity->id.view() == source)
                return true;
    return false;
}

} // namespace

result<std::unique_ptr<node>, config_error> node::create(const node_config& config,
                                                         link_output& links, clock_source& clock,
                                                         incident_sink* incidents) {
    std::unique_ptr<node> made(new (std::nothrow) node(config, links, clock, incidents));
    if (!made)
        return failure{config_error::out_of_memory};
    config_error error = made->prepare();
    if (error != config_error{})
        return failure{error};
    return made;
}

node::node(const node_config& config, link_output& links, clock_source& clock,
           incident_sink* incidents)
    : config_(config), links_(links), clock_(clock), incidents_(incidents) {}

node::~node() {
    if (peers_)
        for (std::size_t i = 0; i < config_.credentials.size(); ++i)
            crypto::secure_zero(peers_[i].key);
    if (serving_)
        for (std::size_t i = 0; i < config_.max_serving; ++i)
            crypto::secure_zero(serving_[i].key);
}

config_error node::prepare() {
    const node_config& c = config_;
    if (!valid_node_name(c.name))
        return config_error::bad_name;
    for (const route_entry& route : c.routes)
        if (!valid_node_name(route.destination))
            return config_error::bad_name;
    if (c.max_message_size < 1024 || c.max_message_size > (std::size_t{1} << 30) ||
        c.max_serving == 0 || c.max_calls == 0 || c.hop_limit == 0 ||
        c.verified_callers > max_verified_callers ||
        c.verified_credential_bytes > c.max_message_size)
        return config_error::bad_sizes;
    if (c.verification_key == nullptr)
        config_.verified_callers = 0; // verifies nothing: remembers nothing

    const std::size_t message = round_up(c.max_message_size);
    std::size_t credential_bytes = 0;
    for (const credential_entry& credential : c.credentials) {
        if (!valid_node_name(credential.destination))
            return config_error::bad_name;
        credential_bytes += round_up(credential.token.size());
    }
    const std::size_t verified_bytes = c.verified_callers * round_up(c.verified_credential_bytes);
    // receive, send, call, frame; three per serving slot; the credentials; verified credentials.
    const std::size_t total = message * (4 + 3 * c.max_serving) + credential_bytes + verified_bytes;
    memory_.reset(new (std::nothrow) std::uint64_t[total / 8]());
    peers_.reset(new (std::nothrow) peer[c.credentials.size()]);
    exports_.reset(new (std::nothrow) export_entry[c.max_exports]);
    calls_.reset(new (std::nothrow) pending_call[c.max_calls]);
    serving_.reset(new (std::nothrow) serving_slot[c.max_serving]);
    if (c.verified_callers > 0)
        verified_.reset(new (std::nothrow) verified_caller[c.verified_callers]);
    if (!memory_ || !peers_ || !exports_ || !calls_ || !serving_ ||
        (c.verified_callers > 0 && !verified_))
        return config_error::out_of_memory;
    if (c.sequences != nullptr) {
        sequences_ = c.sequences;
    } else {
        own_sequences_.reset(new (std::nothrow) bounded_sequence_store(
            c.max_callers, c.sequence_floor, c.holders_per_caller));
        if (!own_sequences_ || own_sequences_->capacity() != c.max_callers)
            return config_error::out_of_memory;
        sequences_ = own_sequences_.get();
    }

    auto* base = reinterpret_cast<std::uint8_t*>(memory_.get());
    std::size_t used = 0;
    auto take = [&](std::size_t size) {
        byte_span part(base + used, size);
        used += round_up(size);
        return part;
    };
    receive_buffer_ = take(message);
    send_buffer_ = take(message);
    call_buffer_ = take(message);
    frame_buffer_ = take(message);
    for (std::size_t i = 0; i < c.max_serving; ++i) {
        serving_slot& slot = serving_[i];
        slot.arguments = take(message);
        slot.response.emplace(take(message));
        slot.spare.emplace(take(message));
    }
    for (std::size_t i = 0; i < c.verified_callers; ++i)
        verified_[i].prefix.emplace(take(c.verified_credential_bytes));
    if (c.verification_key != nullptr)
        verified_under_.bytes = c.verification_key->bytes;
    for (std::size_t i = 0; i < c.credentials.size(); ++i) {
        const credential_entry& credential = c.credentials[i];
        peer& target = peers_[i];
        target.destination = credential.destination;
        target.token_bytes = take(credential.token.size());
        std::memcpy(target.token_bytes.data(), credential.token.data(), credential.token.size());
        auto parsed = caplets::token_view::parse(target.token_bytes);
        if (!parsed)
            return config_error::bad_credential;
        target.holder_tag = parsed->tag();
        target.link = route_to(credential.destination);
        target.encrypt = credential.encrypt;
        if (credential.encrypt) {
            auto key = pair_key_of_credential(*parsed, scratch());
            if (!key)
                return config_error::bad_credential;
            target.key = *key;
        }
    }
    for (std::string_view caller : c.encrypted_callers)
        if (!valid_node_name(caller))
            return config_error::bad_name;
    std::uint8_t seed[8];
    if (crypto::random_bytes(seed)) {
        // Random first correlation: an off-path attacker cannot guess which ids are in flight.
        std::memcpy(&next_correlation_, seed, sizeof seed);
    }
    return config_error{};
}

byte_span node::scratch() {
    // send, call and frame buffers are consecutive: scratch for key derivation, used only where
    // none of them holds anything yet (before a request is answered, at start-up).
    return {send_buffer_.data(),
            static_cast<std::size_t>(frame_buffer_.data() + frame_buffer_.size() -
                                     send_buffer_.data())};
}

node::verified_caller* node::verified_slot(std::string_view caller) {
    if (!verified_)
        return nullptr;
    // Remembered credentials hold only under the key they were verified with: if the key
    // changed in place, forget them all (constant time: the key is a secret).
    if (!crypto::constant_time_equal(verified_under_.bytes, config_.verification_key->bytes)) {
        for (std::size_t i = 0; i < config_.verified_callers; ++i) {
            verified_[i].prefix->clear();
            verified_[i].caller_size = 0;
            verified_[i].used = 0;
        }
        verified_under_.bytes = config_.verification_key->bytes;
    }
    verified_caller* oldest = &verified_[0];
    for (std::size_t i = 0; i < config_.verified_callers; ++i) {
        verified_caller& slot = verified_[i];
        if (slot.caller_name() == caller)
            return &slot;
        if (slot.used < oldest->used)
            oldest = &slot;
    }
    return oldest;
}

std::size_t node::verified_credentials() const {
    std::size_t count = 0;
    for (std::size_t i = 0; verified_ && i < config_.verified_callers; ++i)
        count += verified_[i].prefix->empty() ? 0 : 1;
    return count;
}

bool node::must_encrypt(std::string_view caller) const {
    for (std::string_view name : config_.encrypted_callers)
        if (name == caller)
            return true;
    return false;
}

bool node::export_service(std::string_view name, exported_service& service) {
    if (export_count_ == config_.max_exports || name.empty())
        return false;
    for (std::size_t i = 0; i < export_count_; ++i)
        if (exports_[i].name == name)
            return false;
    exports_[export_count_++] = export_entry{name, &service};
    return true;
}

std::optional<std::size_t> node::find_peer(std::string_view destination) const {
    for (std::size_t i = 0; i < config_.credentials.size(); ++i)
        if (peers_[i].destination == destination)
            return i;
    return std::nullopt;
}

std::optional<link_id> node::route_to(std::string_view destination) const {
    if (destination == config_.name)
        return std::nullopt;
    for (const route_entry& route : config_.routes)
        if (route.destination == destination)
            return route.next_hop;
    return std::nullopt;
}

std::size_t node::calls_in_flight() const {
    return static_cast<std::size_t>(std::count_if(calls_.get(), calls_.get() + config_.max_calls,
                                                  [](const pending_call& c) { return c.active; }));
}

std::size_t node::requests_in_service() const {
    return static_cast<std::size_t>(std::count_if(serving_.get(),
                                                  serving_.get() + config_.max_serving,
                                                  [](const serving_slot& s) { return s.busy; }));
}

void node::report(incident what) {
    if (incidents_ != nullptr)
        incidents_->report(what);
}

// The farthest above our clock (µs) a callee's refusal may move our numbers: the window a
// durable replay store accepts (hosted/remote/durable_replay.hpp, max_ahead).
constexpr std::uint64_t max_sequence_jump = 600'000'000;

std::uint64_t node::next_sequence() {
    // Time-based, so that a restarted caller needs no state; strictly increasing regardless.
    last_sequence_ = std::max(clock_.unix_microseconds(), last_sequence_ + 1);
    return last_sequence_;
}

// --- calling ------------------------------------------------------------------------------------

bool node::issue(std::size_t peer_index, std::string_view service, const outgoing_call& call,
                 std::coroutine_handle<> waiting) {
    auto fail_now = [&](lidl::call_fault why) {
        call.fail(call.result_slot, lidl::call_error{why});
        ++counters_.calls_failed;
        return false;
    };
    if (peer_index >= config_.credentials.size())
        return fail_now(lidl::call_fault::refused);
    peer& target = peers_[peer_index];
    if (!target.link)
        return fail_now(lidl::call_fault::unreachable);
    pending_call* slot = nullptr;
    for (std::size_t i = 0; i < config_.max_calls && slot == nullptr; ++i)
        if (!calls_[i].active)
            slot = &calls_[i];
    if (slot == nullptr)
        return fail_now(lidl::call_fault::busy);

    // A sealed call is encrypted in place: the message is encoded after room for the sealed
    // header and nonce (rounded so that the message stays 8-byte aligned).
    constexpr std::size_t sealed_room = round_up(sealed_call_overhead);
    const std::size_t call_offset = target.encrypt ? sealed_room : 0;
    lidl::builder call_out(call_buffer_.subspan(call_offset));
    if (!call.encode(call.procedure, call.params, call_out) || call_out.failed())
        return fail_now(lidl::call_fault::call_too_large);
    byte_view call_message = call_out.written();
    if (target.encrypt) {
        auto sealed = seal_call_in_place(
            target.key, call_buffer_.subspan(sealed_room - sealed_call_overhead),
            call_message.size());
        if (!sealed) {
            report(about(incident_kind::sealing_failed, *target.link, config_.name,
                         target.destination, service, call.procedure_name));
            return fail_now(lidl::call_fault::unreachable);
        }
        call_message = *sealed;
    }
    auto credential = caplets::token_view::parse(target.token_bytes);
    AMB_ASSERT(credential.has_value(), "a credential parsed at start-up no longer parses");
    caplets::frame_spec request;
    if (!request.add_call_request(service, call.procedure_name, call_message) ||
        !request.inherit_constraints(credential->leaf()) || !request.add_sequence(next_sequence()))
        return fail_now(lidl::call_fault::call_too_large);
    lidl::builder frame_out(frame_buffer_);
    auto frame = request.write(frame_out);
    if (!frame)
        return fail_now(lidl::call_fault::call_too_large);

    const std::uint64_t correlation = next_correlation_++;
    envelope_fields fields;
    fields.kind = message_kind::request;
    fields.hop_limit = config_.hop_limit;
    fields.correlation = correlation;
    fields.source = config_.name;
    fields.destination = target.destination;
    envelope_writer writer;
    if (!writer.start(send_buffer_, fields))
        return fail_now(lidl::call_fault::call_too_large);
    lidl::builder token_out(writer.body());
    auto token = caplets::derive(*credential, *frame, token_out);
    if (!token)
        return fail_now(lidl::call_fault::call_too_large);
    auto sent = caplets::token_view::parse(*token);
    AMB_ASSERT(sent.has_value(), "a derived token does not parse");
    if (!links_.send(*target.link, writer.finish(token->size()))) {
        report(about(incident_kind::send_failed, *target.link, config_.name, target.destination,
                     service, call.procedure_name));
        return fail_now(lidl::call_fault::unreachable);
    }
    slot->active = true;
    slot->correlation = correlation;
    slot->peer = peer_index;
    slot->link = *target.link;
    slot->deadline = clock_.monotonic() + (call.timeout > loop_clock::duration::zero()
                                               ? call.timeout
                                               : config_.call_timeout);
    slot->request_tag = sent->tag();
    slot->sealed = target.encrypt;
    slot->call = call;
    slot->service = service;
    slot->waiting = waiting;
    slot->retried = false;
    ++counters_.calls_issued;
    return true;
}

void node::retry(pending_call& call) {
    pending_call again = call;
    call.active = false;
    const std::uint64_t correlation = next_correlation_;
    if (!issue(again.peer, again.service, again.call, again.waiting)) {
        // issue() failed the call (error set, result filled); the caller is suspended on it.
        if (again.waiting)
            again.waiting.resume();
        return;
    }
    for (std::size_t i = 0; i < config_.max_calls; ++i)
        if (calls_[i].active && calls_[i].correlation == correlation)
            calls_[i].retried = true;
}

void node::complete(pending_call& call, std::optional<lidl::call_error> error) {
    pending_call done = call;
    call.active = false;
    if (error) {
        done.call.fail(done.call.result_slot, *error);
        ++counters_.calls_failed;
    } else {
        ++counters_.calls_completed;
    }
    // Last: the caller may issue new calls (into any free slot) or finish entirely.
    if (done.waiting)
        done.waiting.resume();
}

void node::on_link_failure(link_id link) {
    for (std::size_t i = 0; i < config_.max_calls; ++i)
        if (calls_[i].active && calls_[i].link == link)
            complete(calls_[i], lidl::call_error{lidl::call_fault::unreachable});
}

std::size_t node::poll() {
    std::size_t done = 0;
    for (std::size_t i = 0; i < config_.max_serving; ++i) {
        if (serving_[i].busy && serving_[i].work.done()) {
            finish_serving(serving_[i]);
            ++done;
        }
    }
    const loop_clock::time_point now = clock_.monotonic();
    for (std::size_t i = 0; i < config_.max_calls; ++i) {
        if (calls_[i].active && calls_[i].deadline <= now) {
            complete(calls_[i], lidl::call_error{lidl::call_fault::deadline_passed});
            ++done;
        }
    }
    return done;
}

loop_clock::time_point node::next_deadline() const {
    loop_clock::time_point earliest = loop_clock::time_point::max();
    for (std::size_t i = 0; i < config_.max_calls; ++i)
        if (calls_[i].active)
            earliest = std::min(earliest, calls_[i].deadline);
    return earliest;
}

// --- receiving ----------------------------------------------------------------------------------

void node::on_packet(link_id link, byte_view packet) {
    ++counters_.packets_received;
    if (packet.size() > receive_buffer_.size()) {
        ++counters_.packets_malformed;
        report(about(incident_kind::packet_too_large, link));
        return;
    }
    // A private, aligned copy: the link's buffer may be unaligned, and nobody else can change
    // this one between the checks and the use.
    std::memcpy(receive_buffer_.data(), packet.data(), packet.size());
    auto parsed = parse_envelope(receive_buffer_.first(packet.size()));
    if (!parsed) {
        ++counters_.packets_malformed;
        incident what = about(incident_kind::malformed_packet, link);
        what.envelope = parsed.error();
        report(what);
        return;
    }
    const envelope_view& view = *parsed;
    if (view.destination != config_.name)
        return forward(link, view);
    if (view.header->kind == message_kind::request)
        return handle_request(link, view);
    handle_answer(link, view);
}

void node::forward(link_id link, const envelope_view& packet) {
    if (packet.header->hop_limit <= 1) {
        report(about(incident_kind::hop_limit_exceeded, link, packet.source, packet.destination));
        return answer_error(packet, status_code::hop_limit_exceeded);
    }
    auto next = route_to(packet.destination);
    if (!next) {
        report(about(incident_kind::no_route, link, packet.source, packet.destination));
        return answer_error(packet, status_code::no_route);
    }
    // The packet is our private copy: decrement in place and send it on as it is.
    auto* header = const_cast<envelope*>(packet.header);
    header->hop_limit = static_cast<std::uint8_t>(header->hop_limit - 1);
    const std::size_t size = header->body_offset + packet.body.size();
    if (!links_.send(*next, receive_buffer_.first(size))) {
        report(about(incident_kind::send_failed, *next, packet.source, packet.destination));
        return;
    }
    ++counters_.forwarded;
}

void node::answer_error(const envelope_view& packet, status_code status, byte_view body) {
    // Only requests are answered: answering an answer could start a loop between two nodes.
    if (packet.header->kind != message_kind::request)
        return;
    send_answer(packet.source, packet.header->correlation, status, body, nullptr, nullptr);
}

void node::send_answer(std::string_view to, std::uint64_t correlation, status_code status,
                       byte_view body, const caplets::tag_bytes* holder_tag,
                       const caplets::tag_bytes* request_tag, const pair_key* seal_key) {
    // An answer to this node itself (a hop limit reached here on the way out) is delivered
    // locally; anything else goes on the route to its destination.
    const bool local = to == config_.name;
    auto next = route_to(to);
    if (!next && !local) {
        report(about(incident_kind::no_route, 0xffff, config_.name, to));
        return;
    }
    envelope_fields fields;
    fields.kind = status == status_code::ok ? message_kind::reply : message_kind::error;
    fields.status = status;
    fields.hop_limit = config_.hop_limit;
    fields.correlation = correlation;
    fields.source = config_.name;
    fields.destination = to;
    const bool seal = seal_key != nullptr && request_tag != nullptr && !body.empty();
    const std::size_t body_size = body.size() + (seal ? sealed_header_size : 0);
    envelope_writer writer;
    if (!writer.start(send_buffer_, fields) || body_size > writer.body().size()) {
        if (status != status_code::ok)
            return;
        // A reply too large for a packet becomes an error the caller can see.
        return send_answer(to, correlation, status_code::service_failure, {}, holder_tag,
                           request_tag);
    }
    if (seal) {
        // `body` is in a serving slot's builder, never in the send buffer.
        if (!seal_reply(*seal_key, *request_tag, body, writer.body())) {
            report(about(incident_kind::sealing_failed, 0xffff, config_.name, to));
            return send_answer(to, correlation, status_code::service_failure, {}, holder_tag,
                               request_tag);
        }
    } else if (!body.empty()) {
        std::memcpy(writer.body().data(), body.data(), body.size());
    }
    // The MAC covers what is sent: the sealed body (encrypt, then MAC).
    const byte_view sent_body = writer.body().first(body_size);
    if (holder_tag != nullptr && request_tag != nullptr)
        writer.set_mac(reply_mac(*holder_tag, *request_tag, fields.kind, status, correlation,
                                 config_.name, to, sent_body),
                       true);
    if (local) {
        // The packet being handled (in the receive buffer) is no longer needed by the callers.
        on_packet(0xffff, writer.finish(body_size));
        return;
    }
    if (!links_.send(*next, writer.finish(body_size))) {
        report(about(incident_kind::send_failed, *next, config_.name, to));
        return;
    }
    if (status == status_code::ok)
        ++counters_.replies_sent;
    else
        ++counters_.errors_sent;
}

void node::handle_request(link_id link, const envelope_view& packet) {
    metered_part verifying(config_.meter, verification_meter::part::verify);
    incident what = about(incident_kind::request_denied, link, packet.source, packet.destination);
    // A refusal tells the caller its reason class (one byte), never which check failed.
    auto refuse = [&](incident_kind kind, status_code status,
                      lidl::refusal reason = lidl::refusal::unspecified) {
        verifying.finish(false, false);
        ++counters_.requests_refused;
        what.kind = kind;
        report(what);
        const std::uint8_t body[1] = {static_cast<std::uint8_t>(reason)};
        answer_error(packet, status,
                     status == status_code::denied ? byte_view(body) : byte_view());
    };
    if (config_.verification_key == nullptr)
        return refuse(incident_kind::no_verification_key, status_code::denied,
                      lidl::refusal::node_policy);
    // The body is 8-byte aligned inside our private copy: the token is read in place.
    auto token = caplets::token_view::parse(packet.body);
    if (!token) {
        what.token = token.error();
        return refuse(incident_kind::request_denied, status_code::denied,
                      caplets::refusal_of(token.error().what));
    }
    // Cheap structural checks first; none of them consumes the sequence number.
    if (token->frame_count() < 2 || !names_source(token->frame_at(0), packet.source))
        return refuse(incident_kind::source_mismatch, status_code::denied,
                      lidl::refusal::node_policy);
    if (!has_sequence(token->leaf()))
        return refuse(incident_kind::missing_sequence, status_code::denied,
                      lidl::refusal::node_policy);
    serving_slot* slot = nullptr;
    for (std::size_t i = 0; i < config_.max_serving && slot == nullptr; ++i)
        if (!serving_[i].busy)
            slot = &serving_[i];
    if (slot == nullptr)
        return refuse(incident_kind::busy, status_code::busy);

    // The caller's verified credential, if any: caplets uses it only when the request carries
    // exactly its bytes, and refills it only when the request passes every check.
    verified_caller* remembered = verified_slot(packet.source);
    caplets::verify_context context;
    context.now = clock_.unix_microseconds() / 1000000;
    context.revoked = config_.revoked;
    // A request is bound to this node by its key, which is this node's alone (derived from the
    // deployment root and the node name: docs/remote.md, "Keys"), so a request captured on its
    // way to another node fails its tag here; naming an audience as well would cost every
    // request a hash block. A token that does name one must name this node.
    context.audience = config_.name;
    context.sequences = sequences_;
    // Recorded below, once the service, procedure, arguments and sealing checked out: a request
    // refused for any of them does not consume its number (nor anyone's entry in the store).
    context.defer_sequences = true;
    context.prefix = remembered != nullptr ? &*remembered->prefix : nullptr;
    caplets::verification_details details;
    auto granted = caplets::verify_request(*config_.verification_key, *token, context, &details);
    if (!granted) {
        what.token = granted.error();
        return refuse(incident_kind::request_denied, status_code::denied,
                      caplets::refusal_of(granted.error().what));
    }
    // The details hold the credential's tags: wiped on every way out.
    struct wipe_details {
        caplets::verification_details& details;
        ~wipe_details() {
            crypto::secure_zero(std::span(details.holder));
            wipe_pending(details);
        }
    } wiped{details};
    if (remembered != nullptr) {
        // The slot is this caller's now (it may have been the least recently used one).
        std::memcpy(remembered->caller, packet.source.data(), packet.source.size());
        remembered->caller_size = packet.source.size();
        remembered->used = ++verified_clock_;
    }
    // Verified: from here on, errors are authenticated with the caller's credential tag, which
    // verification computed (the chain up to the frame before the request).
    const caplets::tag_bytes holder_tag = details.holder;
    const caplets::tag_bytes request_tag = token->tag();
    auto refuse_verified = [&](incident_kind kind, status_code status) {
        ++counters_.requests_refused;
        what.kind = kind;
        report(what);
        const std::uint8_t body[1] = {static_cast<std::uint8_t>(lidl::refusal::node_policy)};
        send_answer(packet.source, packet.header->correlation, status,
                    status == status_code::denied ? byte_view(body) : byte_view(), &holder_tag,
                    &request_tag);
    };
    // A replayed (or overtaken) number: refused with the last accepted number in the body,
    // authenticated like every answer to a verified request, so that the caller can jump above
    // it (after this node restarted with a floor above the caller's clock, say).
    auto refuse_sequence = [&](const caplets::reason& why) {
        verifying.finish(false, false);
        ++counters_.requests_refused;
        what.kind = incident_kind::request_denied;
        what.token = why;
        report(what);
        // Eight bytes: the number (the class is `replayed`); one byte: the class.
        std::uint8_t body[8];
        for (int i = 0; i < 8; ++i)
            body[i] = static_cast<std::uint8_t>(why.current_sequence >> (8 * i));
        const std::uint8_t reason[1] = {static_cast<std::uint8_t>(caplets::refusal_of(why.what))};
        send_answer(packet.source, packet.header->correlation, status_code::denied,
                    why.what == caplets::check::sequence_replayed ? byte_view(body)
                                                                   : byte_view(reason),
                    &holder_tag, &request_tag);
    };
    if (auto fresh = caplets::check_sequences(context, details); !fresh)
        return refuse_sequence(fresh.error());
    verifying.finish(true, details.reused_frames > 0);
    const caplets::call_request* call = (*granted)->call_request();
    if (call == nullptr)
        return refuse_verified(incident_kind::not_a_call, status_code::denied);
    what.service = call->service.view();
    what.procedure = call->procedure.view();
    // Sealed or not is authenticated (the first byte of the call message, under the tag).
    const auto arguments = call->arguments.view();
    const bool sealed = is_sealed(arguments);
    if (!sealed && must_encrypt(packet.source))
        return refuse_verified(incident_kind::unencrypted_request, status_code::denied);
    exported_service* service = nullptr;
    for (std::size_t i = 0; i < export_count_ && service == nullptr; ++i)
        if (exports_[i].name == call->service.view())
            service = exports_[i].service;
    if (service == nullptr)
        return refuse_verified(incident_kind::unknown_service, status_code::unknown_service);
    auto procedure = service->find_procedure(call->procedure.view());
    if (!procedure)
        return refuse_verified(incident_kind::unknown_procedure, status_code::unknown_procedure);
    if (arguments.size() > slot->arguments.size())
        return refuse_verified(incident_kind::bad_arguments, status_code::bad_arguments);

    // The arguments are copied (or opened) into an aligned buffer of the slot: they must
    // outlive this packet.
    std::size_t argument_size = arguments.size();
    if (sealed) {
        auto key = pair_key_of_request(*config_.verification_key, *token, scratch());
        if (!key)
            return refuse_verified(incident_kind::sealing_failed, status_code::bad_arguments);
        auto opened = open_call(*key, arguments, slot->arguments);
        if (!opened) {
            crypto::secure_zero(*key);
            return refuse_verified(incident_kind::sealing_failed, status_code::bad_arguments);
        }
        argument_size = opened->size();
        slot->key = *key;
        crypto::secure_zero(*key);
    } else {
        std::memcpy(slot->arguments.data(), arguments.data(), arguments.size());
    }
    // Every check passed: only now is the number consumed (docs/remote.md, "Replay").
    metered_part recording(config_.meter, verification_meter::part::record);
    auto recorded = caplets::commit_sequences(context, details);
    recording.finish(recorded.has_value(), false);
    if (!recorded) {
        crypto::secure_zero(slot->key);
        return refuse_sequence(recorded.error());
    }
    slot->sealed = sealed;
    std::memcpy(slot->source, packet.source.data(), packet.source.size());
    slot->source_size = packet.source.size();
    slot->correlation = packet.header->correlation;
    slot->holder_tag = holder_tag;
    slot->request_tag = request_tag;
    slot->response->reset();
    slot->spare->reset();
    slot->work = service->serve(*procedure, slot->arguments.first(argument_size),
                                *slot->response, *slot->spare);
    if (!slot->work.valid())
        return refuse_verified(incident_kind::service_failure, status_code::service_failure);
    ++counters_.requests_accepted;
    if (sealed)
        ++counters_.requests_sealed;
    if (details.reused_frames > 0)
        ++counters_.requests_from_verified_credential;
    slot->busy = true;
    slot->work.start();
    // A procedure that completes at once is answered at once; others from poll().
    if (slot->work.done())
        finish_serving(*slot);
}

void node::finish_serving(serving_slot& slot) {
    lidl::serve_result served = slot.work.take_result();
    status_code status = status_code::ok;
    byte_view reply;
    std::array<std::uint8_t, lidl::returned_error_size> returned{};
    if (served) {
        reply = served.value();
    } else {
        // handle_request checked the procedure; an export that disagrees is still answered.
        if (served.error().what == lidl::call_fault::malformed_call) {
            status = status_code::bad_arguments;
        } else if (served.error().what == lidl::call_fault::unknown_procedure) {
            status = status_code::unknown_procedure;
        } else {
            // The error the procedure returned (or reply_too_large) travels as it is: fault and
            // code, little-endian, in the (authenticated, never sealed) error body.
            status = status_code::service_failure;
            returned = lidl::encode_returned(served.error());
            reply = returned;
        }
        incident what = about(status == status_code::bad_arguments
                                  ? incident_kind::bad_arguments
                                  : incident_kind::service_failure);
        what.source = slot.source_name();
        report(what);
    }
    send_answer(slot.source_name(), slot.correlation, status, reply, &slot.holder_tag,
                &slot.request_tag,
                slot.sealed && status == status_code::ok ? &slot.key : nullptr);
    crypto::secure_zero(slot.key);
    slot.sealed = false;
    slot.work = task<lidl::serve_result>();
    slot.busy = false;
}

void node::handle_answer(link_id link, const envelope_view& packet) {
    const std::uint64_t correlation = packet.header->correlation;
    pending_call* call = nullptr;
    for (std::size_t i = 0; i < config_.max_calls && call == nullptr; ++i)
        if (calls_[i].active && calls_[i].correlation == correlation)
            call = &calls_[i];
    if (call == nullptr) {
        ++counters_.replies_dropped;
        report(about(incident_kind::reply_unmatched, link, packet.source, packet.destination));
        return;
    }
    const peer& target = peers_[call->peer];
    if (packet.header->authenticated) {
        mac_bytes expected = reply_mac(target.holder_tag, call->request_tag, packet.header->kind,
                                       packet.header->status, correlation, packet.source,
                                       packet.destination, packet.body);
        if (!crypto::constant_time_equal(expected, packet.header->mac)) {
            ++counters_.replies_dropped;
            report(about(incident_kind::reply_bad_mac, link, packet.source, packet.destination));
            return; // the call waits for the real answer or its deadline
        }
    }
    // An unauthenticated error (from a relay, or from a node that could not verify the request)
    // is believed: whoever can inject it could as well drop the request (docs/remote.md).
    if (packet.header->kind == message_kind::error) {
        // An authenticated refusal of our sequence number carries the last one the callee
        // accepted: go above it, so that the next call passes (a restarted callee's floor can
        // be ahead of our clock). Unauthenticated ones are ignored: anyone could send them.
        if (packet.header->authenticated && packet.header->status == status_code::denied &&
            packet.body.size() == 8) {
            std::uint64_t current = 0;
            for (int i = 0; i < 8; ++i)
                current |= std::uint64_t{packet.body[i]} << (8 * i);
            // Resend only when the callee's number is above every number this node ever sent:
            // then it cannot be a duplicate of this very request that the callee refused after
            // serving the original (a duplicating network would otherwise run the call twice).
            // And only within max_sequence_jump of our clock: a hostile callee must not push
            // our numbers, for every peer, to the end of the space.
            const bool above_ours = current > last_sequence_;
            const bool plausible = current <= clock_.unix_microseconds() + max_sequence_jump;
            if (above_ours && plausible) {
                last_sequence_ = current;
                if (!call->retried)
                    return retry(*call);
            }
        }
        // A refusal names its reason class: one byte, or the eight of a replayed number.
        if (packet.header->status == status_code::denied) {
            lidl::refusal reason = lidl::refusal::unspecified;
            if (packet.body.size() == 8)
                reason = lidl::refusal::replayed;
            else if (packet.body.size() == 1)
                reason = lidl::refusal_of_code(packet.body[0]).value_or(reason);
            return complete(*call, lidl::call_error{lidl::call_fault::refused,
                                                    static_cast<std::uint32_t>(reason)});
        }
        // An authenticated service failure carries the error the procedure returned.
        if (packet.header->authenticated && packet.header->status == status_code::service_failure)
            if (auto returned = lidl::decode_returned(packet.body))
                return complete(*call, *returned);
        return complete(*call, error_for(packet.header->status));
    }
    byte_view reply = packet.body;
    if (call->sealed) {
        // Authenticated above; a plaintext reply to a sealed call is refused as undecodable.
        auto opened = open_reply(target.key, call->request_tag, packet.body, call_buffer_);
        if (!opened)
            return complete(*call, lidl::call_error{lidl::call_fault::malformed_reply});
        reply = *opened;
    }
    auto decoded = call->call.decode(call->call.procedure, reply, call->call.params,
                                     call->call.result_slot);
    if (!decoded)
        return complete(*call, lidl::call_error{lidl::call_fault::malformed_reply, 0,
                                                decoded.error()});
    complete(*call, std::nullopt);
}

} // namespace amb::remote

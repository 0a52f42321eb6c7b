// A node's network side (DESIGN.md §3 case 3, docs/remote.md): receives packets from its links,
// forwards those meant for other nodes, verifies requests for itself before anything is decoded
// and serves them through exported services, and carries its own outgoing calls (made through
// `remote_backend<S>`) to other nodes and back.
//
//     remote::node_config config;                 // written by the deployment tool's glue
//     config.name = "kitchen";
//     config.routes = routes;                     // destination node → next-hop link
//     config.credentials = credentials;           // one per node this node calls
//     config.verification_key = &key;             // null for a node that exports nothing
//     auto node = remote::node::create(config, links, clock, &log);
//     (*node)->export_service("thermostat", exported);
//     ... the port's loop: (*node)->on_packet(link, bytes) for each packet received,
//         (*node)->on_link_failure(link) when a link gives up, (*node)->poll() regularly and by
//         next_deadline().
//
// Portable: no sockets, no clock reads (`clock_source`), no allocation after `create` (frames
// of serving tasks come from the task allocator). A serving node remembers the verified
// credential of its recent callers (`node_config::verified_callers`) and then verifies only the
// request frame of their requests, with the same outcome as a full verification. Links are numbers the port assigns; the node
// sends through `link_output`. Everything received is untrusted: a packet that fails any check
// is dropped or answered with a coarse error and reported once to the `incident_sink`, and
// leaves the node's state as it was (apart from counters).
//
// Measurement hook (benchmarks, profiling): `node_config::meter`, when set, is told where the
// node's CAPLets work on each request starts and ends, in the real serving path, so that it can
// time it (the node reads no clock itself). Unset (null, the default) it costs one pointer test
// per part; no allocation either way.
//
// Threading: one thread (the loop's). Reentrancy: completing a call resumes the calling
// coroutine inside on_packet/on_link_failure/poll; it may issue new calls from there.
#pragma once

#include <remote/envelope.hpp>
#include <remote/exports.hpp>
#include <remote/replay.hpp>
#include <remote/sealing.hpp>

#include <base/result.hpp>
#include <caplets/caplets.hpp>
#include <runtime/event_loop.hpp>

#include <chrono>
#include <coroutine>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string_view>

namespace amb::remote {

/// A link of this node, numbered by the port.
using link_id = std::uint16_t;

/// How to reach `destination`: send to the neighbour at the end of `next_hop`.
struct route_entry {
    std::string_view destination;
    link_id next_hop = 0;
};

/// The credential this node presents to `destination` (a token from mint_credential). With
/// `encrypt`, the arguments and results of every call to `destination` are sealed
/// (docs/remote.md, "Encryption"): the deployment tool sets it when the route crosses a network
/// marked `encrypt=True`.
struct credential_entry {
    std::string_view destination;
    byte_view token;
    bool encrypt = false;
};

// An outgoing call that fails completes with a `lidl::call_error` in its result slot: found here, no_credential and refused, no link or route and unreachable, the
// request or token too large and call_too_large, max_calls in flight and busy, the link
// refusing the packet or giving up and unreachable, no answer by the deadline and
// deadline_passed, a reply that does not decode and malformed_reply. An error answered by the
// network keeps the envelope's status in `code`; an error the procedure itself returned (or one
// of its own calls returned to it) arrives as it was returned, fault and code (docs/remote.md,
// "Errors seen by the caller").

/// Something worth a log line. The node reports; the port decides where it goes.
enum class incident_kind : std::uint8_t {
    malformed_packet = 1, ///< envelope refused (see `envelope`)
    packet_too_large,     ///< above max_message_size
    request_denied,       ///< the token was refused (see `token`: which check, which frame)
    missing_sequence,     ///< the request has no sequence number (replay protection required)
    source_mismatch,      ///< the credential does not name the envelope's source
    not_a_call,           ///< the request token holds a path request, not a call
    no_verification_key,  ///< a request arrived at a node that exports nothing
    unknown_service,
    unknown_procedure,
    bad_arguments,
    service_failure,
    busy,     ///< every serving slot is in use
    no_route, ///< nowhere to forward (or to answer) a message
    hop_limit_exceeded,
    reply_bad_mac,   ///< a reply or error whose MAC is wrong (dropped; the call waits on)
    reply_unmatched, ///< a reply for no call in flight (late, duplicated or forged)
    send_failed,     ///< a link refused a packet this node tried to send
    unencrypted_request, ///< a verified request in plaintext from a caller that must seal
    sealing_failed,      ///< a payload could not be sealed or opened (crypto or size)
};
const char* describe(incident_kind kind);

struct incident {
    incident_kind kind;
    link_id link = 0xffff;   ///< where the packet came from
    std::string_view source; ///< of the packet, when it parsed
    std::string_view destination;
    std::string_view service; ///< of a request, when known
    std::string_view procedure;
    envelope_error envelope = envelope_error::too_short; ///< for malformed_packet
    caplets::reason token{};                             ///< for request_denied
};

class incident_sink {
public:
    virtual void report(const incident& what) = 0;

protected:
    ~incident_sink() = default;
};

/// Sends a packet on a link. Returns false if the link cannot take it now (the packet is then
/// lost; the port copies it if it returns true).
class link_output {
public:
    virtual bool send(link_id link, byte_view packet) = 0;

protected:
    ~link_output() = default;
};

/// Time, from the port.
class clock_source {
public:
    virtual loop_clock::time_point monotonic() = 0;
    /// Wall-clock microseconds since the Unix epoch (token expiry, sequence numbers).
    virtual std::uint64_t unix_microseconds() = 0;

protected:
    ~clock_source() = default;
};

/// Told where the CAPLets work on each request is (see the header comment): per request that
/// reaches verification, one `verify` part (token parse, the structural checks, the verified
/// credential lookup, verify_request and the replay check), and for a request that then passes
/// every check, one `record` part (recording its sequence number). Called from inside on_packet,
/// on the node's thread; must not call back into the node.
class verification_meter {
public:
    enum class part : std::uint8_t { verify, record };
    virtual void begin(part what) = 0;
    /// `passed`: the part accepted the request. `from_verified_credential` (verify): the caller's
    /// credential frames were remembered and not recomputed (a verified-credential cache hit).
    virtual void end(part what, bool passed, bool from_verified_credential) = 0;

protected:
    ~verification_meter() = default;
};

struct node_config {
    /// This node's name (valid_node_name). All strings and byte views in the config must
    /// outlive the node, except credential tokens, which are copied.
    std::string_view name;
    std::span<const route_entry> routes;
    std::span<const credential_entry> credentials;
    /// The key requests to this node are verified with; null when the node exports nothing
    /// (it can still call and forward).
    const caplets::secret_key* verification_key = nullptr;
    /// Revoked credentials (optional, kept by the caller).
    const caplets::revocation_list* revoked = nullptr;
    /// Callers whose requests must be sealed (docs/remote.md, "Encryption"): a verified request
    /// in plaintext from one of them is refused (`denied`, authenticated) before it is decoded.
    /// Sealed requests are accepted from every caller, and always answered sealed.
    std::span<const std::string_view> encrypted_callers;
    /// Replay state; null: a bounded_sequence_store of `max_callers` roots (credentials minted
    /// by this node's key), `holders_per_caller` holders each, starting at `sequence_floor`
    /// (docs/remote.md, "Replay"; the hosted port passes a durable_sequence_store).
    caplets::sequence_store* sequences = nullptr;
    std::size_t max_callers = 64;
    std::size_t holders_per_caller = bounded_sequence_store::default_holders_per_root;
    std::uint64_t sequence_floor = 0;
    /// Largest packet sent or accepted.
    std::size_t max_message_size = 16 * 1024;
    /// Requests served at once (each holds three buffers of max_message_size).
    std::size_t max_serving = 8;
    /// Outgoing calls in flight at once.
    std::size_t max_calls = 64;
    std::size_t max_exports = 16;
    /// Verified credentials (docs/remote.md, "Verified credentials"): for up to this many
    /// callers (least recently verified replaced first), the node remembers the credential
    /// frames of the last request it accepted, byte for byte with their chain tags, and verifies
    /// only the request frame of a request that carries exactly those bytes again. Requests are
    /// accepted and refused exactly as in full verification. 0: every request in full. At most
    /// 4096; ignored (0) without a verification key.
    std::size_t verified_callers = 16;
    /// Bytes of credential frames remembered per caller (allocated at create; at most
    /// max_message_size); a longer credential is verified in full every time.
    std::size_t verified_credential_bytes = 512;
    std::uint8_t hop_limit = default_hop_limit;
    /// How long a call may wait for its answer, unless the call names its own timeout.
    loop_clock::duration call_timeout = std::chrono::seconds(5);
    /// Measurement hook (null: none); must outlive the node.
    verification_meter* meter = nullptr;
};

enum class config_error : std::uint8_t {
    bad_name = 1,   ///< the node's name, a route's or a credential's destination
    bad_credential, ///< a credential token does not parse
    bad_sizes,      ///< a size is zero or max_message_size is below 1 KiB
    out_of_memory,
};
const char* describe(config_error error);

struct node_counters {
    std::uint64_t packets_received = 0;
    std::uint64_t packets_malformed = 0;
    std::uint64_t forwarded = 0;
    std::uint64_t requests_accepted = 0; ///< verified and handed to a service
    std::uint64_t requests_refused = 0;  ///< any reason, before the service
    std::uint64_t requests_sealed = 0;   ///< accepted requests whose call was sealed
    /// Accepted requests whose credential frames were not recomputed (verified credentials).
    std::uint64_t requests_from_verified_credential = 0;
    std::uint64_t replies_sent = 0;
    std::uint64_t errors_sent = 0;
    std::uint64_t calls_issued = 0;
    std::uint64_t calls_completed = 0; ///< with a reply
    std::uint64_t calls_failed = 0;
    std::uint64_t replies_dropped = 0; ///< bad MAC or unmatched
};

/// How a backend encodes one procedure's call and decodes its reply (generated codec).
struct outgoing_call {
    std::uint32_t procedure = 0;
    std::string_view procedure_name;
    bool (*encode)(std::uint32_t id, const void* params, lidl::builder& out) = nullptr;
    amb::result<void, lidl::verify_error> (*decode)(std::uint32_t id, byte_view reply,
                                                    const void* params, void* result) = nullptr;
    /// Stores `error` in the result slot.
    void (*fail)(void* result, lidl::call_error error) = nullptr;
    const void* params = nullptr;
    void* result_slot = nullptr;
    /// How long this call may wait for its answer before it fails with deadline_passed; zero:
    /// the node's `call_timeout`.
    loop_clock::duration timeout{};
};

class node {
public:
    static result<std::unique_ptr<node>, config_error> create(const node_config& config,
                                                              link_output& links,
                                                              clock_source& clock,
                                                              incident_sink* incidents = nullptr);
    ~node();
    node(const node&) = delete;
    node& operator=(const node&) = delete;

    /// Makes `service` callable as `name` (the name credentials grant). False when the table is
    /// full or the name is taken. `name` and `service` must outlive the node.
    bool export_service(std::string_view name, exported_service& service);

    /// The credential index for calls to `destination`, if this node has one.
    std::optional<std::size_t> find_peer(std::string_view destination) const;

    /// Sends a call (encoded and wrapped before this returns) to the node of credential `peer`.
    /// On success returns true and later resumes `waiting` once the call completed or failed
    /// (then the result slot holds the call_error). Returns false if it failed at once (slot
    /// filled with the error; the caller must not suspend). `params`, `result` and `service`
    /// must stay valid until completion.
    bool issue(std::size_t peer, std::string_view service, const outgoing_call& call,
               std::coroutine_handle<> waiting);

    /// Handles one packet that arrived on `link` (copied first; any alignment, any content).
    void on_packet(link_id link, byte_view packet);
    /// The link gave up delivering (a dead peer): calls sent through it fail.
    void on_link_failure(link_id link);
    /// Answers finished requests and fails calls past their deadline; returns how much it did.
    std::size_t poll();
    /// When poll() has timed work (max() when none).
    loop_clock::time_point next_deadline() const;

    std::string_view name() const { return config_.name; }
    const node_counters& counters() const { return counters_; }
    std::size_t calls_in_flight() const;
    std::size_t requests_in_service() const;
    /// Callers whose credential is remembered now (at most node_config::verified_callers).
    std::size_t verified_credentials() const;

private:
    struct pending_call;
    struct serving_slot;
    struct verified_caller;
    struct export_entry {
        std::string_view name;
        exported_service* service;
    };
    struct peer {
        std::string_view destination;
        byte_span token_bytes;
        caplets::tag_bytes holder_tag;
        std::optional<link_id> link;
        bool encrypt = false;
        pair_key key{}; // K = tag(T_E) when `encrypt`
    };

    node(const node_config& config, link_output& links, clock_source& clock,
         incident_sink* incidents);
    config_error prepare();

    std::optional<link_id> route_to(std::string_view destination) const;
    void handle_request(link_id link, const envelope_view& packet);
    void handle_answer(link_id link, const envelope_view& packet);
    void retry(pending_call& call);
    void forward(link_id link, const envelope_view& packet);
    void start_serving(serving_slot& slot, exported_service& service, std::uint32_t id);
    void finish_serving(serving_slot& slot);
    // Sends an error for `packet` back to its source: authenticated when `slot` holds its keys.
    void answer_error(const envelope_view& packet, status_code status, byte_view body = {});
    // With `seal_key`, a non-empty body is sealed for the request (docs/remote.md, "Encryption").
    void send_answer(std::string_view to, std::uint64_t correlation, status_code status,
                     byte_view body, const caplets::tag_bytes* holder_tag,
                     const caplets::tag_bytes* request_tag, const pair_key* seal_key = nullptr);
    bool must_encrypt(std::string_view caller) const;
    // The remembered credential of `caller`, or the slot a new one would take (free, else the
    // least recently verified); null when the cache is off.
    verified_caller* verified_slot(std::string_view caller);
    byte_span scratch();
    void complete(pending_call& call, std::optional<lidl::call_error> error);
    void report(incident what);
    std::uint64_t next_sequence();

    node_config config_;
    link_output& links_;
    clock_source& clock_;
    incident_sink* incidents_;
    node_counters counters_;

    std::unique_ptr<std::uint64_t[]> memory_; // every buffer below, allocated once
    byte_span receive_buffer_;
    byte_span send_buffer_;
    byte_span call_buffer_;
    byte_span frame_buffer_;
    std::unique_ptr<peer[]> peers_;
    std::unique_ptr<export_entry[]> exports_;
    std::size_t export_count_ = 0;
    std::unique_ptr<pending_call[]> calls_;
    std::unique_ptr<serving_slot[]> serving_;
    std::unique_ptr<bounded_sequence_store> own_sequences_;
    caplets::sequence_store* sequences_ = nullptr;
    // Verified credentials: after memory_, so that they are wiped while their storage exists.
    std::unique_ptr<verified_caller[]> verified_;
    std::uint64_t verified_clock_ = 0;
    // The verification key the remembered credentials were verified under: compared with the
    // configured key before each request; any difference forgets them all.
    caplets::secret_key verified_under_;
    std::uint64_t next_correlation_ = 1;
    std::uint64_t last_sequence_ = 0;
};

} // namespace amb::remote

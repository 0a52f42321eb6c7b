// amb::http_export::exporter: serves lidl services over HTTP/REST with JSON bodies, guarded by
// CAPLets tokens, driven by the runtime's event loop (docs/http-export.md).
//
//     auto driver = http_export::io_driver::create();
//     event_loop loop(**driver);
//     http_export::exporter server(loop, **driver, secret, {.port = 8080});
//     server.add_local("averager", averager_implementation, lidl_descriptions::averager);
//     server.start();
//     while (running) loop.run_once();
//
// URL scheme: `POST /<export>/<procedure>` with a JSON object of the procedure's parameters
// answers `{"result": ...}`; `GET /<export>` describes the interface. Every request carries
// `Authorization: Bearer cap1_...` (a CAPLets token, text form) that must grant the procedure
// (or, for GET, some procedure of the export). Errors are `{"error": {"code", "message"}}` with
// 400/401/403/404/405/413/415/500/503 (see the documentation for the order of the checks).
//
// HTTP parsing is libmicrohttpd's, in external-polling epoll mode: its epoll descriptor is
// watched by the loop's `descriptor_watcher`, `MHD_run` runs when it is readable, and a loop
// timer follows `MHD_get_timeout` (connection timeouts). No thread is created. A call whose
// task suspends (a service awaiting a timer, a remote call) suspends its HTTP connection
// (`MHD_suspend_connection`) and resumes it when the task completes.
//
// Threading: one thread, the loop's. Lifetime: the loop, the watcher, the call targets and the
// implementations must outlive the exporter. Destroying the exporter (or `stop`) with calls in
// flight destroys their tasks (what they await must allow that, as loop timers do) and closes
// their connections without an answer.
#pragma once

#include <http_export/call_target.hpp>
#include <http_export/interface.hpp>
#include <http_export/io_driver.hpp>

#include <caplets/caplets.hpp>
#include <runtime/event_loop.hpp>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace amb::http_export {

struct options {
    /// Address to listen on (IPv4 or IPv6 literal) and port (0: any free port, see `port()`).
    std::string address = "127.0.0.1";
    std::uint16_t port = 0;
    /// Largest request body accepted (413 beyond).
    std::size_t max_body_bytes = 64 * 1024;
    /// Largest call message built from a body (413 beyond: a small body may describe a large
    /// message, e.g. an absent optional of a big array).
    std::size_t max_call_bytes = 256 * 1024;
    /// Size of each of the two buffers a call gets for its result: the implementation's
    /// response builder and the reply message (500 when the reply does not fit).
    std::size_t max_reply_bytes = 256 * 1024;
    /// Memory per connection for the request line and headers (libmicrohttpd answers 431 or
    /// 413 beyond; the body is buffered separately, up to max_body_bytes).
    std::size_t connection_memory_bytes = 32 * 1024;
    /// Connections open at once (further ones are refused at accept) and the idle timeout of a
    /// connection (also bounds a client that stops sending in the middle of a request).
    unsigned max_connections = 64;
    unsigned idle_timeout_seconds = 30;
    /// Accept capability tokens (a leaf frame granting `service{export, procedures}` or root)
    /// as bearer tokens. When false, only request tokens (a `call_request` leaf for exactly this
    /// call) are accepted: a token seen on the wire then cannot be used for another call.
    bool accept_capability_tokens = true;
    /// Require a token for `GET /<export>` (one that grants some procedure of the export).
    bool describe_requires_token = true;
    /// Revocation list checked by verification (optional; not owned).
    const caplets::revocation_list* revoked = nullptr;
    /// Where accepted `sequence` numbers are kept (optional; not owned). Without one, the
    /// exporter keeps a `memory_sequence_store` of its own.
    caplets::sequence_store* sequences = nullptr;
    /// This exporter's name as a verifier (CAPLets `audience`). When set, a request token must
    /// name it (a request captured on its way to another exporter that shares the key is
    /// refused here), and a token that names another audience is refused. Empty: tokens naming
    /// any audience are refused. A generated node uses its node name.
    std::string audience;
    /// Unix time in seconds for `expires`/`not_before` (tests pass a fixed clock; default: the
    /// system clock).
    std::uint64_t (*unix_time)() = nullptr;
};

enum class export_error : std::uint8_t {
    bad_name = 1,    ///< not a valid export name (export_names.json, <http_export/export_names.hpp>)
    duplicate_name,  ///< an export with this name exists
    bad_description, ///< the description is not lidlc JSON describing this interface
    already_started, ///< exports are added before start()
};
const char* describe(export_error e);

class exporter {
public:
    /// `secret` is the origin key whose tokens are accepted (copied; the copy is zeroed on
    /// destruction).
    exporter(event_loop& loop, descriptor_watcher& watcher, const caplets::secret_key& secret,
             options settings = {});
    exporter(const exporter&) = delete;
    exporter& operator=(const exporter&) = delete;
    ~exporter();

    /// Exports the interface described by `codec`, served by `target`, as `/<name>`.
    /// `schema_description` is `lidlc --json` of the schema that declares the interface
    /// (http_export_description() in CMake embeds it); without it, `GET /<name>` lists only
    /// procedure names. `target` must outlive the exporter.
    result<void, export_error> add(std::string_view name, const interface_codec& codec,
                                   call_target& target, std::string_view schema_description = {});

    /// Exports `implementation` (of generated interface `Service`) through a local_target owned
    /// by the exporter. Include the schema's `.lidl.json.hpp` before calling this.
    template <class Service>
    result<void, export_error> add_local(std::string_view name, Service& implementation,
                                         std::string_view schema_description = {}) {
        auto target = std::make_unique<local_target<Service>>(implementation);
        auto added = add(name, interface_of<Service>(), *target, schema_description);
        if (added)
            owned_targets_.push_back(std::move(target));
        return added;
    }

    /// Binds, listens and starts watching. Error: a sentence (address in use, bad address...).
    result<void, std::string> start();
    /// The port listened on (after start).
    std::uint16_t port() const;
    /// Closes every connection and the listening socket (see the class comment about calls in
    /// flight). Idempotent; the destructor calls it.
    void stop();

    /// Calls started and not yet answered.
    std::size_t calls_in_flight() const;

private:
    struct state;
    std::unique_ptr<state> state_;
    std::vector<std::unique_ptr<call_target>> owned_targets_;
};

} // namespace amb::http_export

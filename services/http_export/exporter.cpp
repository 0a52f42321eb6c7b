#include <http_export/exporter.hpp>
#include <http_export/export_names.hpp>

#include "description.hpp"

#include <caplets/caplets.hpp>
#include <text.hpp>

#include <microhttpd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <ctime>
#include <new>
#include <optional>

namespace amb::http_export {

const char* describe(export_error e) {
    switch (e) {
    case export_error::bad_name: {
        static const std::string rule = "export names are 1 to " +
                                        std::to_string(export_name_max_length) +
                                        " letters, digits and " +
                                        std::string(export_name_punctuation);
        return rule.c_str();
    }
    case export_error::duplicate_name:
        return "an export with this name exists";
    case export_error::bad_description:
        return "the description is not lidlc JSON of a schema declaring this interface";
    case export_error::already_started:
        return "exports must be added before start()";
    }
    return "unknown export error";
}

namespace {

using json = lidl::json::value;

std::string dump(const json& j) {
    // Strings from services may hold any bytes: invalid UTF-8 becomes U+FFFD instead of failing.
    return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

bool valid_export_name(std::string_view name) {
    if (name.empty() || name.size() > export_name_max_length)
        return false;
    return std::all_of(name.begin(), name.end(), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) != 0 ||
               export_name_punctuation.find(c) != std::string_view::npos;
    });
}

bool equals_ignoring_case(std::string_view a, std::string_view b) {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
               return std::tolower(static_cast<unsigned char>(x)) ==
                      std::tolower(static_cast<unsigned char>(y));
           });
}

std::string_view trim(std::string_view text) {
    while (!text.empty() && (text.front() == ' ' || text.front() == '\t'))
        text.remove_prefix(1);
    while (!text.empty() && (text.back() == ' ' || text.back() == '\t'))
        text.remove_suffix(1);
    return text;
}

// The HTTP status of a call that failed with `fault` (docs/http-export.md, "Errors and status
// codes"): a callee that could not be reached, or not in time, is a gateway's failure (503,
// 504; 502 when it refused this node); anything the callee or its reply got wrong is 500.
unsigned http_status_of(lidl::call_fault fault) {
    switch (fault) {
    case lidl::call_fault::deadline_passed: return MHD_HTTP_GATEWAY_TIMEOUT;
    case lidl::call_fault::peer_exited:
    case lidl::call_fault::unreachable:
    case lidl::call_fault::busy:
    case lidl::call_fault::no_memory: return MHD_HTTP_SERVICE_UNAVAILABLE;
    case lidl::call_fault::refused: return MHD_HTTP_BAD_GATEWAY;
    case lidl::call_fault::unknown_procedure:
    case lidl::call_fault::malformed_call:
    case lidl::call_fault::call_too_large:
    case lidl::call_fault::reply_too_large:
    case lidl::call_fault::malformed_reply:
    case lidl::call_fault::callee_error: return MHD_HTTP_INTERNAL_SERVER_ERROR;
    }
    return MHD_HTTP_INTERNAL_SERVER_ERROR;
}

std::uint64_t system_unix_time() {
    return static_cast<std::uint64_t>(std::time(nullptr));
}

// 8-byte aligned storage for a lidl builder, allocated without initialising it (the builder
// zeroes what it hands out).
struct message_buffer {
    std::unique_ptr<std::uint64_t[]> words;
    std::size_t size = 0;

    bool allocate(std::size_t bytes) {
        std::size_t count = (bytes + 7) / 8;
        words.reset(new (std::nothrow) std::uint64_t[count]);
        size = words ? count * 8 : 0;
        return words != nullptr;
    }
    std::span<std::uint8_t> bytes() { return {reinterpret_cast<std::uint8_t*>(words.get()), size}; }
};

std::string reason_text(const caplets::reason& why) {
    std::string text;
    if (why.token != 0)
        text += "auxiliary token " + std::to_string(why.token - 1) + ", ";
    text += "frame " + std::to_string(why.frame) + ": " + caplets::describe(why.what);
    if (why.what == caplets::check::sequence_replayed)
        text += " (last accepted: " + std::to_string(why.current_sequence) + ")";
    if (why.what == caplets::check::malformed)
        text += std::string(" (") + lidl::describe(why.parse.kind) + ")";
    return text;
}

} // namespace

struct exporter::state {
    struct export_entry {
        std::string name;
        const interface_codec* codec;
        call_target* target;
        std::string description; // the body of GET /<name>
    };

    // One HTTP request, from its headers to the completion callback of libmicrohttpd.
    struct request {
        enum class phase : std::uint8_t { reading, running, finished, cancelled };

        state* owner;
        MHD_Connection* connection;
        phase now = phase::reading;
        // The answer, once decided (status 0: not yet).
        unsigned status = 0;
        std::string body;
        const char* allow = nullptr;
        const char* authenticate = nullptr;

        const export_entry* target = nullptr;
        std::uint32_t procedure = 0;
        std::string upload;
        std::size_t discarded = 0;
        // A request token: its bytes (kept for the arguments view) and bound arguments.
        std::optional<caplets::text::token_bytes> token;
        std::span<const std::uint8_t> bound_arguments;
        // The token's sequence numbers, recorded right before the call (after the grant and
        // the arguments checked out). Secrets (tags): wiped with the request.
        caplets::verification_details verified;
        ~request() {
            amb::crypto::secure_zero(
                std::span(reinterpret_cast<std::uint8_t*>(&verified), sizeof verified));
        }

        message_buffer call_storage;
        message_buffer response_storage;
        message_buffer reply_storage;
        std::optional<lidl::builder> response;
        std::optional<lidl::builder> reply;
        bool suspended = false;
        request* previous_in_flight = nullptr;
        request* next_in_flight = nullptr;
        // Declared last: destroyed first, before the buffers the call points into.
        task<lidl::serve_result> work;
    };

    // Loop work items that call back into the state.
    struct bound_work : loop_work {
        bound_work(state* owner_state, function run) : loop_work(run), owner(owner_state) {}
        state* owner;
    };

    state(event_loop& event_loop_, descriptor_watcher& watcher_, const caplets::secret_key& key,
          options settings_)
        : loop(event_loop_), watcher(watcher_), settings(std::move(settings_)),
          io_ready(this, &on_work), timer(this, &on_work), kick(this, &on_work) {
        secret.bytes = key.bytes;
        if (settings.unix_time == nullptr)
            settings.unix_time = &system_unix_time;
    }

    event_loop& loop;
    descriptor_watcher& watcher;
    caplets::secret_key secret;
    options settings;
    caplets::memory_sequence_store own_sequences;
    std::vector<std::unique_ptr<export_entry>> exports;
    MHD_Daemon* daemon = nullptr;
    int epoll_fd = -1;
    std::uint16_t bound_port = 0;
    bound_work io_ready;
    bound_work timer;
    bound_work kick;
    request* in_flight = nullptr;
    std::size_t in_flight_count = 0;

    // --- driving libmicrohttpd from the loop -------------------------------------------------

    // The three work items (descriptor readable, timer, kick after a resume) all run MHD.
    static void on_work(loop_work& work) noexcept { static_cast<bound_work&>(work).owner->run(); }

    void run() {
        if (daemon == nullptr)
            return;
        MHD_run(daemon);
        schedule();
    }

    // Follows MHD_get_timeout with a loop timer: connection timeouts, and "call again at once"
    // when libmicrohttpd has buffered work that epoll will not signal again.
    void schedule() {
        loop.cancel(timer);
        MHD_UNSIGNED_LONG_LONG milliseconds = 0;
        if (daemon != nullptr && MHD_get_timeout(daemon, &milliseconds) == MHD_YES)
            loop.run_at(timer, loop.now() + std::chrono::milliseconds(milliseconds));
    }

    void post_kick() {
        if (!kick.pending())
            loop.post(kick);
    }

    // --- answers -----------------------------------------------------------------------------

    // `call`: the error of a call, whose code travels beside its name (http_import reads it
    // back): a callee_error's own code as "callee_code", a refusal's class as "reason".
    static void fail(request& r, unsigned status, std::string_view code, std::string_view message,
                     std::string_view field = {}, bool has_field = false,
                     const lidl::call_error* call = nullptr) {
        json error = json::object();
        error["code"] = code;
        error["message"] = message;
        if (has_field)
            error["field"] = field;
        if (call != nullptr && call->what == lidl::call_fault::callee_error)
            error["callee_code"] = call->code;
        if (call != nullptr && call->what == lidl::call_fault::refused)
            if (auto reason = lidl::refusal_of_code(call->code))
                error["reason"] = lidl::name(*reason);
        json body = json::object();
        body["error"] = std::move(error);
        r.status = status;
        r.body = dump(body);
    }

    static void unauthorised(request& r, std::string_view code, std::string_view message,
                             bool token_was_sent) {
        fail(r, MHD_HTTP_UNAUTHORIZED, code, message);
        r.authenticate = token_was_sent ? "Bearer realm=\"ambience\", error=\"invalid_token\""
                                        : "Bearer realm=\"ambience\"";
    }

    static MHD_Result answer(request& r) {
        MHD_Response* response =
            MHD_create_response_from_buffer(r.body.size(), r.body.data(), MHD_RESPMEM_MUST_COPY);
        if (response == nullptr)
            return MHD_NO;
        MHD_add_response_header(response, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
        MHD_add_response_header(response, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
        if (r.allow != nullptr)
            MHD_add_response_header(response, MHD_HTTP_HEADER_ALLOW, r.allow);
        if (r.authenticate != nullptr)
            MHD_add_response_header(response, MHD_HTTP_HEADER_WWW_AUTHENTICATE, r.authenticate);
        MHD_Result queued = MHD_queue_response(r.connection, r.status, response);
        MHD_destroy_response(response);
        r.now = request::phase::finished;
        return queued;
    }

    // --- request handling --------------------------------------------------------------------

    static MHD_Result on_access(void* context, MHD_Connection* connection, const char* url,
                                const char* method, const char*, const char* upload,
                                size_t* upload_size, void** request_context) {
        return static_cast<state*>(context)->access(connection, url, method, upload, upload_size,
                                                    request_context);
    }

    static void on_completed(void*, MHD_Connection*, void** request_context,
                             MHD_RequestTerminationCode) {
        auto* r = static_cast<request*>(*request_context);
        if (r == nullptr)
            return;
        *request_context = nullptr;
        r->owner->forget(*r);
        delete r;
    }

    MHD_Result access(MHD_Connection* connection, const char* url, const char* method,
                      const char* upload, size_t* upload_size, void** request_context) {
        auto* r = static_cast<request*>(*request_context);
        if (r == nullptr) {
            r = new (std::nothrow) request{};
            if (r == nullptr)
                return MHD_NO;
            r->owner = this;
            r->connection = connection;
            *request_context = r;
            begin(*r, url, method);
            // Rejected on its headers: answered now; libmicrohttpd discards any body and
            // closes the connection after the answer.
            return r->status != 0 ? answer(*r) : MHD_YES;
        }
        switch (r->now) {
        case request::phase::reading:
            if (*upload_size != 0) {
                if (!receive(*r, upload, *upload_size))
                    return MHD_NO;
                *upload_size = 0;
                return MHD_YES;
            }
            if (r->status == 0)
                start_call(*r);
            if (r->now == request::phase::running) {
                r->suspended = true;
                MHD_suspend_connection(connection);
                return MHD_YES;
            }
            return answer(*r);
        case request::phase::running:
            return MHD_YES; // not reached: the connection is suspended
        case request::phase::finished:
            return answer(*r);
        case request::phase::cancelled:
            return MHD_NO;
        }
        return MHD_NO;
    }

    // Buffers body bytes up to the limit. Beyond it the request is answered 413 once the body
    // ends; bytes are discarded meanwhile, and a client that keeps sending far beyond the limit
    // is disconnected (false).
    bool receive(request& r, const char* data, std::size_t size) {
        if (r.status != 0) {
            r.discarded += size;
            return r.discarded <= 4 * settings.max_body_bytes;
        }
        if (size > settings.max_body_bytes - r.upload.size()) {
            fail(r, MHD_HTTP_CONTENT_TOO_LARGE, "body_too_large",
                 "the body is larger than " + std::to_string(settings.max_body_bytes) + " bytes");
            r.discarded = r.upload.size() + size;
            r.upload = std::string();
            return true;
        }
        r.upload.append(data, size);
        return true;
    }

    const export_entry* find_export(std::string_view name) const {
        for (const auto& entry : exports)
            if (entry->name == name)
                return entry.get();
        return nullptr;
    }

    // Routing, then authorisation, then the headers of the body (see docs/http-export.md for
    // the order). Sets r.status when the request is answered without reading its body.
    void begin(request& r, std::string_view url, std::string_view method) {
        if (url.empty() || url.front() != '/') {
            fail(r, MHD_HTTP_NOT_FOUND, "not_found",
                 "URLs are /<export> and /<export>/<procedure>");
            return;
        }
        url.remove_prefix(1);
        static_assert(procedure_path == "/{export}/{procedure}",
                      "this parser reads the procedure path of export_names.json");
        std::size_t slash = url.find('/');
        std::string_view export_name = url.substr(0, slash);
        const export_entry* target = find_export(export_name);
        if (target == nullptr) {
            fail(r, MHD_HTTP_NOT_FOUND, "unknown_export",
                 "no export named '" + std::string(export_name) + "'");
            return;
        }
        r.target = target;
        if (slash == std::string_view::npos) {
            if (method != MHD_HTTP_METHOD_GET && method != MHD_HTTP_METHOD_HEAD) {
                fail(r, MHD_HTTP_METHOD_NOT_ALLOWED, "method_not_allowed",
                     "use GET on /" + target->name + " (calls are POST /" + target->name +
                         "/<procedure>)");
                r.allow = "GET, HEAD";
                return;
            }
            if (settings.describe_requires_token && !authorise(r, nullptr))
                return;
            r.status = MHD_HTTP_OK;
            r.body = target->description;
            return;
        }
        std::string_view procedure_name = url.substr(slash + 1);
        const std::span<const procedure_codec> procedures = target->codec->procedures;
        auto found =
            std::find_if(procedures.begin(), procedures.end(),
                         [&](const procedure_codec& p) { return p.name == procedure_name; });
        if (found == procedures.end()) {
            fail(r, MHD_HTTP_NOT_FOUND, "unknown_procedure",
                 "export '" + target->name + "' has no procedure '" + std::string(procedure_name) +
                     "'");
            return;
        }
        r.procedure = static_cast<std::uint32_t>(found - procedures.begin());
        if (method != MHD_HTTP_METHOD_POST) {
            fail(r, MHD_HTTP_METHOD_NOT_ALLOWED, "method_not_allowed",
                 "calls are POST /" + target->name + "/" + std::string(found->name));
            r.allow = "POST";
            return;
        }
        if (!authorise(r, &*found))
            return;
        const char* content_type = MHD_lookup_connection_value(r.connection, MHD_HEADER_KIND,
                                                               MHD_HTTP_HEADER_CONTENT_TYPE);
        std::string_view media_type = content_type == nullptr ? "" : content_type;
        media_type = trim(media_type.substr(0, media_type.find(';')));
        if (!equals_ignoring_case(media_type, "application/json")) {
            fail(r, MHD_HTTP_UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type",
                 "send the parameters as a JSON object with Content-Type: application/json");
            return;
        }
        const char* length = MHD_lookup_connection_value(r.connection, MHD_HEADER_KIND,
                                                         MHD_HTTP_HEADER_CONTENT_LENGTH);
        if (length != nullptr) {
            std::string_view text = trim(length);
            std::uint64_t declared = 0;
            auto parsed = std::from_chars(text.data(), text.data() + text.size(), declared);
            bool too_long = parsed.ec == std::errc::result_out_of_range ||
                            (parsed.ec == std::errc() && declared > settings.max_body_bytes);
            if (too_long) {
                fail(r, MHD_HTTP_CONTENT_TOO_LARGE, "body_too_large",
                     "the body is larger than " + std::to_string(settings.max_body_bytes) +
                         " bytes");
                return;
            }
        }
    }

    // Checks the bearer token: 401 when it is missing, malformed or fails verification, 403
    // when it is valid but does not grant this procedure (`procedure` null: describing the
    // export, which any grant on the export allows).
    bool authorise(request& r, const procedure_codec* procedure) {
        const char* header = MHD_lookup_connection_value(r.connection, MHD_HEADER_KIND,
                                                         MHD_HTTP_HEADER_AUTHORIZATION);
        if (header == nullptr) {
            unauthorised(r, "missing_token", "send a CAPLets token: Authorization: Bearer cap1_...",
                         false);
            return false;
        }
        std::string_view value = trim(header);
        std::size_t space = value.find(' ');
        if (space == std::string_view::npos ||
            !equals_ignoring_case(value.substr(0, space), "Bearer")) {
            unauthorised(r, "missing_token", "the Authorization header must be: Bearer cap1_...",
                         false);
            return false;
        }
        std::string_view text = trim(value.substr(space + 1));
        // An empty payload is rejected here: token_from_text would memcpy from a null pointer
        // (caplets/tools/text.cpp; harmless in practice, but undefined behaviour).
        if (text.size() <= caplets::text::token_prefix.size()) {
            unauthorised(r, "invalid_token", "the token is empty", true);
            return false;
        }
        std::string error;
        std::optional<caplets::text::token_bytes> bytes =
            caplets::text::token_from_text(text, error);
        if (!bytes) {
            unauthorised(r, "invalid_token", "the token is malformed: " + error, true);
            return false;
        }
        auto token = caplets::token_view::parse(bytes->bytes());
        if (!token) {
            unauthorised(r, "invalid_token", "token rejected: " + reason_text(token.error()), true);
            return false;
        }
        std::array<std::uint8_t, 16> address{};
        caplets::verify_context context;
        context.now = settings.unix_time();
        context.endpoint = peer_address(r.connection, address);
        context.revoked = settings.revoked;
        context.audience = settings.audience;
        context.require_audience = !settings.audience.empty();
        context.sequences = settings.sequences != nullptr ? settings.sequences : &own_sequences;
        // Recorded in start_call, once the grant and the arguments checked out: a request
        // refused for those does not consume its number.
        context.defer_sequences = true;

        const std::string& export_name = r.target->name;
        bool is_request = false;
        for (const caplets::capability& c : token->leaf().capabilities.view())
            is_request = is_request || c.call_request() != nullptr || c.path_request() != nullptr;
        if (is_request) {
            auto verified = caplets::verify_request(secret, *token, context, &r.verified);
            if (verified) {
                if (auto fresh = caplets::check_sequences(context, r.verified); !fresh)
                    verified = amb::failure{fresh.error()};
            }
            if (!verified) {
                unauthorised(r, "invalid_token", "token rejected: " + reason_text(verified.error()),
                             true);
                return false;
            }
            const caplets::call_request* call = (*verified)->call_request();
            if (call == nullptr || procedure == nullptr) {
                fail(r, MHD_HTTP_FORBIDDEN, "forbidden",
                     call == nullptr ? "the token requests a path operation, not a call"
                                     : "a request token names one call; describing an export "
                                       "needs a capability token");
                return false;
            }
            if (call->service.view() != export_name || call->procedure.view() != procedure->name) {
                fail(r, MHD_HTTP_FORBIDDEN, "forbidden",
                     "the token requests " + std::string(call->service.view()) + "." +
                         std::string(call->procedure.view()) + ", not " + export_name + "." +
                         std::string(procedure->name));
                return false;
            }
            r.bound_arguments = call->arguments.view();
            r.token = std::move(bytes); // the arguments view points into these bytes
            return true;
        }
        auto verified = caplets::verify(secret, *token, context, &r.verified);
        if (verified) {
            if (auto fresh = caplets::check_sequences(context, r.verified); !fresh)
                verified = amb::failure{fresh.error()};
        }
        if (!verified) {
            unauthorised(r, "invalid_token", "token rejected: " + reason_text(verified.error()),
                         true);
            return false;
        }
        if (!settings.accept_capability_tokens) {
            fail(r, MHD_HTTP_FORBIDDEN, "forbidden",
                 "this server accepts only request tokens (a call_request for this call)");
            return false;
        }
        if (grants(verified->leaf->capabilities.view(), export_name, procedure)) {
            // Describing an export calls nothing: the number is consumed here, after the grant.
            if (procedure == nullptr && !commit(r))
                return false;
            return true;
        }
        fail(r, MHD_HTTP_FORBIDDEN, "forbidden",
             procedure == nullptr
                 ? "the token grants nothing on export '" + export_name + "'"
                 : "the token does not grant " + export_name + "." + std::string(procedure->name));
        return false;
    }

    // Records the sequence numbers of the request's token (none: nothing to do); refuses with
    // 401 when the number was taken meanwhile or the store refuses (full of live entries).
    bool commit(request& r) {
        caplets::verify_context recording;
        recording.now = settings.unix_time();
        recording.sequences = settings.sequences != nullptr ? settings.sequences : &own_sequences;
        auto recorded = caplets::commit_sequences(recording, r.verified);
        if (recorded)
            return true;
        unauthorised(r, "invalid_token", "token rejected: " + reason_text(recorded.error()), true);
        return false;
    }

    // Whether capabilities grant a call of `procedure` on the export (by the library's subset
    // rule: a call request within the capability), or, for a null procedure, anything on it.
    static bool grants(std::span<const caplets::capability> capabilities,
                       std::string_view export_name, const procedure_codec* procedure) {
        if (procedure == nullptr) {
            for (const caplets::capability& c : capabilities) {
                if (c.root() != nullptr)
                    return true;
                const caplets::service_capability* service = c.service();
                if (service != nullptr && service->name.view() == export_name &&
                    (service->all || !service->procedures.view().empty()))
                    return true;
            }
            return false;
        }
        caplets::frame_spec spec;
        spec.add_call_request(export_name, procedure->name, {});
        std::vector<std::uint64_t> storage((256 + export_name.size() + procedure->name.size()) / 8 +
                                           1);
        lidl::builder out({reinterpret_cast<std::uint8_t*>(storage.data()), storage.size() * 8});
        auto frame_bytes = spec.write(out);
        if (!frame_bytes)
            return false;
        auto frame = lidl::verify<caplets::frame>(*frame_bytes);
        if (!frame || frame.value()->capabilities.view().size() != 1)
            return false;
        const caplets::capability& call = frame.value()->capabilities.view()[0];
        return std::any_of(
            capabilities.begin(), capabilities.end(),
            [&](const caplets::capability& c) { return caplets::is_subset(call, c); });
    }

    // The peer's address as the endpoint constraint reads it (IPv4-mapped IPv6 as IPv4).
    static caplets::byte_view peer_address(MHD_Connection* connection,
                                           std::array<std::uint8_t, 16>& storage) {
        const MHD_ConnectionInfo* info =
            MHD_get_connection_info(connection, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
        if (info == nullptr || info->client_addr == nullptr)
            return {};
        const sockaddr* address = info->client_addr;
        if (address->sa_family == AF_INET) {
            const auto* v4 = reinterpret_cast<const sockaddr_in*>(address);
            std::memcpy(storage.data(), &v4->sin_addr, 4);
            return {storage.data(), 4};
        }
        if (address->sa_family == AF_INET6) {
            const auto* v6 = reinterpret_cast<const sockaddr_in6*>(address);
            std::memcpy(storage.data(), &v6->sin6_addr, 16);
            if (IN6_IS_ADDR_V4MAPPED(&v6->sin6_addr)) {
                std::memmove(storage.data(), storage.data() + 12, 4);
                return {storage.data(), 4};
            }
            return {storage.data(), 16};
        }
        return {};
    }

    // The body is complete: JSON, call message, then the call itself.
    void start_call(request& r) {
        const procedure_codec& procedure = r.target->codec->procedures[r.procedure];
        json parameters = json::parse(r.upload.begin(), r.upload.end(), nullptr, false);
        if (parameters.is_discarded()) {
            fail(r, MHD_HTTP_BAD_REQUEST, "malformed_json", "the body is not valid JSON");
            return;
        }
        if (!parameters.is_object()) {
            fail(r, MHD_HTTP_BAD_REQUEST, "bad_parameters",
                 "the body must be a JSON object of the parameters of " + r.target->name + "." +
                     std::string(procedure.name) + ", not " + lidl::json::kind_name(parameters),
                 "", true);
            return;
        }
        if (!r.call_storage.allocate(settings.max_call_bytes)) {
            fail(r, MHD_HTTP_SERVICE_UNAVAILABLE, "no_memory", "no memory for the call");
            return;
        }
        lidl::builder call_builder(r.call_storage.bytes());
        auto message = procedure.call_from_json(parameters, call_builder);
        if (!message) {
            const json_failure& why = message.error();
            if (why.too_large) {
                fail(r, MHD_HTTP_CONTENT_TOO_LARGE, "call_too_large",
                     "the call message would be larger than " +
                         std::to_string(settings.max_call_bytes) + " bytes");
                return;
            }
            std::string text = why.error.path.empty() ? why.error.message
                                                      : why.error.path + ": " + why.error.message;
            fail(r, MHD_HTTP_BAD_REQUEST, "bad_parameters", text, why.error.path, true);
            return;
        }
        if (!r.bound_arguments.empty() &&
            !std::equal(r.bound_arguments.begin(), r.bound_arguments.end(), message->begin(),
                        message->end())) {
            fail(r, MHD_HTTP_FORBIDDEN, "forbidden",
                 "the request token's arguments are not the arguments of this call");
            return;
        }
        if (!r.response_storage.allocate(settings.max_reply_bytes) ||
            !r.reply_storage.allocate(settings.max_reply_bytes)) {
            fail(r, MHD_HTTP_SERVICE_UNAVAILABLE, "no_memory", "no memory for the call");
            return;
        }
        // Every check passed: only now is the sequence number consumed (a replay, or a store
        // that is full of live entries, is refused here even if the early check passed).
        if (!commit(r))
            return;
        r.response.emplace(r.response_storage.bytes());
        r.reply.emplace(r.reply_storage.bytes());
        r.work = r.target->target->call(r.procedure, *message, *r.response, *r.reply);
        if (!r.work.valid()) {
            fail(r, MHD_HTTP_SERVICE_UNAVAILABLE, "no_memory", "no memory for the call");
            return;
        }
        r.now = request::phase::running;
        track(r);
        r.work.start_with_notification(&on_call_finished, &r);
    }

    // The call's task finished (inside start_call, or later on the loop).
    static void on_call_finished(void* context) noexcept {
        auto& r = *static_cast<request*>(context);
        state& self = *r.owner;
        lidl::serve_result outcome = r.work.take_result();
        self.forget(r);
        const procedure_codec& procedure = r.target->codec->procedures[r.procedure];
        if (outcome) {
            auto result = procedure.reply_to_json(*outcome);
            if (result) {
                json body = json::object();
                body["result"] = std::move(result.value());
                r.status = MHD_HTTP_OK;
                r.body = dump(body);
            } else {
                fail(r, MHD_HTTP_INTERNAL_SERVER_ERROR, "bad_reply",
                     std::string("the service's reply does not verify: ") +
                         lidl::describe(result.error().kind));
            }
        } else {
            const lidl::call_error& why = outcome.error();
            std::string text = lidl::describe(why.what);
            if (why.what == lidl::call_fault::malformed_call ||
                why.what == lidl::call_fault::malformed_reply)
                text += std::string(": ") + lidl::describe(why.detail.kind);
            fail(r, http_status_of(why.what), lidl::name(why.what), text, {}, false, &why);
        }
        r.now = request::phase::finished;
        if (r.suspended) {
            r.suspended = false;
            MHD_resume_connection(r.connection);
            self.post_kick();
        }
    }

    void track(request& r) {
        r.previous_in_flight = nullptr;
        r.next_in_flight = in_flight;
        if (in_flight != nullptr)
            in_flight->previous_in_flight = &r;
        in_flight = &r;
        ++in_flight_count;
    }

    void forget(request& r) {
        bool tracked = r.previous_in_flight != nullptr || in_flight == &r;
        if (!tracked)
            return;
        if (r.previous_in_flight != nullptr)
            r.previous_in_flight->next_in_flight = r.next_in_flight;
        else
            in_flight = r.next_in_flight;
        if (r.next_in_flight != nullptr)
            r.next_in_flight->previous_in_flight = r.previous_in_flight;
        r.previous_in_flight = r.next_in_flight = nullptr;
        --in_flight_count;
    }

    // --- start and stop ------------------------------------------------------------------------

    result<void, std::string> start() {
        if (daemon != nullptr)
            return failure{std::string("already started")};
        sockaddr_storage address{};
        unsigned flags = MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME;
        auto* v4 = reinterpret_cast<sockaddr_in*>(&address);
        auto* v6 = reinterpret_cast<sockaddr_in6*>(&address);
        if (::inet_pton(AF_INET, settings.address.c_str(), &v4->sin_addr) == 1) {
            v4->sin_family = AF_INET;
            v4->sin_port = htons(settings.port);
        } else if (::inet_pton(AF_INET6, settings.address.c_str(), &v6->sin6_addr) == 1) {
            v6->sin6_family = AF_INET6;
            v6->sin6_port = htons(settings.port);
            flags |= MHD_USE_IPv6;
        } else {
            return failure{"not an IPv4 or IPv6 address: " + settings.address};
        }
        errno = 0;
        daemon = MHD_start_daemon(
            flags, settings.port, nullptr, nullptr, &on_access, this, MHD_OPTION_SOCK_ADDR,
            reinterpret_cast<sockaddr*>(&address), MHD_OPTION_CONNECTION_MEMORY_LIMIT,
            settings.connection_memory_bytes, MHD_OPTION_CONNECTION_LIMIT, settings.max_connections,
            MHD_OPTION_CONNECTION_TIMEOUT, settings.idle_timeout_seconds,
            MHD_OPTION_NOTIFY_COMPLETED, &on_completed, this, MHD_OPTION_END);
        if (daemon == nullptr) {
            int error = errno;
            return failure{"cannot listen on " + settings.address + " port " +
                           std::to_string(settings.port) +
                           (error != 0 ? std::string(": ") + std::strerror(error) : "")};
        }
        const MHD_DaemonInfo* epoll_info = MHD_get_daemon_info(daemon, MHD_DAEMON_INFO_EPOLL_FD);
        const MHD_DaemonInfo* port_info = MHD_get_daemon_info(daemon, MHD_DAEMON_INFO_BIND_PORT);
        if (epoll_info == nullptr || port_info == nullptr) {
            MHD_stop_daemon(daemon);
            daemon = nullptr;
            return failure{std::string("libmicrohttpd gave no epoll descriptor or port")};
        }
        epoll_fd = epoll_info->epoll_fd;
        bound_port = port_info->port;
        auto watched = watcher.watch(epoll_fd, loop, io_ready);
        if (!watched) {
            MHD_stop_daemon(daemon);
            daemon = nullptr;
            return failure{std::string("cannot watch libmicrohttpd's epoll descriptor: ") +
                           std::strerror(watched.error())};
        }
        schedule();
        return {};
    }

    void stop() {
        if (daemon == nullptr)
            return;
        watcher.unwatch(epoll_fd);
        loop.cancel(io_ready);
        loop.cancel(timer);
        loop.cancel(kick);
        // Calls in flight: destroy their tasks and let their connections be closed.
        while (in_flight != nullptr) {
            request& r = *in_flight;
            forget(r);
            r.work = task<lidl::serve_result>();
            r.now = request::phase::cancelled;
            if (r.suspended) {
                r.suspended = false;
                MHD_resume_connection(r.connection);
            }
        }
        MHD_stop_daemon(daemon);
        daemon = nullptr;
        epoll_fd = -1;
    }
};

exporter::exporter(event_loop& loop, descriptor_watcher& watcher, const caplets::secret_key& secret,
                   options settings)
    : state_(std::make_unique<state>(loop, watcher, secret, std::move(settings))) {}

exporter::~exporter() {
    stop();
}

result<void, export_error> exporter::add(std::string_view name, const interface_codec& codec,
                                         call_target& target, std::string_view schema_description) {
    if (state_->daemon != nullptr)
        return failure{export_error::already_started};
    if (!valid_export_name(name))
        return failure{export_error::bad_name};
    if (state_->find_export(name) != nullptr)
        return failure{export_error::duplicate_name};
    auto description = describe_export(name, codec, schema_description);
    if (!description)
        return failure{export_error::bad_description};
    auto entry = std::make_unique<state::export_entry>();
    entry->name = std::string(name);
    entry->codec = &codec;
    entry->target = &target;
    entry->description = std::move(description.value());
    state_->exports.push_back(std::move(entry));
    return {};
}

result<void, std::string> exporter::start() {
    return state_->start();
}

std::uint16_t exporter::port() const {
    return state_->bound_port;
}

void exporter::stop() {
    state_->stop();
}

std::size_t exporter::calls_in_flight() const {
    return state_->in_flight_count;
}

} // namespace amb::http_export

// The seam between the HTTP exporter and whatever serves the calls: "call procedure N with this
// call message and give me the reply message".
//
// The exporter turns a JSON request into a lidl call message (the `<procedure>_call` root) and
// hands it to a `call_target`; the target answers with a reply message (the procedure's reply
// root), which the exporter turns back into JSON. Only messages cross this seam, so the target
// may run the procedure on an implementation in this process (`local_target<S>`, below) or
// forward the bytes to a remote instance through a network backend (the message is already in
// the form a network proxy sends).
//
//     demo::averager_impl averager;
//     http_export::local_target<demo::averager> target(averager);
//     exporter.add("averager", http_export::interface_of<demo::averager>(), target, description);
//
// A call message is untrusted: the target verifies it (`lidl_codec::decode_call` does) before
// the implementation sees anything. Threading: a target is called on the exporter's loop thread;
// the returned task may suspend (the exporter then suspends the HTTP response) and must complete
// on that thread.
#pragma once

#include <lidl/service.hpp>

#include <async/task.hpp>
#include <base/result.hpp>

#include <array>
#include <cstdint>
#include <span>
#include <utility>

namespace amb::http_export {

enum class call_error : std::uint8_t {
    bad_procedure = 1, ///< no procedure with that id
    bad_message,       ///< the call message does not verify (detail says where)
    reply_too_large,   ///< the reply does not fit the reply buffers
    unavailable,       ///< the service could not be reached (remote targets)
};

/// A sentence for `e`.
constexpr const char* describe(call_error e) {
    switch (e) {
    case call_error::bad_procedure:
        return "no such procedure";
    case call_error::bad_message:
        return "the call message does not verify";
    case call_error::reply_too_large:
        return "the reply does not fit the reply buffer";
    case call_error::unavailable:
        return "the service is unavailable";
    }
    return "unknown call error";
}

struct call_failure {
    call_error what;
    /// For bad_message: what the lidl verifier found.
    lidl::verify_error detail{};
};

/// The reply message (pointing into one of the caller's builders), or why there is none.
using call_outcome = result<std::span<const std::uint8_t>, call_failure>;

class call_target {
public:
    virtual ~call_target() = default;

    /// Runs procedure `id` with `message` (a call message; verified by the target). `message`
    /// must stay valid until the task finishes. The implementation builds results with
    /// references in `response`; replies are encoded into `response` (a struct or union result
    /// built as its root) or `reply`. The returned reply bytes point into one of them. An empty
    /// (invalid) task means no frame could be allocated.
    virtual task<call_outcome> call(std::uint32_t id, std::span<const std::uint8_t> message,
                                    lidl::builder& response, lidl::builder& reply) = 0;
};

/// Serves calls with an implementation of `Service` in this process, through the generated
/// codec and dispatcher. The implementation must outlive the target.
template <class Service>
class local_target final : public call_target {
public:
    explicit local_target(Service& implementation) : implementation_(implementation) {}

    task<call_outcome> call(std::uint32_t id, std::span<const std::uint8_t> message,
                            lidl::builder& response, lidl::builder& reply) override {
        if (id >= Service::lidl_procedure_count)
            return failed(call_failure{call_error::bad_procedure});
        return runners()[id](implementation_, message, response, reply);
    }

private:
    using runner = task<call_outcome> (*)(Service&, std::span<const std::uint8_t>, lidl::builder&,
                                          lidl::builder&);

    static task<call_outcome> failed(call_failure failure_reason) {
        co_return failure{failure_reason};
    }

    template <std::uint32_t Id>
    static task<call_outcome> run(Service& implementation, std::span<const std::uint8_t> message,
                                  lidl::builder& response, lidl::builder& reply) {
        using procedure = typename Service::template lidl_procedure<Id>;
        typename procedure::params params{};
        auto decoded = Service::lidl_codec::decode_call(Id, message, &params, &response);
        if (!decoded)
            co_return failure{call_failure{call_error::bad_message, decoded.error()}};
        lidl::slot<typename procedure::result> result;
        co_await Service::lidl_dispatch::template invoke<Id>(implementation, &params,
                                                             result.address());
        std::span<const std::uint8_t> bytes =
            Service::lidl_codec::encode_reply(Id, result.address(), response, reply);
        if (bytes.empty())
            co_return failure{call_failure{call_error::reply_too_large}};
        co_return bytes;
    }

    template <std::size_t... Ids>
    static constexpr std::array<runner, sizeof...(Ids)> make_runners(std::index_sequence<Ids...>) {
        return {&run<static_cast<std::uint32_t>(Ids)>...};
    }

    static const std::array<runner, Service::lidl_procedure_count>& runners() {
        static constexpr auto table =
            make_runners(std::make_index_sequence<Service::lidl_procedure_count>());
        return table;
    }

    Service& implementation_;
};

} // namespace amb::http_export

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
// A call message is untrusted: the target verifies it (`lidl_dispatch::serve` does) before
// the implementation sees anything. Threading: a target is called on the exporter's loop thread;
// the returned task may suspend (the exporter then suspends the HTTP response) and must complete
// on that thread.
#pragma once

#include <lidl/service.hpp>

#include <async/task.hpp>

#include <cstdint>
#include <span>

namespace amb::http_export {

class call_target {
public:
    virtual ~call_target() = default;

    /// Runs procedure `id` with `message` (a call message; verified by the target). `message`
    /// must stay valid until the task finishes. The implementation builds results with
    /// references in `response`; replies are encoded into `response` (a struct or union result
    /// built as its root) or `reply`. The reply bytes point into one of them; a failed call
    /// completes with the `lidl::call_error` saying what failed (the exporter maps it to an HTTP
    /// status). An empty (invalid) task means no frame could be allocated.
    virtual task<lidl::serve_result> call(std::uint32_t id, std::span<const std::uint8_t> message,
                                          lidl::builder& response, lidl::builder& reply) = 0;
};

/// Serves calls with an implementation of `Service` in this process, through the generated
/// `lidl_dispatch::serve` (an unknown id or a call that does not verify invokes nothing). The
/// implementation must outlive the target.
template <class Service>
class local_target final : public call_target {
public:
    explicit local_target(Service& implementation) : implementation_(implementation) {}

    task<lidl::serve_result> call(std::uint32_t id, std::span<const std::uint8_t> message,
                                  lidl::builder& response, lidl::builder& reply) override {
        return Service::lidl_dispatch::serve(implementation_, id, message, response, reply);
    }

private:
    Service& implementation_;
};

} // namespace amb::http_export

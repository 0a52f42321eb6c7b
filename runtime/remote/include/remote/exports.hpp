// The seam between a node's network side and the services it exports: a type-erased service
// (`exported_service`: procedure name → id, and (id, call message) → reply message) and
// `lidl_export<S>`, which serves any implementation of a lidl interface `S` through it.
//
//     thermostat_impl implementation;                       // in this group, or
//     thermostat_client<channel_backend<thermostat>> proxy; // a client of another group
//     remote::lidl_export<thermostat> exported(implementation_or_proxy);
//     node.export_service("thermostat", exported);
//
// Whatever `S&` is given — the implementation itself or a generated client over any backend —
// the callee is called with the parameter tuple it would get in its own group (DESIGN.md §3).
// The node calls `serve` only after the request token was verified and the procedure checked.
//
// Lifetime: an export must outlive the node it is registered with. Threading: the node's loop.
#pragma once

#include <remote/envelope.hpp>

#include <async/task.hpp>
#include <lidl/service.hpp>

#include <cstdint>
#include <optional>
#include <span>
#include <string_view>
#include <utility>

namespace amb::remote {

/// What serving one call produced: `ok` and the reply message, or a failure status
/// (bad_arguments, service_failure).
struct serve_outcome {
    status_code status = status_code::ok;
    byte_view reply;
};

class exported_service {
public:
    /// The id of the procedure named `name`, if the service has one.
    virtual std::optional<std::uint32_t> find_procedure(std::string_view name) const = 0;
    /// Decodes `call` (8-byte aligned, kept alive by the caller until the task finishes), runs
    /// procedure `id` (< procedure count: the caller checked) and encodes the reply into
    /// `response` or `spare`. The task may be empty when no frame could be allocated.
    virtual task<serve_outcome> serve(std::uint32_t id, byte_view call, lidl::builder& response,
                                      lidl::builder& spare) = 0;

protected:
    ~exported_service() = default;
};

template <class S>
class lidl_export final : public exported_service {
public:
    explicit lidl_export(S& implementation) : implementation_(&implementation) {}

    std::optional<std::uint32_t> find_procedure(std::string_view name) const override {
        for (std::uint32_t id = 0; id < S::lidl_procedure_count; ++id)
            if (name == S::lidl_procedure_name(id))
                return id;
        return std::nullopt;
    }

    task<serve_outcome> serve(std::uint32_t id, byte_view call, lidl::builder& response,
                              lidl::builder& spare) override {
        return dispatch(id, call, response, spare,
                        std::make_integer_sequence<std::uint32_t, S::lidl_procedure_count>{});
    }

private:
    template <std::uint32_t Id>
    static task<serve_outcome> serve_one(S& implementation, byte_view call, lidl::builder& response,
                                         lidl::builder& spare) {
        using procedure = typename S::template lidl_procedure<Id>;
        typename procedure::params params{};
        if (!S::lidl_codec::decode_call(Id, call, &params, &response))
            co_return serve_outcome{status_code::bad_arguments, {}};
        lidl::slot<typename procedure::result> result;
        co_await S::lidl_dispatch::template invoke<Id>(implementation, &params, result.address());
        byte_view reply = S::lidl_codec::encode_reply(Id, result.address(), response, spare);
        if (reply.empty())
            co_return serve_outcome{status_code::service_failure, {}};
        co_return serve_outcome{status_code::ok, reply};
    }

    template <std::uint32_t... Ids>
    task<serve_outcome> dispatch(std::uint32_t id, byte_view call, lidl::builder& response,
                                 lidl::builder& spare,
                                 std::integer_sequence<std::uint32_t, Ids...>) {
        task<serve_outcome> work;
        (void)((id == Ids ? (work = serve_one<Ids>(*implementation_, call, response, spare), true)
                          : false) ||
               ...);
        return work;
    }

    S* implementation_;
};

} // namespace amb::remote

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
#include <string_view>

namespace amb::remote {

class exported_service {
public:
    /// The id of the procedure named `name`, if the service has one.
    virtual std::optional<std::uint32_t> find_procedure(std::string_view name) const = 0;
    /// Verifies `call` (8-byte aligned, kept alive by the caller until the task finishes) as a
    /// call of procedure `id`, runs it and encodes the reply into `response` or `spare`; the
    /// generated `lidl_dispatch::serve` (an unknown id or a call that does not verify invokes
    /// nothing). The task may be empty when no frame could be allocated.
    virtual task<lidl::serve_result> serve(std::uint32_t id, byte_view call,
                                           lidl::builder& response, lidl::builder& spare) = 0;

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

    task<lidl::serve_result> serve(std::uint32_t id, byte_view call, lidl::builder& response,
                                   lidl::builder& spare) override {
        return S::lidl_dispatch::serve(*implementation_, id, call, response, spare);
    }

private:
    S* implementation_;
};

} // namespace amb::remote

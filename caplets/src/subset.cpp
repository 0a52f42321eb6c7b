// The subset relation between capabilities, and derivation checks.
#include <caplets/caplets.hpp>

#include "derivation.hpp"

#include <cstring>

namespace caplets {
namespace {

using kind = capability::alternative;

// `child` is `parent` or below it on a component boundary (/home/alicia is not below
// /home/alice). Both are normalised.
bool is_below(std::string_view child, std::string_view parent) {
    if (parent == "/")
        return true;
    if (child.size() < parent.size() || std::string_view(child.data(), parent.size()) != parent)
        return false;
    return child.size() == parent.size() || child[parent.size()] == '/';
}

bool rights_within(std::uint8_t child, std::uint8_t parent) {
    return (child & ~parent) == 0 && (child & ~rights::all) == 0;
}

bool is_single_right(std::uint8_t operation) {
    return operation != 0 && (operation & (operation - 1)) == 0 && (operation & ~rights::all) == 0;
}

bool lists(const service_capability& service, std::string_view procedure) {
    if (service.all)
        return true;
    for (const lidl::string& name : service.procedures)
        if (name.view() == procedure)
            return true;
    return false;
}

bool same_bytes(byte_view a, byte_view b) {
    return a.size() == b.size() && (a.empty() || std::memcmp(a.data(), b.data(), a.size()) == 0);
}

}  // namespace

bool is_normalised_path(std::string_view path) {
    const std::size_t size = path.size();
    if (size == 0 || path[0] != '/')
        return false;
    if (size == 1)
        return true;
    // Not "/": every component (after each '/') must be non-empty and neither "." nor "..", and
    // no byte may be NUL. One vectorised scan for NUL, then one per '/' (components are short,
    // and a per-byte loop over both cost several times more on the verifier's hot path).
    const char* data = path.data();
    const char* end = data + size;
    if (end[-1] == '/' || std::memchr(data, '\0', size) != nullptr)
        return false;
    for (const char* slash = data; slash != nullptr;) {
        // The last byte is not '/', so a component starts inside the path.
        const char* component = slash + 1;
        const std::size_t left = static_cast<std::size_t>(end - component);
        if (component[0] == '/')
            return false;
        if (component[0] == '.') {
            if (left == 1 || component[1] == '/')
                return false;
            if (component[1] == '.' && (left == 2 || component[2] == '/'))
                return false;
        }
        slash = static_cast<const char*>(std::memchr(component, '/', left));
    }
    return true;
}

bool is_leaf_only(const capability& c) {
    kind k = c.which();
    return k == kind::encrypt || k == kind::path_request || k == kind::call_request;
}

namespace {

// is_subset's rule, in this file so that check_derivation's loop inlines it.
bool within(const capability& child, const capability& parent, extension_rule rule) {
    if (!child.has_value() || !parent.has_value())
        return false;
    if (parent.which() == kind::root)
        return true;
    if (child.which() == kind::encrypt)
        return true;  // grants no rights: only a channel as the holder of the parent token
    switch (child.which()) {
    case kind::path: {
        const path_capability* p = parent.path();
        const path_capability* c = child.path();
        return p != nullptr && is_below(c->prefix, p->prefix) && rights_within(c->rights, p->rights);
    }
    case kind::service: {
        const service_capability* p = parent.service();
        const service_capability* c = child.service();
        if (p == nullptr || p->name.view() != c->name.view())
            return false;
        if (p->all)
            return true;
        if (c->all)
            return false;
        for (const lidl::string& procedure : c->procedures)
            if (!lists(*p, procedure))
                return false;
        return true;
    }
    case kind::identity: {
        const identity_capability* p = parent.identity();
        return p != nullptr && p->id.view() == child.identity()->id.view();
    }
    case kind::path_request: {
        const path_capability* p = parent.path();
        const path_request* c = child.path_request();
        return p != nullptr && is_single_right(c->operation) && (c->operation & p->rights) != 0 &&
               is_below(c->path, p->prefix);
    }
    case kind::call_request: {
        const service_capability* p = parent.service();
        const call_request* c = child.call_request();
        return p != nullptr && p->name.view() == c->service.view() && lists(*p, c->procedure);
    }
    case kind::extension: {
        const extension_capability* p = parent.extension();
        return p != nullptr && rule != nullptr && rule(*child.extension(), *p);
    }
    default: return false;  // root only within root
    }
}

}  // namespace

bool is_subset(const capability& child, const capability& parent, extension_rule rule) {
    return within(child, parent, rule);
}

bool same_constraint(const constraint& a, const constraint& b) {
    if (a.which() != b.which())
        return false;
    using ckind = constraint::alternative;
    switch (a.which()) {
    case ckind::expires: return *a.expires() == *b.expires();
    case ckind::not_before: return *a.not_before() == *b.not_before();
    case ckind::sequence: return *a.sequence() == *b.sequence();
    case ckind::endpoint:
        return a.endpoint()->address == b.endpoint()->address &&
               a.endpoint()->prefix_length == b.endpoint()->prefix_length &&
               a.endpoint()->v6 == b.endpoint()->v6;
    case ckind::signature: return *a.signature() == *b.signature();
    case ckind::identity: return a.identity()->view() == b.identity()->view();
    case ckind::capvm: return same_bytes(a.capvm()->view(), b.capvm()->view());
    case ckind::audience: return a.audience()->view() == b.audience()->view();
    case ckind::lidl_empty: return true;
    }
    return false;
}

namespace {

reason refused(check what, std::size_t capability, std::size_t constraint) {
    reason why;
    why.what = what;
    why.capability = static_cast<std::int16_t>(capability);
    why.constraint = static_cast<std::int16_t>(constraint);
    return why;
}

}  // namespace

namespace {

// The path a capability names (a path capability's prefix, a path request's path), if any.
bool path_of(const capability& c, std::string_view& path) {
    if (const path_capability* prefix = c.path()) {
        path = prefix->prefix.view();
        return true;
    }
    if (const path_request* request = c.path_request()) {
        path = request->path.view();
        return true;
    }
    return false;
}

}  // namespace

amb::result<void, reason> check_derivation(const frame& parent, const frame& child,
                                           extension_rule rule) {
    return detail::check_link(parent, child, rule, false);
}

amb::result<void, reason> detail::check_link(const frame& parent, const frame& child,
                                             extension_rule rule, bool parent_paths_normalised) {
    constexpr std::size_t none = static_cast<std::size_t>(-1);
    // The vectors were verified with the frames: read them as spans (no per-index checks).
    const std::span<const capability> parent_capabilities = parent.capabilities.view();
    const std::span<const capability> child_capabilities = child.capabilities.view();
    for (std::size_t i = 0; i < parent_capabilities.size(); ++i)
        if (is_leaf_only(parent_capabilities[i]))
            return amb::failure{refused(check::derived_from_leaf_only, i, none)};
    for (std::size_t i = 0; i < child_capabilities.size(); ++i) {
        const capability& c = child_capabilities[i];
        const capability* container = nullptr;
        for (const capability& p : parent_capabilities)
            if (within(c, p, rule)) {
                container = &p;
                break;
            }
        // A path that is not normalised is refused as such, contained or not (bad_path before
        // not_a_subset). Within a parent path capability other than "/", the path is that
        // normalised prefix followed by nothing or by "/...": only that remainder needs the
        // check, and it must not be "/" alone (a trailing '/').
        std::string_view path;
        if (path_of(c, path)) {
            const path_capability* prefix = container != nullptr ? container->path() : nullptr;
            if (parent_paths_normalised && prefix != nullptr && prefix->prefix.size() > 1) {
                const std::string_view rest = path.substr(prefix->prefix.size());
                if (!rest.empty() && (rest.size() == 1 || !is_normalised_path(rest)))
                    return amb::failure{refused(check::bad_path, i, none)};
            } else if (!is_normalised_path(path)) {
                return amb::failure{refused(check::bad_path, i, none)};
            }
        }
        if (container == nullptr)
            return amb::failure{refused(check::not_a_subset, i, none)};
    }
    // Every parent constraint must be in the child. A derivation copies them in the parent's
    // order (frame_spec::inherit_constraints), so the child's constraint after the last one
    // found is tried first: a chain of n frames costs n compares per link, not n squared; any
    // other order falls back to a scan of the child's constraints.
    const std::span<const constraint> parent_constraints = parent.constraints.view();
    const std::span<const constraint> child_constraints = child.constraints.view();
    std::size_t next = 0;
    for (std::size_t i = 0; i < parent_constraints.size(); ++i) {
        const constraint& wanted = parent_constraints[i];
        std::size_t found = none;
        if (next < child_constraints.size() && same_constraint(wanted, child_constraints[next]))
            found = next;
        for (std::size_t j = 0; found == none && j < child_constraints.size(); ++j)
            if (same_constraint(wanted, child_constraints[j]))
                found = j;
        if (found == none)
            return amb::failure{refused(check::dropped_constraint, none, i)};
        next = found + 1;
    }
    return {};
}

}  // namespace caplets

// frame_spec: describing a frame with views of the caller's data and writing it as a message.
#include <caplets/caplets.hpp>

#include <cstring>

namespace caplets {

bool frame_spec::push(const capability_item& item) {
    if (capability_count_ == capacity)
        return false;
    capabilities_[capability_count_++] = item;
    return true;
}

bool frame_spec::push(const constraint_item& item) {
    if (constraint_count_ == capacity)
        return false;
    constraints_[constraint_count_++] = item;
    return true;
}

bool frame_spec::add_root() { return push(make(capability::alternative::root)); }

bool frame_spec::add_path(std::string_view prefix, std::uint8_t bits) {
    capability_item item = make(capability::alternative::path, prefix);
    item.bits = bits;
    return push(item);
}

bool frame_spec::add_service(std::string_view name, std::span<const std::string_view> procedures,
                             bool all) {
    capability_item item = make(capability::alternative::service, name, {});
    item.names = procedures;
    item.all = all;
    return push(item);
}

bool frame_spec::add_identity(std::string_view id) {
    return push(make(capability::alternative::identity, id));
}

bool frame_spec::add_encrypt() {
    return push(make(capability::alternative::encrypt));
}

bool frame_spec::add_path_request(std::uint8_t operation, std::string_view path) {
    capability_item item = make(capability::alternative::path_request, path, {});
    item.bits = operation;
    return push(item);
}

bool frame_spec::add_call_request(std::string_view service, std::string_view procedure,
                                  byte_view arguments) {
    capability_item item = make(capability::alternative::call_request, service, procedure);
    item.bytes = arguments;
    return push(item);
}

bool frame_spec::add_extension(std::uint32_t type_id, byte_view body) {
    capability_item item = make(capability::alternative::extension, {}, {});
    item.type_id = type_id;
    item.bytes = body;
    return push(item);
}

bool frame_spec::add_expires(std::uint64_t unix_seconds) {
    constraint_item item = make(constraint::alternative::expires);
    item.number = unix_seconds;
    return push(item);
}

bool frame_spec::add_not_before(std::uint64_t unix_seconds) {
    constraint_item item = make(constraint::alternative::not_before);
    item.number = unix_seconds;
    return push(item);
}

bool frame_spec::add_endpoint(byte_view address, std::uint8_t prefix_length) {
    if (address.size() != 4 && address.size() != 16)
        return false;
    if (prefix_length > address.size() * 8)
        return false;
    constraint_item item = make(constraint::alternative::endpoint);
    std::memcpy(item.address.data(), address.data(), address.size());
    item.prefix_length = prefix_length;
    item.v6 = address.size() == 16;
    return push(item);
}

bool frame_spec::add_signature(const tag_bytes& tag) {
    constraint_item item = make(constraint::alternative::signature);
    item.tag = tag;
    return push(item);
}

bool frame_spec::add_identity_constraint(std::string_view id) {
    constraint_item item = make(constraint::alternative::identity);
    item.text = id;
    return push(item);
}

bool frame_spec::add_sequence(std::uint64_t number) {
    constraint_item item = make(constraint::alternative::sequence);
    item.number = number;
    return push(item);
}

bool frame_spec::add_capvm(byte_view bytecode) {
    constraint_item item = make(constraint::alternative::capvm);
    item.bytes = bytecode;
    return push(item);
}

bool frame_spec::add_audience(std::string_view verifier) {
    constraint_item item = make(constraint::alternative::audience);
    item.text = verifier;
    return push(item);
}

bool frame_spec::inherit_constraints(const frame& parent) {
    for (const constraint& c : parent.constraints) {
        constraint_item item = make(c.which());
        item.copy_of = &c;
        if (!push(item))
            return false;
    }
    return true;
}

namespace {

bool write_capability(lidl::builder& out, capability& to, const auto& item) {
    using kind = capability::alternative;
    switch (item.kind) {
    case kind::root: return to.set_root(out) != nullptr;
    case kind::encrypt: return to.set_encrypt(out) != nullptr;
    case kind::path: {
        path_capability* path = to.set_path(out);
        if (path == nullptr)
            return false;
        path->rights = item.bits;
        return out.set(path->prefix, item.text);
    }
    case kind::service: {
        service_capability* service = to.set_service(out);
        if (service == nullptr)
            return false;
        service->all = item.all;
        return out.set(service->name, item.text) && out.set_strings(service->procedures, item.names);
    }
    case kind::identity: {
        identity_capability* identity = to.set_identity(out);
        return identity != nullptr && out.set(identity->id, item.text);
    }
    case kind::path_request: {
        path_request* request = to.set_path_request(out);
        if (request == nullptr)
            return false;
        request->operation = item.bits;
        return out.set(request->path, item.text);
    }
    case kind::call_request: {
        call_request* request = to.set_call_request(out);
        return request != nullptr && out.set(request->service, item.text) &&
               out.set(request->procedure, item.text2) && out.set(request->arguments, item.bytes);
    }
    case kind::extension: {
        extension_capability* extension = to.set_extension(out);
        if (extension == nullptr)
            return false;
        extension->type_id = item.type_id;
        return out.set(extension->body, item.bytes);
    }
    case kind::lidl_empty: return false;
    }
    return false;
}

bool write_constraint(lidl::builder& out, constraint& to, const auto& item) {
    using kind = constraint::alternative;
    if (item.copy_of != nullptr)
        return lidl::copy(out, to, *item.copy_of);
    switch (item.kind) {
    case kind::expires: {
        std::uint64_t* value = to.set_expires(out);
        return value != nullptr && (*value = item.number, true);
    }
    case kind::not_before: {
        std::uint64_t* value = to.set_not_before(out);
        return value != nullptr && (*value = item.number, true);
    }
    case kind::sequence: {
        std::uint64_t* value = to.set_sequence(out);
        return value != nullptr && (*value = item.number, true);
    }
    case kind::endpoint: {
        endpoint_constraint* endpoint = to.set_endpoint(out);
        if (endpoint == nullptr)
            return false;
        endpoint->address = item.address;
        endpoint->prefix_length = item.prefix_length;
        endpoint->v6 = item.v6;
        return true;
    }
    case kind::signature: {
        lidl::array<std::uint8_t, 32>* tag = to.set_signature(out);
        return tag != nullptr && (*tag = item.tag, true);
    }
    case kind::identity: {
        lidl::string* id = to.set_identity(out);
        return id != nullptr && out.set(*id, item.text);
    }
    case kind::capvm: {
        lidl::vector<std::uint8_t>* code = to.set_capvm(out);
        return code != nullptr && out.set(*code, item.bytes);
    }
    case kind::audience: {
        lidl::string* name = to.set_audience(out);
        return name != nullptr && out.set(*name, item.text);
    }
    case kind::lidl_empty: return false;
    }
    return false;
}

}  // namespace

amb::result<byte_view, lidl::error> frame_spec::write(lidl::builder& out) const {
    frame* root = out.create_root<frame>();
    if (root == nullptr)
        return amb::failure{lidl::error::buffer_too_small};
    capability* caps = out.create_vector(root->capabilities, capability_count_);
    for (std::size_t i = 0; i < capability_count_; ++i)
        if (caps == nullptr || !write_capability(out, caps[i], capabilities_[i]))
            return amb::failure{lidl::error::buffer_too_small};
    constraint* cons = out.create_vector(root->constraints, constraint_count_);
    for (std::size_t i = 0; i < constraint_count_; ++i)
        if (cons == nullptr || !write_constraint(out, cons[i], constraints_[i]))
            return amb::failure{lidl::error::buffer_too_small};
    auto finished = out.finish();
    if (!finished)
        return amb::failure{finished.error()};
    return finished.value();
}

}  // namespace caplets

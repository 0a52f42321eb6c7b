// amb-remote-keys: the key material of a deployment, created at build time (docs/remote.md,
// "Keys"). Every file is written with mode 0600 and never overwritten; no key or credential is
// ever printed.
//
//   amb-remote-keys root       --out FILE
//   amb-remote-keys node-key   --root FILE --node NAME --out FILE
//   amb-remote-keys credential --root FILE --caller NAME --callee NAME
//                              --import SERVICE[:PROCEDURE,...]... [--expires UNIX_SECONDS]
//                              --out FILE
//
// Exit status: 0 done, 1 failed (reason on stderr), 2 usage.
#include <hosted/remote/key_files.hpp>
#include <remote/envelope.hpp>
#include <remote/keys.hpp>

#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace {

using namespace amb;

int usage() {
    std::fputs("usage: amb-remote-keys root --out FILE\n"
               "       amb-remote-keys node-key --root FILE --node NAME --out FILE\n"
               "       amb-remote-keys credential --root FILE --caller NAME --callee NAME\n"
               "                       --import SERVICE[:PROCEDURE,...]... [--expires UNIX] "
               "--out FILE\n",
               stderr);
    return 2;
}

int fail(const std::string& what) {
    std::fprintf(stderr, "amb-remote-keys: %s\n", what.c_str());
    return 1;
}

} // namespace

int main(int argc, char** argv) {
    if (argc < 2)
        return usage();
    const std::string command = argv[1];
    std::multimap<std::string, std::string> options;
    for (int i = 2; i < argc; ++i) {
        std::string key = argv[i];
        if (key.rfind("--", 0) != 0 || i + 1 >= argc)
            return usage();
        options.emplace(key.substr(2), argv[++i]);
    }
    auto one = [&](const char* name) -> std::string {
        auto found = options.find(name);
        return found == options.end() ? std::string() : found->second;
    };
    const std::string out = one("out");
    if (out.empty())
        return usage();

    if (command == "root") {
        auto written = hosted::remote::create_deployment_key(out);
        if (!written)
            return fail(out + ": " + hosted::remote::describe(written.error()));
        return 0;
    }

    caplets::secret_key root;
    const std::string root_path = one("root");
    if (root_path.empty())
        return usage();
    auto loaded = hosted::remote::read_secret_key(root_path, root);
    if (!loaded)
        return fail(root_path + ": " + hosted::remote::describe(loaded.error()));

    if (command == "node-key") {
        const std::string name = one("node");
        if (!remote::valid_node_name(name))
            return fail("invalid node name");
        caplets::secret_key key = remote::node_verification_key(root, name);
        auto written = hosted::remote::write_private_file(out, key.bytes);
        if (!written)
            return fail(out + ": " + hosted::remote::describe(written.error()));
        return 0;
    }

    if (command == "credential") {
        const std::string caller = one("caller");
        const std::string callee = one("callee");
        std::uint64_t expires = 0;
        if (!one("expires").empty())
            expires = std::strtoull(one("expires").c_str(), nullptr, 10);
        // SERVICE[:p1,p2]: the strings live in `names` for the duration of the mint.
        std::vector<std::string> services;
        std::vector<std::vector<std::string>> procedures;
        auto range = options.equal_range("import");
        for (auto it = range.first; it != range.second; ++it) {
            const std::string& spec = it->second;
            auto colon = spec.find(':');
            services.push_back(spec.substr(0, colon));
            procedures.emplace_back();
            if (colon == std::string::npos)
                continue;
            std::string list = spec.substr(colon + 1);
            std::size_t start = 0;
            while (start <= list.size()) {
                auto comma = list.find(',', start);
                std::string name = list.substr(start, comma - start);
                if (!name.empty() && name != "*")
                    procedures.back().push_back(name);
                if (comma == std::string::npos)
                    break;
                start = comma + 1;
            }
        }
        if (services.empty())
            return usage();
        std::vector<std::vector<std::string_view>> views(services.size());
        std::vector<remote::import_rights> rights;
        for (std::size_t i = 0; i < services.size(); ++i) {
            for (const std::string& name : procedures[i])
                views[i].push_back(name);
            rights.push_back({services[i], views[i]});
        }
        std::vector<std::uint64_t> storage(8192);
        lidl::builder token_out(
            {reinterpret_cast<std::uint8_t*>(storage.data()), storage.size() * 8});
        auto token = remote::mint_credential(root, caller, callee, rights, expires, token_out);
        if (!token)
            return fail(remote::describe(token.error()));
        auto written = hosted::remote::write_private_file(out, *token);
        if (!written)
            return fail(out + ": " + hosted::remote::describe(written.error()));
        return 0;
    }
    return usage();
}

// node_settings: the settings file of a node (`key = value` lines; keys declared once in
// node_settings.keys, see node_settings_keys.hpp), read and checked before the kernel wires the
// node. A tool-level reader: a broken file fails the node with one line (`fail`).
#include <deploy/glue.hpp>
#include "node_settings_keys.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cstdlib>
#include <fstream>
#include <string>

namespace amb::deploy {

namespace {

std::string trim(std::string_view text) {
    std::size_t first = text.find_first_not_of(" \t\r");
    if (first == std::string_view::npos)
        return {};
    std::size_t last = text.find_last_not_of(" \t\r");
    return std::string(text.substr(first, last - first + 1));
}

bool parse_endpoint(std::string_view text, hosted::net::ipv4_endpoint& out) {
    std::size_t colon = text.rfind(':');
    if (colon == std::string_view::npos)
        return false;
    std::string address(text.substr(0, colon));
    std::string port(text.substr(colon + 1));
    in_addr parsed{};
    if (::inet_pton(AF_INET, address.c_str(), &parsed) != 1)
        return false;
    char* end = nullptr;
    long number = std::strtol(port.c_str(), &end, 10);
    if (port.empty() || *end != '\0' || number < 0 || number > 65535)
        return false;
    out.address = ntohl(parsed.s_addr);
    out.port = static_cast<std::uint16_t>(number);
    return true;
}

}  // namespace

node_settings node_settings::load(int argc, char** argv, std::string_view node) {
    node_settings settings;
    settings.node_ = std::string(node);
    const char* path = argc > 1 ? argv[1] : std::getenv("AMBIENCE_NODE_SETTINGS");
    if (path == nullptr)
        fail("kernel", "usage: NODE_EXECUTABLE SETTINGS_FILE (written by `ambience run`)");
    std::ifstream in(path);
    if (!in)
        fail("kernel", std::string("cannot read the settings file ") + path);
    std::string line;
    int number = 0;
    while (std::getline(in, line)) {
        ++number;
        std::string text = trim(line);
        if (text.empty() || text[0] == '#')
            continue;
        std::size_t equals = text.find('=');
        if (equals == std::string::npos)
            fail("kernel", std::string(path) + ":" + std::to_string(number) +
                           ": expected `key = value`");
        std::string key = trim(std::string_view(text).substr(0, equals));
        if (!declared_setting(key))
            fail("kernel", std::string(path) + ":" + std::to_string(number) + ": unknown setting `" +
                               key + "` (not declared in " +
                               std::string(node_settings_declaration) + ")");
        settings.values_[key] = trim(std::string_view(text).substr(equals + 1));
    }
    if (settings.get("node") != node)
        fail("kernel", std::string(path) + " is the settings file of node '" + settings.get("node") +
                       "'");
    return settings;
}

const std::string* node_settings::find(std::string_view key) const {
    if (!declared_setting(key))
        fail("kernel", "the node reads setting `" + std::string(key) + "`, which is not declared in " +
                           std::string(node_settings_declaration));
    auto found = values_.find(key);
    return found == values_.end() ? nullptr : &found->second;
}

const std::string& node_settings::get(std::string_view key) const {
    const std::string* value = find(key);
    if (value == nullptr)
        fail("kernel", "the settings file has no `" + std::string(key) + "`");
    return *value;
}

hosted::net::ipv4_endpoint node_settings::endpoint(std::string_view key) const {
    hosted::net::ipv4_endpoint out;
    if (!parse_endpoint(get(key), out))
        fail("kernel", "setting `" + std::string(key) + "` is not an IPv4 ADDRESS:PORT");
    return out;
}

long node_settings::number(std::string_view key, long otherwise) const {
    const std::string* value = find(key);
    if (value == nullptr)
        return otherwise;
    char* end = nullptr;
    long parsed = std::strtol(value->c_str(), &end, 10);
    if (value->empty() || *end != '\0' || parsed < 0)
        fail("kernel", "setting `" + std::string(key) + "` is not a non-negative integer");
    return parsed;
}

}  // namespace amb::deploy

"""Synthesis of per-node glue from a plan (docs/deploy.md, "Synthesis").

    from synth import generate
    files = generate.node_sources(plan)      # {node: C++ source}, one per hosted node
    description = generate.describe(plan)    # what `ambience run` and the key step need

The C++ of a node only wires components together (STYLE.md): the node's groups and channels,
each group's instances constructed in start order with their dependencies (a reference to the
implementation in the same group, a client over a channel to another group or to the kernel),
and in the kernel the network side (links, routes, keys), remote imports and exports, HTTP
imports (the kernel makes the HTTP calls and serves each import to the groups that use it, like
a remote import) and HTTP exports. Everything else is in the glue library (deploy/synth/glue).
"""

import json
import keyword
import os

from synth import http_names

SUPPORTED_ROUTE_KINDS = ("udp", "tcp", "serial")
# Names the generated code uses itself; an instance with one of these names gets a `_` appended.
RESERVED = {"context", "wiring", "this_group", "node", "kernel", "settings", "main", "argc",
            "argv", "std", "amb", "channels", "group_runtime", "kernel_runtime", "start_groups",
            "services", "node_services", "heap"}
HEAP_SIZE = "16 << 20"
# Dependency slots bound by the node to its node services ("node:log", "node:clock" in a
# manifest): what the constructor gets (group_node_services, deploy/node_services.hpp).
NODE_SERVICE_ARGUMENTS = {"amb_node::log": "services.log()", "amb_node::clock": "services.clock()"}


class synthesis_error(Exception):
    """A deployment the synthesizer cannot build yet; the message says what and where."""


def _where(item):
    where = item.get("declared_at") or {}
    if not where:
        return ""
    return f"{os.path.relpath(where['file'])}:{where['line']}: "


def variable(name):
    if name in RESERVED or keyword.iskeyword(name) or name in _CXX_KEYWORDS:
        return name + "_"
    return name


_CXX_KEYWORDS = {"auto", "bool", "case", "char", "class", "const", "default", "delete", "do",
                 "double", "enum", "explicit", "export", "extern", "float", "friend", "goto",
                 "inline", "int", "long", "mutable", "namespace", "new", "operator", "private",
                 "protected", "public", "register", "short", "signed", "sizeof", "static",
                 "struct", "switch", "template", "this", "throw", "typedef", "typename", "union",
                 "unsigned", "using", "virtual", "void", "volatile", "while", "requires",
                 "concept", "co_await", "co_return", "co_yield", "alignas", "alignof"}


def cxx_type(qualified):
    return "::" + qualified


def cxx_client(qualified):
    return "::" + qualified + "_client"


def cxx_string(text):
    """`text` as a C++ string literal (URLs come from manifests)."""
    out = '"'
    for character in text:
        if character in '"\\':
            out += "\\" + character
        elif " " <= character <= "~":
            out += character
        else:
            out += "".join(f"\\x{byte:02x}\"\"" for byte in character.encode("utf-8"))
    return out + '"'


def http_name(export):
    name = export["address"].strip("/")
    if not http_names.valid(name):
        raise synthesis_error(
            f"{_where(export)}error: HTTP export of '{export['instance']}' at "
            f"'{export['address']}': the path must be '/NAME' with NAME of "
            f"{http_names.rule_text()}")
    return name


def check_supported(plan):
    """Raises synthesis_error for what the synthesizer does not build yet."""
    problems = []
    for name, node in plan["nodes"].items():
        if node["platform"] != "hosted":
            problems.append(f"{_where(node)}error: node '{name}' is a {node['platform']} node; "
                            f"`ambience build` builds hosted nodes only so far")
    for name, network in plan["networks"].items():
        if network["kind"] not in SUPPORTED_ROUTE_KINDS + ("http",):
            problems.append(f"{_where(network)}error: network '{name}' is {network['kind']}; "
                            f"generated nodes use udp, tcp, serial and http networks so far")
    for binding in plan["bindings"]:
        if binding["backend"] != "http" or binding["via_node"] == binding["importer_node"]:
            continue
        item = plan["http_imports"][binding["exporter"]]
        problems.append(f"{_where(item)}error: HTTP import '{binding['exporter']}' is reached from "
                        f"node '{binding['importer_node']}' through node '{binding['via_node']}' "
                        f"(network '{item['network']}'); generated nodes make HTTP calls from the "
                        f"importing node only so far (attach '{binding['importer_node']}' to "
                        f"'{item['network']}', or leave network= out)")
    for export in plan["exports"]:
        if export["kind"] != "http":
            problems.append(f"{_where(export)}error: export of '{export['instance']}' on "
                            f"{export['kind']} network '{export['network']}': only HTTP exports "
                            f"are generated so far")
        else:
            try:
                http_name(export)
            except synthesis_error as error:
                problems.append(str(error))
    for name, service in plan["services"].items():
        if not service.get("class") or not service.get("header"):
            problems.append(f"{_where(service)}error: service '{name}' needs cls= and header= "
                            f"(the C++ class generated code constructs, and its header)")
    if problems:
        raise synthesis_error("\n".join(problems))


def _route_legs(route):
    hops = route["hops"]
    for i in range(0, len(hops) - 1, 2):
        yield hops[i], hops[i + 1], hops[i + 2], hops[-1]


def describe(plan):
    """What a node needs besides its code: its networks, links, routes, the keys it reads, what
    it exports. JSON-ready; written next to the generated sources as deployment.json."""
    check_supported(plan)
    nodes = {name: {"groups": node["groups"], "networks": node["networks"],
                    "links": [], "routes": {}, "callees": {}, "exports_remote": [],
                    "http_exports": [], "remote_imports": [], "http_imports": [],
                    "encrypt_to": [], "encrypted_callers": []}
             for name, node in plan["nodes"].items()}
    routes = []
    for binding in plan["bindings"]:
        if binding["backend"] == "network":
            routes += [binding["route"], binding["reply_route"]]
    for export in plan["exports"]:
        if export["node"] != export["instance_node"]:
            routes += [export["route"], export["reply_route"]]
    for route in routes:
        for here, network, neighbour, destination in _route_legs(route):
            entry = nodes[here]
            link = [network, neighbour]
            if link not in entry["links"]:
                entry["links"].append(link)
            entry["routes"].setdefault(destination, link)
    # A TCP link is one connection that both ends hold (docs/deploy.md, "TCP networks"): the
    # neighbour of a node that sends over it has the link as well, even if it never sends.
    for here, entry in nodes.items():
        for network, neighbour in list(entry["links"]):
            mirror = [network, here]
            if (plan["networks"][network]["kind"] == "tcp"
                    and mirror not in nodes[neighbour]["links"]):
                nodes[neighbour]["links"].append(mirror)

    def procedures(interface):
        return plan["interfaces"][interface]["procedures"]

    def grant(caller, callee, instance, interface, encrypt=False):
        # Calls cross the route end to end (relays forward without keys): a pair encrypts when
        # any network of its routes is marked encrypt=True (docs/remote.md, "Encryption").
        if encrypt and callee not in nodes[caller]["encrypt_to"]:
            nodes[caller]["encrypt_to"].append(callee)
            nodes[callee]["encrypted_callers"].append(caller)
        imports = nodes[caller]["callees"].setdefault(callee, {})
        imports[instance] = procedures(interface)
        if instance not in nodes[callee]["exports_remote"]:
            nodes[callee]["exports_remote"].append(instance)
        if [callee, instance] not in nodes[caller]["remote_imports"]:
            nodes[caller]["remote_imports"].append([callee, instance])

    for binding in plan["bindings"]:
        if binding["backend"] == "network":
            grant(binding["importer_node"], binding["exporter_node"], binding["exporter"],
                  binding["interface"], _encrypted(plan, binding))
    for binding in plan["bindings"]:
        if binding["backend"] != "http":
            continue
        imported = {"name": binding["exporter"], "interface": binding["interface"],
                    "url": binding["url"]}
        if imported not in nodes[binding["importer_node"]]["http_imports"]:
            nodes[binding["importer_node"]]["http_imports"].append(imported)
    for export in plan["exports"]:
        if export["node"] != export["instance_node"]:
            grant(export["node"], export["instance_node"], export["instance"],
                  export["interface"], _encrypted(plan, export))
        nodes[export["node"]]["http_exports"].append(
            {"network": export["network"], "name": http_name(export),
             "instance": export["instance"], "interface": export["interface"],
             "procedures": procedures(export["interface"])})
    return {"format": "ambience-deployment", "version": 1,
            "name": deployment_name(plan), "directory": plan["directory"],
            "networks": {name: {"kind": n["kind"], "nodes": n["nodes"],
                                "options": n.get("options", {}),
                                "encrypt": bool(n.get("encrypt"))}
                         for name, n in plan["networks"].items()},
            "nodes": nodes}


def _encrypted(plan, item):
    """True when a network of the item's route or reply route is marked encrypt=True."""
    return any(plan["networks"][link["network"]].get("encrypt")
               for route in (item["route"], item["reply_route"]) for link in route["links"])


def deployment_name(plan):
    name = os.path.basename(os.path.normpath(plan["directory"]))
    if not (name.isidentifier() and name.isascii()):
        raise synthesis_error(f"error: the deployment directory's name '{name}' must be an "
                              f"identifier (it names the node executables)")
    return name


class _node_writer:
    def __init__(self, plan, description, node):
        self.plan = plan
        self.node = node
        self.info = description["nodes"][node]
        self.groups = plan["nodes"][node]["groups"]
        self.order = plan["nodes"][node]["start_order"]
        # Channels: (caller group or None for the kernel, server group or None, instance).
        self.channels = []
        self.out = []

    def channel(self, caller, server, instance):
        key = (caller, server, instance)
        if key not in self.channels:
            self.channels.append(key)
        return self.field(key)

    @staticmethod
    def field(key):
        caller, _, instance = key
        return f"{caller or 'kernel'}_to_{instance}"

    def interface_of(self, instance):
        """The interface of an instance or an HTTP import."""
        if instance in self.plan["http_imports"]:
            return self.plan["http_imports"][instance]["interface"]
        return self.plan["services"][self.plan["instances"][instance]["service"]]["interface"]

    def collect(self):
        """Decides every channel of the node (in a stable order)."""
        plan, node = self.plan, self.node
        for binding in plan["bindings"]:
            if binding["importer_node"] != node:
                continue
            if binding["backend"] == "rings":
                self.channel(binding["importer_group"], binding["exporter_group"],
                             binding["exporter"])
            elif binding["backend"] in ("network", "http"):
                # Remote instances and HTTP imports are reached through the kernel.
                self.channel(binding["importer_group"], None, binding["exporter"])
        served = list(self.info["exports_remote"])
        served += [e["instance"] for e in self.info["http_exports"]
                   if plan["instances"][e["instance"]]["node"] == node]
        for instance in served:
            self.channel(None, plan["instances"][instance]["group"], instance)

    def line(self, text=""):
        self.out.append(text)

    def write(self):
        plan, node = self.plan, self.node
        self.collect()
        self.header_comment()
        self.includes()
        self.line("namespace {")
        self.line()
        self.line("using namespace amb::deploy;")
        self.line()
        self.channels_struct()
        for group in self.groups:
            self.group_function(group)
        self.line("}  // namespace")
        self.line()
        self.main()
        return "\n".join(self.out) + "\n"

    def header_comment(self):
        plan, node = self.plan, self.node
        self.line(f"// Node `{node}` of deployment `{deployment_name(plan)}`, generated by "
                  f"`ambience build` from")
        self.line(f"// {plan['manifest_files'][0]}.")
        self.line("// Do not edit: change the manifest and build again (docs/deploy.md, "
                  "\"Synthesis\").")
        self.line("//")
        if self.groups:
            for group in self.groups:
                members = ", ".join(f"{i} ({plan['instances'][i]['service']})"
                                    for i in plan["groups"][group]["instances"])
                self.line(f"// group {group}: {members}")
        else:
            self.line("// no groups: this node only forwards")
        for binding in plan["bindings"]:
            if binding["importer_node"] != node:
                continue
            how = binding["backend"]
            if how == "network":
                how += " " + _describe_route(binding["route"])
            elif how == "http":
                how += " " + binding["url"]
            self.line(f"// {binding['importer']}.{binding['slot']} -> {binding['exporter']} "
                      f"[{how}]")
        for export in self.info["http_exports"]:
            self.line(f"// export {export['instance']} on {export['network']} (http) "
                      f"/{export['name']}")
        self.line()

    def includes(self):
        plan, node = self.plan, self.node
        self.line("#include <deploy/glue.hpp>")
        if self.groups:
            self.line("#include <deploy/node_services.hpp>")
        headers = []
        json_schemas = []
        for group in self.groups:
            for instance in plan["groups"][group]["instances"]:
                service = plan["services"][plan["instances"][instance]["service"]]
                if service["header"] not in headers:
                    headers.append(service["header"])
                if service.get("config_type"):
                    json_schemas.append(service["config_type"]["schema"])
        if any(plan["services"][plan["instances"][i]["service"]].get("shareable_heap")
               for group in self.groups for i in plan["groups"][group]["instances"]):
            self.line("#include <deploy/group_heap.hpp>")
        if json_schemas:
            self.line("#include <deploy/instance_config.hpp>")
        self.line()
        schemas = []
        for key in self.channels:
            schemas.append(self.interface_of(key[2]))
        for binding in plan["bindings"]:
            if binding["importer_node"] == node:
                schemas.append(binding["interface"])
        for export in self.info["http_exports"]:
            schemas.append(export["interface"])
            json_schemas.append(plan["interfaces"][export["interface"]]["schema"])
        for imported in self.info["http_imports"]:
            json_schemas.append(plan["interfaces"][imported["interface"]]["schema"])
        stems = []
        for interface in schemas:
            stem = os.path.basename(plan["interfaces"][interface]["schema"])[:-len(".lidl")]
            if f"{stem}.lidl.hpp" not in stems:
                stems.append(f"{stem}.lidl.hpp")
        for schema in json_schemas:
            stem = os.path.basename(schema)[:-len(".lidl")]
            if f"{stem}.lidl.json.hpp" not in stems:
                stems.append(f"{stem}.lidl.json.hpp")
        for header in headers + stems:
            self.line(f'#include "{header}"')
        self.line()

    def channels_struct(self):
        self.line("// Every channel of the node, from a calling group (or the kernel) to a serving "
                  "one.")
        self.line("struct channels {")
        for key in self.channels:
            caller, server, instance = key
            where = server or "kernel"
            why = "calls" if server else "reaches through the kernel"
            self.line(f"    channel_id {self.field(key)} = 0;  // {caller or 'kernel'} {why} "
                      f"{instance} ({where})")
        for group in self.groups:
            self.line(f"    node_service_channels {group}_services{{}};  // {group}'s log and clock")
        self.line("};")
        self.line()

    def group_function(self, group):
        plan = self.plan
        self.line(f"// Group `{group}`: its own process.")
        self.line(f"int run_{group}(group_context& context, const channels& wiring) {{")
        spin_us = plan["groups"][group].get("spin_us")
        if spin_us is None:
            self.line("    group_runtime this_group(context);")
        else:
            self.line("    group_runtime this_group(context, "
                      f"std::chrono::microseconds({spin_us}));  // spin_us")
        self.line(f"    group_node_services services(this_group, wiring.{group}_services);")
        members = plan["groups"][group]["instances"]
        if any(plan["services"][plan["instances"][i]["service"]].get("shareable_heap")
               for i in members):
            self.line("    group_heap heap(context);  // the group's shareable heap, for services "
                      "that allocate in it")
        imported = [key for key in self.channels if key[0] == group]
        if imported:
            self.line("    // Dependencies in other groups and on other nodes.")
        for key in imported:
            interface = self.interface_of(key[2])
            self.line(f"    auto& {variable(key[2])} = this_group.import<{cxx_type(interface)}, "
                      f"{cxx_client(interface)}>(")
            self.line(f"        wiring.{self.field(key)});")
        self.line("    // Instances, in start order.")
        for instance in [i for i in self.order if i in members]:
            item = plan["instances"][instance]
            service = plan["services"][item["service"]]
            arguments = [NODE_SERVICE_ARGUMENTS.get(interface) or
                         variable(item["dependencies"][slot])
                         for slot, interface in service["depends"].items()]
            if service.get("config_type"):
                # Typed configuration, checked by `ambience plan` (docs/deploy.md).
                configuration = variable(f"{instance}_config")
                self.line(f"    instance_config<{cxx_type(service['config_type']['name'])}> "
                          f"{configuration}(")
                self.line(f'        context.name(), "{instance}", '
                          f"{cxx_string(json.dumps(item['config']))});")
                arguments.insert(0, f"{configuration}.value()")
            if service.get("shareable_heap"):
                arguments.insert(1 if service.get("config_type") else 0, "heap")
            arguments = ", ".join(arguments)
            self.line(f"    {service['class']} {variable(instance)}"
                      f"{'(' + arguments + ')' if arguments else ''};")
        served = [key for key in self.channels if key[1] == group]
        if served:
            self.line("    // Served to other groups and to the kernel.")
        for key in served:
            interface = self.interface_of(key[2])
            self.line(f"    this_group.serve<{cxx_type(interface)}>(wiring.{self.field(key)}, "
                      f"{variable(key[2])},")
            self.line(f"        services.logger<{cxx_type(interface)}>(\"{key[2]}\", "
                      f"\"{key[0] or 'kernel'}\"));")
        self.line("    return this_group.run();")
        self.line("}")
        self.line()

    def main(self):
        plan, node, info = self.plan, self.node, self.info
        self.line("int main(int argc, char** argv) {")
        self.line("    [[maybe_unused]] channels wiring;" if not self.channels else "    channels wiring;")
        self.line("    node_kernel kernel;")
        for group in self.groups:
            self.line(f'    group_id {group}_group = kernel.add_group({{"{group}", [&wiring](group_context& '
                      f'context) {{ return run_{group}(context, wiring); }},')
            self.line(f"                                         {HEAP_SIZE}, "
                      f"amb::hosted::node::restart_policy::on_failure}});")
        for key in self.channels:
            caller, server, _ = key
            self.line(f"    wiring.{self.field(key)} = connect(kernel, "
                      f"{caller + '_group' if caller else 'amb::hosted::node::kernel_group'}, "
                      f"{server + '_group' if server else 'amb::hosted::node::kernel_group'});")
        for group in self.groups:
            self.line(f"    wiring.{group}_services = node_services_channels(kernel, {group}_group);")
        self.line()
        self.line("    // Groups start before any setting or key is read: no group ever holds one.")
        self.line("    start_groups(kernel);")
        self.line(f'    node_settings settings = node_settings::load(argc, argv, "{node}");')
        self.line("    kernel_runtime node(kernel, settings);")
        if self.groups:
            self.line("    // Node services (log, clock) of every group; served requests go to the "
                      "request log.")
            self.line("    kernel_node_services node_services(settings);")
            for group in self.groups:
                self.line(f'    node_services.serve(node, "{group}", wiring.{group}_services);')
        if info["links"]:
            self.line()
            self.line("    // Network: links to neighbours, and the next hop towards each node this "
                      "one calls, answers or relays for.")
            transports = {}
            for network, neighbour in info["links"]:
                kind = plan["networks"][network]["kind"]
                if network not in transports and kind != "tcp":  # tcp: a connection per link
                    transports[network] = network
                    self.line(f'    std::size_t {network} = node.{kind}("{network}");')
            for network, neighbour in info["links"]:
                kind = plan["networks"][network]["kind"]
                if kind == "udp":
                    self.line(f"    auto {network}_{neighbour} = node.udp_link({network}, "
                              f'"{network}", "{neighbour}");')
                elif kind == "tcp":
                    role = ("connects to" if node < neighbour
                            else "accepts the connection of")
                    self.line(f"    auto {network}_{neighbour} = node.tcp_link("
                              f'"{network}", "{neighbour}");  // {role} {neighbour}')
                else:
                    self.line(f"    auto {network}_{neighbour} = node.serial_link({network});")
            for destination, (network, neighbour) in info["routes"].items():
                self.line(f'    node.route("{destination}", {network}_{neighbour});')
            callees = ", ".join(f'"{c}"' for c in info["callees"])
            exports = "true" if info["exports_remote"] else "false"
            if info["encrypt_to"] or info["encrypted_callers"]:
                encrypt_to = ", ".join(f'"{c}"' for c in info["encrypt_to"])
                callers = ", ".join(f'"{c}"' for c in info["encrypted_callers"])
                self.line(f"    // Encrypted networks on the way: calls to these nodes, and from "
                          f"those, are sealed.")
                self.line(f"    node.start_network(/*exports=*/{exports}, {{{callees}}}, "
                          f"/*encrypt_to=*/{{{encrypt_to}}}, /*encrypted_callers=*/{{{callers}}});")
            else:
                self.line(f"    node.start_network(/*exports=*/{exports}, {{{callees}}});")
        remote = info["remote_imports"]
        if remote:
            self.line()
            self.line("    // Instances on other nodes used here.")
        for callee, instance in remote:
            interface = self.interface_of(instance)
            self.line(f"    auto& {variable(instance)} = node.import_remote<{cxx_type(interface)}, "
                      f"{cxx_client(interface)}>(")
            self.line(f'        "{callee}", "{instance}");')
        if self.info["http_imports"]:
            self.line()
            self.line("    // External HTTP services used here: each call is an HTTP request from this "
                      "kernel.")
        for imported in self.info["http_imports"]:
            interface = imported["interface"]
            self.line(f"    auto& {variable(imported['name'])} = node.import_http<"
                      f"{cxx_type(interface)}, {cxx_client(interface)}>(")
            self.line(f'        "{imported["name"]}", {cxx_string(imported["url"])});')
        to_groups = [key for key in self.channels if key[1] is None]
        for key in to_groups:
            interface = self.interface_of(key[2])
            self.line(f"    node.serve<{cxx_type(interface)}>(wiring.{self.field(key)}, "
                      f"{variable(key[2])});")
        local = [key for key in self.channels if key[0] is None]
        if local or info["http_exports"]:
            self.line()
            self.line("    // Instances of this node reachable from elsewhere.")
        for key in local:
            interface = self.interface_of(key[2])
            self.line(f"    auto& {variable(key[2])} = node.import<{cxx_type(interface)}, "
                      f"{cxx_client(interface)}>(")
            self.line(f"        wiring.{self.field(key)});")
        for instance in info["exports_remote"]:
            interface = self.interface_of(instance)
            self.line(f'    node.export_remote<{cxx_type(interface)}>("{instance}", '
                      f"{variable(instance)});")
        for export in info["http_exports"]:
            self.line(f"    node.export_http<{cxx_type(export['interface'])}>("
                      f'"{export["network"]}", "{export["name"]}", {variable(export["instance"])});')
        self.line("    return node.run();")
        self.line("}")


def _describe_route(route):
    hops = route["hops"]
    text = hops[0]
    for i in range(1, len(hops), 2):
        text += f" -{hops[i]}-> {hops[i + 1]}"
    return text


def node_sources(plan, description=None):
    """{node: C++ source} for every node of the plan."""
    description = description or describe(plan)
    return {node: _node_writer(plan, description, node).write() for node in plan["nodes"]}

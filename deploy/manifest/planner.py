"""The planner: where each instance runs, which backend each binding uses, and the cheapest
network route of every binding between nodes.

The network graph is a networkx DiGraph whose vertices are nodes ("node", name) and networks
("network", name). Attaching a node to a network adds two directed edges: node -> network,
weighted with the network's cost (what sending a message over it costs), and network -> node,
weighted 0. A route is a path node, network, node, ..., network, node; its cost is the sum of
the costs of the networks it crosses, so a route through an intermediate node (which forwards
the message) pays for both links. Costs default per kind (DEFAULT_COSTS) and a manifest may set
`cost=` per network. http networks carry exports and imports only: routes never cross them.

Among routes of equal cost the planner takes the one with the fewest hops, then the one whose
list of vertex names sorts first, so the same manifest always yields the same plan.

A route may cross at most `hop_limit()` links: the runtime's `default_hop_limit`, which every
node puts on the messages it originates and each forwarding node decrements (a node that
receives a message with hop limit 1 does not forward it). The limit is declared once, in
runtime/remote/include/remote/envelope.hpp, and read from there; the checker refuses a plan
whose cheapest route is longer (checker.py).
"""

import functools
import os
import re

import networkx

DEFAULT_COSTS = {"udp": 1, "tcp": 1, "serial": 10}
ROUTABLE_KINDS = tuple(DEFAULT_COSTS)
PLAN_FORMAT = "ambience-plan"
PLAN_VERSION = 1


HOP_LIMIT_HEADER = os.path.join(
    os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
    "runtime", "remote", "include", "remote", "envelope.hpp")
_HOP_LIMIT_DECLARATION = re.compile(
    r"^\s*inline\s+constexpr\s+std::uint8_t\s+default_hop_limit\s*=\s*(\d+)\s*;", re.M)


@functools.cache
def hop_limit():
    """The most links a route may cross: the runtime's `default_hop_limit`, read from its
    declaration (HOP_LIMIT_HEADER). Raises RuntimeError when the declaration is not found."""
    try:
        with open(HOP_LIMIT_HEADER, encoding="utf-8") as file:
            found = _HOP_LIMIT_DECLARATION.search(file.read())
    except OSError as error:
        raise RuntimeError(f"cannot read the runtime's hop limit from {HOP_LIMIT_HEADER}: "
                           f"{error}") from error
    if found is None:
        raise RuntimeError(f"{HOP_LIMIT_HEADER} declares no 'inline constexpr std::uint8_t "
                           "default_hop_limit = N;': the planner reads the hop limit from there")
    return int(found.group(1))


def route_links(hops):
    """How many links a route [node, network, node, ...] crosses."""
    return (len(hops) - 1) // 2


def route_text(hops):
    """'cloud -lan-> gateway -link-> edge'."""
    text = hops[0]
    for index in range(1, len(hops), 2):
        text += f" -{hops[index]}-> {hops[index + 1]}"
    return text


def network_cost(network):
    return network.cost if network.cost is not None else DEFAULT_COSTS.get(network.kind)


def network_graph(manifest):
    """The directed, weighted graph of nodes and routable networks."""
    graph = networkx.DiGraph()
    for node in manifest.nodes.values():
        graph.add_node(("node", node.name))
    for network in manifest.networks.values():
        if network.kind in ROUTABLE_KINDS:
            graph.add_node(("network", network.name))
    for node in manifest.nodes.values():
        for name in node.networks:
            network = manifest.networks.get(name)
            if network is None or network.kind not in ROUTABLE_KINDS:
                continue
            graph.add_edge(("node", node.name), ("network", name), cost=network_cost(network))
            graph.add_edge(("network", name), ("node", node.name), cost=0)
    return graph


def cheapest_route(graph, source, target):
    """The cheapest path from node `source` to node `target` as a list of names
    [node, network, node, ...], [source] when they are the same node, or None without one."""
    if source == target:
        return [source]
    start, end = ("node", source), ("node", target)
    if start not in graph or end not in graph:
        return None
    try:
        paths = list(networkx.all_shortest_paths(graph, start, end, weight="cost"))
    except networkx.NetworkXNoPath:
        return None
    best = min(paths, key=lambda path: (len(path), [name for _, name in path]))
    return [name for _, name in best]


def route_cost(manifest, hops):
    return sum(network_cost(manifest.networks[name]) for name in hops[1::2])


def describe_route(manifest, hops):
    """The JSON form of a route (see docs/deploy.md)."""
    links = []
    for index in range(1, len(hops), 2):
        sender, name, receiver = hops[index - 1], hops[index], hops[index + 1]
        network = manifest.networks[name]
        links.append({
            "from": sender, "from_address": manifest.nodes[sender].networks[name],
            "network": name, "kind": network.kind,
            "to": receiver, "to_address": manifest.nodes[receiver].networks[name],
        })
    return {"hops": hops, "cost": route_cost(manifest, hops), "links": links}


def nearest_attached(manifest, graph, network_name, node, outward):
    """The node attached to network `network_name` that is cheapest to reach from `node`
    (outward=True: route node -> it) or that reaches `node` most cheaply (outward=False: route
    it -> node); `node` itself when attached. Returns (name, hops) or (None, None). Ties: cost,
    then hops, then name."""
    attached = [n.name for n in manifest.nodes.values() if network_name in n.networks]
    if node in attached:
        return node, [node]
    best = None
    for candidate in attached:
        hops = cheapest_route(graph, node, candidate) if outward else \
            cheapest_route(graph, candidate, node)
        if hops is None:
            continue
        key = (route_cost(manifest, hops), len(hops), candidate)
        if best is None or key < best[0]:
            best = (key, candidate, hops)
    if best is None:
        return None, None
    return best[1], best[2]


def binding_backend(placement, importer, exporter):
    """direct (same group), rings (same node, other group) or network."""
    if placement[importer]["group"] == placement[exporter]["group"]:
        return "direct"
    if placement[importer]["node"] == placement[exporter]["node"]:
        return "rings"
    return "network"


def start_order(manifest, instances):
    """Instances in dependency order (dependencies first; ties in declaration order)."""
    graph = networkx.DiGraph()
    order = {name: index for index, name in enumerate(manifest.instances)}
    graph.add_nodes_from(instances)
    for name in instances:
        for target in manifest.instances[name].dependencies.values():
            if target in instances:
                graph.add_edge(target, name)
    return list(networkx.lexicographical_topological_sort(graph, key=order.get))


def build(manifest, placement, graph):
    """The plan of a manifest that passed every check, as a JSON-ready dict."""
    plan = {
        "format": PLAN_FORMAT,
        "version": PLAN_VERSION,
        "directory": manifest.directory,
        "manifest_files": list(manifest.files),
        "interfaces": {},
        "services": {},
        "networks": {},
        "nodes": {},
        "groups": {},
        "instances": {},
        "bindings": [],
        "exports": [],
        "http_imports": {},
    }

    def add_interface(resolved):
        plan["interfaces"].setdefault(resolved.qualified_name, {
            "schema": resolved.schema, "file": resolved.file, "line": resolved.line,
            "procedures": [p["name"] for p in resolved.procedures]})
        return resolved.qualified_name

    for service in manifest.services.values():
        plan["services"][service.name] = {
            "interface": add_interface(service.resolved_interface),
            "implementation": service.implementation,
            "class": service.cls,
            "header": service.header,
            "config_type": None if service.resolved_config is None else {
                "name": service.resolved_config.qualified_name,
                "schema": service.resolved_config.schema},
            "shareable_heap": service.shareable_heap,
            "depends": {slot: add_interface(resolved)
                        for slot, resolved in service.resolved_depends.items()},
            "doc": service.doc,
            "declared_at": _where(service.where),
        }
    for item in manifest.imports.values():
        plan["http_imports"][item.name] = {
            "interface": add_interface(item.resolved_interface), "url": item.url,
            "network": item.network, "declared_at": _where(item.where)}
    for network in manifest.networks.values():
        plan["networks"][network.name] = {
            "kind": network.kind,
            "cost": network_cost(network),
            "routable": network.kind in ROUTABLE_KINDS,
            "encrypt": network.encrypt,
            "options": dict(network.options),
            "nodes": {node.name: node.networks[network.name]
                      for node in manifest.nodes.values() if network.name in node.networks},
            "doc": network.doc,
            "declared_at": _where(network.where),
        }
    for node in manifest.nodes.values():
        groups = [g for g in manifest.groups if placement["groups"].get(g) == node.name]
        instances = [name for name in manifest.instances
                     if placement["instances"][name]["node"] == node.name]
        plan["nodes"][node.name] = {
            "platform": node.platform,
            "networks": dict(node.networks),
            "groups": groups,
            "start_order": start_order(manifest, instances),
            "forwards": [],
            "serves_exports": [],
            "doc": node.doc,
            "declared_at": _where(node.where),
        }
    for group in manifest.groups.values():
        plan["groups"][group.name] = {
            "node": placement["groups"][group.name], "instances": list(group.instances),
            "implicit": group.implicit, "spin_us": group.spin_us,
            "declared_at": _where(group.where)}

    instances = placement["instances"]
    for item in manifest.instances.values():
        plan["instances"][item.name] = {
            "service": item.service, "node": instances[item.name]["node"],
            "group": instances[item.name]["group"], "config": item.config,
            "dependencies": dict(item.dependencies), "declared_at": _where(item.where)}

    for item in manifest.instances.values():
        service = manifest.services[item.service]
        for slot, target in item.dependencies.items():
            binding = {
                "importer": item.name, "slot": slot, "exporter": target,
                "interface": service.resolved_depends[slot].qualified_name,
                "importer_node": instances[item.name]["node"],
                "importer_group": instances[item.name]["group"],
            }
            if target in manifest.imports:
                _http_binding(manifest, graph, binding, manifest.imports[target])
            else:
                binding["exporter_node"] = instances[target]["node"]
                binding["exporter_group"] = instances[target]["group"]
                binding["backend"] = binding_backend(instances, item.name, target)
                if binding["backend"] == "network":
                    hops = cheapest_route(graph, binding["importer_node"],
                                          binding["exporter_node"])
                    back = cheapest_route(graph, binding["exporter_node"],
                                          binding["importer_node"])
                    binding["route"] = describe_route(manifest, hops)
                    binding["reply_route"] = describe_route(manifest, back)
            plan["bindings"].append(binding)

    for item in manifest.exports:
        host = instances[item.instance]["node"]
        for name, address in item.networks.items():
            server, hops = nearest_attached(manifest, graph, name, host, outward=False)
            plan["exports"].append({
                "instance": item.instance,
                "interface": manifest.services[
                    manifest.instances[item.instance].service].resolved_interface.qualified_name,
                "network": name, "kind": manifest.networks[name].kind, "address": address,
                "node": server, "node_address": manifest.nodes[server].networks[name],
                "instance_node": host, "route": describe_route(manifest, hops),
                "reply_route": describe_route(manifest, cheapest_route(graph, host, server)),
                "declared_at": _where(item.where)})
            plan["nodes"][server]["serves_exports"].append(len(plan["exports"]) - 1)

    for table in ("bindings", "exports"):
        for index, entry in enumerate(plan[table]):
            for key in ("route", "reply_route"):
                route = entry.get(key)
                if route is None:
                    continue
                for previous, following in zip(route["links"], route["links"][1:]):
                    plan["nodes"][previous["to"]]["forwards"].append({
                        table[:-1]: index,
                        "direction": "request" if key == "route" else "reply",
                        "from_network": previous["network"], "to_network": following["network"],
                        "next_hop": following["to"]})
    return plan


def _http_binding(manifest, graph, binding, item):
    binding["backend"] = "http"
    binding["url"] = item.url
    importer_node = binding["importer_node"]
    if item.network is None:
        binding["via_node"] = importer_node
        binding["route"] = binding["reply_route"] = describe_route(manifest, [importer_node])
        return
    via, hops = nearest_attached(manifest, graph, item.network, importer_node, outward=True)
    binding["via_node"] = via
    binding["route"] = describe_route(manifest, hops)
    binding["reply_route"] = describe_route(manifest, cheapest_route(graph, via, importer_node))


def _where(where):
    return {"file": where.file, "line": where.line}

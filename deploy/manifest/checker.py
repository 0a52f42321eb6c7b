"""The checker: every mistake of a loaded manifest, as diagnostics at the line that made it.

`check(manifest, diagnostics, catalogue)` resolves the lidl interfaces (through lidlc --json),
then checks names, dependency bindings (slots and interfaces), dependency cycles, groups and
their placement, nodes and networks (addresses, point-to-point serial lines, one group per
cortex-m node), routes between the nodes of every remote binding, exports and HTTP imports. It
never stops at the first mistake. It returns the placement it could work out (lenient, for the
planner when there is no error): {"instances": {name: {"group", "node"}}, "groups": {name: node}}.
"""

import ipaddress
import os

import networkx

from manifest import config, interfaces, planner
from manifest.diagnostics import did_you_mean


def _hint(name, candidates, otherwise):
    hint = did_you_mean(name, candidates)
    return hint if hint else otherwise


class _checker:
    def __init__(self, manifest, diagnostics, catalogue):
        self.m = manifest
        self.d = diagnostics
        self.catalogue = catalogue

    def rel(self, where):
        return f"{os.path.relpath(where.file, self.m.directory)}:{where.line}"

    # --- interfaces ------------------------------------------------------------------------

    def interfaces(self):
        declared = {}  # qualified name -> first interface seen

        def resolve(spec, where, what):
            if not spec:
                return None
            if self.catalogue is None:
                return None
            resolved, message = self.catalogue.resolve(spec, os.path.dirname(where.file))
            if resolved is None:
                self.d.error(where, f"{what}: {message}")
                return None
            first = declared.setdefault(resolved.qualified_name, resolved)
            if first.signature() != resolved.signature():
                self.d.error(where, (
                    f"{what}: interface {resolved.qualified_name} is declared differently in "
                    f"{os.path.relpath(first.file, self.m.directory)}:{first.line} and "
                    f"{os.path.relpath(resolved.file, self.m.directory)}:{resolved.line} "
                    "(use one schema file for it)"))
            return resolved

        if self.catalogue is None:
            first = next(iter(list(self.m.services.values()) + list(self.m.imports.values())),
                         None)
            if first is not None:
                self.d.error(first.where, (
                    "cannot check interfaces: lidlc not found (build it with `cmake --build "
                    "build/default --target lidlc`, or set AMBIENCE_LIDLC to its path)"))
        for service in self.m.services.values():
            service.resolved_interface = resolve(service.interface, service.where,
                                                 f"service '{service.name}'")
            for slot, spec in service.depends.items():
                resolved = resolve(spec, service.where,
                                   f"service '{service.name}', dependency '{slot}'")
                if resolved is not None:
                    service.resolved_depends[slot] = resolved
            if service.config_type and self.catalogue is not None:
                resolved, message = self.catalogue.resolve_config(
                    service.config_type, os.path.dirname(service.where.file))
                if resolved is None:
                    self.d.error(service.where, f"service '{service.name}': {message}")
                service.resolved_config = resolved
        for item in self.m.imports.values():
            item.resolved_interface = resolve(item.interface, item.where,
                                              f"import_http '{item.name}'")

    # --- instances and bindings ------------------------------------------------------------

    def target_interface(self, target):
        """(qualified interface name or None, description) of a binding target."""
        if target in self.m.imports:
            item = self.m.imports[target]
            name = item.resolved_interface.qualified_name if item.resolved_interface else None
            return name, f"'{target}' is an HTTP import of {name}"
        item = self.m.instances[target]
        service = self.m.services.get(item.service)
        if service is None or service.resolved_interface is None:
            return None, ""
        name = service.resolved_interface.qualified_name
        return name, (f"'{target}' is an instance of service '{service.name}', which "
                      f"implements {name}")

    def instances(self):
        targets = list(self.m.instances) + list(self.m.imports)
        for item in self.m.instances.values():
            service = self.m.services.get(item.service) if item.service else None
            if item.service is not None and service is None:
                self.d.error(item.where, (
                    f"instance '{item.name}' uses unknown service '{item.service}' (" +
                    _hint(item.service, self.m.services,
                          "declare it with service(name=..., interface=..., "
                          "implementation=...)") + ")"))
            for slot, target in item.dependencies.items():
                if target not in self.m.instances and target not in self.m.imports:
                    self.d.error(item.where, (
                        f"instance '{item.name}': dependency '{slot}' is bound to unknown "
                        f"instance '{target}' (" + _hint(target, targets,
                                                         "declare it with instance(...) or "
                                                         "import_http(...)") + ")"))
            if service is None:
                continue
            self.instance_config(item, service)
            slots = [slot for slot, spec in service.depends.items()
                     if not interfaces.is_node_service(spec)]
            for slot in item.dependencies:
                if slot in service.depends and slot not in slots:
                    self.d.error(item.where, (
                        f"instance '{item.name}': dependency slot '{slot}' of service "
                        f"'{service.name}' is bound by the node to its node service "
                        f"({service.depends[slot]}) (remove it from dependencies=)"))
                elif slot not in service.depends:
                    listed = ", ".join(slots) if slots else "none"
                    hint = did_you_mean(slot, slots)
                    self.d.error(item.where, (
                        f"instance '{item.name}': service '{service.name}' has no dependency "
                        f"slot '{slot}' ({hint + ' ' if hint else ''}its slots: {listed})"))
            for slot in slots:
                if slot not in item.dependencies:
                    wanted = service.resolved_depends.get(slot)
                    what = wanted.qualified_name if wanted else service.depends[slot]
                    self.d.error(item.where, (
                        f"instance '{item.name}': dependency slot '{slot}' of service "
                        f"'{service.name}' is not bound (add dependencies={{'{slot}': ...}} "
                        f"naming an instance that implements {what})"))
            for slot, target in item.dependencies.items():
                wanted = service.resolved_depends.get(slot)
                if wanted is None or slot not in slots or (target not in self.m.instances and
                                                           target not in self.m.imports):
                    continue
                actual, description = self.target_interface(target)
                if actual is not None and actual != wanted.qualified_name:
                    self.d.error(item.where, (
                        f"instance '{item.name}': dependency '{slot}' needs interface "
                        f"{wanted.qualified_name}, but {description} (bind an instance of a "
                        f"service that implements {wanted.qualified_name})"))

    def instance_config(self, item, service):
        """The instance's config= against its service's config struct (manifest/config.py)."""
        if not service.config_type:
            if item.config:
                self.d.error(item.where, (
                    f"instance '{item.name}': service '{service.name}' takes no configuration "
                    f"(give the service config_type=\"file.lidl:STRUCT\", or remove config=)"))
            return
        if service.resolved_config is None:
            return  # reported at the service
        for path, problem in config.problems(item.config, service.resolved_config):
            self.d.error(item.where, f"instance '{item.name}': config.{path} {problem}")

    def cycles(self):
        graph = networkx.DiGraph()
        order = {name: index for index, name in enumerate(self.m.instances)}
        graph.add_nodes_from(self.m.instances)
        for item in self.m.instances.values():
            for target in item.dependencies.values():
                if target in self.m.instances:
                    graph.add_edge(item.name, target)
        found = []
        for cycle in networkx.simple_cycles(graph):
            start = min(range(len(cycle)), key=lambda i: order[cycle[i]])
            found.append(cycle[start:] + cycle[:start])
        for cycle in sorted(found, key=lambda c: [order[n] for n in c]):
            first = self.m.instances[cycle[0]]
            path = " -> ".join(cycle + [cycle[0]])
            self.d.error(first.where, (
                f"dependency cycle: {path} (instances start in dependency order, so a cycle "
                "never starts; remove one of these bindings)"))

    # --- groups and placement --------------------------------------------------------------

    def groups(self):
        owner = {}
        for item in self.m.groups.values():
            if item.implicit:
                continue
            seen = set()
            for member in item.instances:
                if member in seen:
                    self.d.error(item.where, f"group '{item.name}' lists instance '{member}' "
                                             "twice (list it once)")
                    continue
                seen.add(member)
                if member not in self.m.instances:
                    if member in self.m.imports:
                        self.d.error(item.where, (
                            f"group '{item.name}': '{member}' is an HTTP import, which runs "
                            "outside the deployment (list only instances in groups)"))
                    else:
                        self.d.error(item.where, (
                            f"group '{item.name}' lists unknown instance '{member}' (" +
                            _hint(member, self.m.instances, "declare it with instance(...)") +
                            ")"))
                    continue
                if member in owner:
                    first = owner[member]
                    self.d.error(item.where, (
                        f"instance '{member}' is already in group '{first.name}' "
                        f"({self.rel(first.where)}); an instance belongs to one group (remove "
                        "it from one of them)"))
                    continue
                owner[member] = item
        return owner

    def placement(self, owner):
        placed = {}   # group -> (node, deployment)
        rejected = set()  # groups whose deploy() was reported: not also "never deployed"
        per_node = {}
        for item in self.m.deployments:
            node = self.m.nodes.get(item.node)
            if node is None:
                self.d.error(item.where, (
                    f"deploy: unknown node '{item.node}' (" +
                    _hint(item.node, self.m.nodes, "declare it with node(name=..., "
                                                   "platform=..., networks=...)") + ")"))
            if not item.groups:
                self.d.error(item.where, f"deploy: no groups for node '{item.node}' (list "
                                         "them with groups=[...])")
            for name in item.groups:
                if name not in self.m.groups:
                    if name in self.m.instances and name in owner:
                        fix = f"'{name}' is an instance in group '{owner[name].name}'; deploy " \
                              "that group"
                    else:
                        fix = _hint(name, self.m.groups, "declare it with group(...), or name "
                                                         "an instance in no group")
                    self.d.error(item.where, f"deploy: unknown group '{name}' ({fix})")
                    continue
                if name in placed:
                    node_name, first = placed[name]
                    self.d.error(item.where, (
                        f"group '{name}' is already deployed on node '{node_name}' "
                        f"({self.rel(first.where)}); a group runs on one node (remove one of "
                        "the deploy() calls)"))
                    continue
                if node is None:
                    rejected.add(name)
                    continue
                hosted = per_node.setdefault(node.name, [])
                if node.platform == "cortex-m" and hosted:
                    self.d.error(item.where, (
                        f"node '{node.name}' is a cortex-m node and already hosts group "
                        f"'{hosted[0]}'; a cortex-m node runs one group (put these instances "
                        "in one group, or deploy this group on a hosted node)"))
                    rejected.add(name)
                    continue
                hosted.append(name)
                placed[name] = (node.name, item)
        instances = {}
        for item in self.m.instances.values():
            group = owner[item.name].name if item.name in owner else item.name
            node = placed.get(group, (None, None))[0]
            if group not in placed and group not in rejected and group in self.m.groups:
                self.d.error(item.where, (
                    f"instance '{item.name}' is not deployed (deploy its group: "
                    f"deploy(node=..., groups=[\"{group}\"]))"))
            instances[item.name] = {"group": group, "node": node}
        return {"instances": instances,
                "groups": {g: n for g, (n, _) in placed.items()}}

    # --- nodes, networks, routes ---------------------------------------------------------

    def nodes(self):
        addresses = {}   # (network, normalised address) -> node
        members = {}     # network -> [node names]
        for node in self.m.nodes.values():
            for name, address in node.networks.items():
                network = self.m.networks.get(name)
                if network is None:
                    self.d.error(node.where, (
                        f"node '{node.name}' is attached to unknown network '{name}' (" +
                        _hint(name, self.m.networks, "declare it with network(name=..., "
                                                     "kind=...)") + ")"))
                    continue
                key = address
                if network.kind in ("udp", "tcp"):
                    try:
                        key = str(ipaddress.ip_address(address))
                    except ValueError:
                        self.d.error(node.where, (
                            f"node '{node.name}': {address!r} is not an IP address for "
                            f"{network.kind} network '{name}' (write e.g. \"10.0.0.2\")"))
                        continue
                if network.kind in ("serial", "http"):
                    pass  # a device name or a listening address, local to each node
                elif (name, key) in addresses:
                    other = addresses[(name, key)]
                    self.d.error(node.where, (
                        f"node '{node.name}': address {address} on network '{name}' is "
                        f"already taken by node '{other.name}' ({self.rel(other.where)}) "
                        "(give each node its own address)"))
                else:
                    addresses[(name, key)] = node
                joined = members.setdefault(name, [])
                joined.append(node.name)
                if network.kind == "serial" and len(joined) == 3:
                    self.d.error(node.where, (
                        f"serial network '{name}' is point-to-point and already joins nodes "
                        f"'{joined[0]}' and '{joined[1]}' (use another serial network for "
                        f"node '{node.name}')"))

    def routes(self, placement, graph):
        where_is = placement["instances"]
        for item in self.m.instances.values():
            source = where_is[item.name]["node"]
            for slot, target in item.dependencies.items():
                if source is None:
                    continue
                if target in self.m.imports:
                    self.http_import_route(item, slot, self.m.imports[target], source, graph)
                    continue
                if target not in where_is:
                    continue
                destination = where_is[target]["node"]
                if destination is None or destination == source:
                    continue
                for start, end in ((source, destination), (destination, source)):
                    hops = planner.cheapest_route(graph, start, end)
                    if hops is None:
                        self.d.error(item.where, (
                            f"instance '{item.name}' on node '{source}' depends on '{target}' "
                            f"(slot '{slot}') on node '{destination}', but no network route "
                            f"leads from '{start}' to '{end}' (attach both nodes to one "
                            "udp, tcp or serial network, or to networks joined by a third "
                            "node)"))
                        break
                    if self.route_too_long(item, hops, (
                            f"instance '{item.name}' on node '{source}' depends on '{target}' "
                            f"(slot '{slot}') on node '{destination}'")):
                        break

    def route_too_long(self, item, hops, what):
        """Reports, at `item`, a route longer than the runtime forwards; True if it was."""
        limit = planner.hop_limit()
        if planner.route_links(hops) <= limit:
            return False
        self.d.error(item.where, (
            f"{what}, but the cheapest route {planner.route_text(hops)} crosses "
            f"{planner.route_links(hops)} links, more than the runtime's hop limit of {limit} "
            "(default_hop_limit in runtime/remote/include/remote/envelope.hpp): calls would "
            f"fail at hop {limit + 1} (place the two ends closer, or join their networks "
            "through fewer forwarding nodes)"))
        return True

    def http_import_route(self, item, slot, imported, source, graph):
        if imported.network is None:
            return
        network = self.m.networks.get(imported.network)
        if network is None or network.kind != "http":
            return  # reported at the import
        via, hops = planner.nearest_attached(self.m, graph, network.name, source, outward=True)
        back = None if via is None else planner.cheapest_route(graph, via, source)
        if back is None:
            self.d.error(item.where, (
                f"instance '{item.name}' on node '{source}' uses HTTP import "
                f"'{imported.name}' (slot '{slot}') through network '{network.name}', but no "
                f"node attached to '{network.name}' has a route to and from '{source}' (attach "
                f"'{source}' to '{network.name}', or join it to a node that is)"))
            return
        what = (f"instance '{item.name}' on node '{source}' uses HTTP import '{imported.name}' "
                f"(slot '{slot}') through node '{via}'")
        for route in (hops, back):
            if self.route_too_long(item, route, what):
                return

    def imports(self):
        for item in self.m.imports.values():
            if item.network is None:
                continue
            network = self.m.networks.get(item.network)
            if network is None:
                self.d.error(item.where, (
                    f"import_http '{item.name}': unknown network '{item.network}' (" +
                    _hint(item.network, self.m.networks, "declare it with network(name=..., "
                                                         "kind=\"http\")") + ")"))
            elif network.kind != "http":
                self.d.error(item.where, (
                    f"import_http '{item.name}': network '{item.network}' is a {network.kind} "
                    "network (name an http network, or leave network= out)"))

    def exports(self, placement, graph):
        taken = {}  # (network, address) -> export
        for item in self.m.exports:
            if item.instance not in self.m.instances:
                if item.instance in self.m.imports:
                    fix = f"'{item.instance}' is an HTTP import; export an instance"
                else:
                    fix = _hint(item.instance, self.m.instances, "declare it with instance(...)")
                self.d.error(item.where, f"export of unknown instance '{item.instance}' ({fix})")
                continue
            if not item.networks:
                self.d.error(item.where, f"export of '{item.instance}' names no network (add "
                                         "networks={\"NETWORK\": \"ADDRESS\"})")
            host = placement["instances"][item.instance]["node"]
            for name, address in item.networks.items():
                network = self.m.networks.get(name)
                if network is None:
                    self.d.error(item.where, (
                        f"export of '{item.instance}' on unknown network '{name}' (" +
                        _hint(name, self.m.networks, "declare it with network(name=..., "
                                                     "kind=...)") + ")"))
                    continue
                if (name, address) in taken:
                    first = taken[(name, address)]
                    self.d.error(item.where, (
                        f"export of '{item.instance}': address {address} on network '{name}' "
                        f"is already used by the export of '{first.instance}' "
                        f"({self.rel(first.where)}) (choose another address)"))
                else:
                    taken[(name, address)] = item
                attached = [n for n in self.m.nodes.values() if name in n.networks]
                if not attached:
                    self.d.error(item.where, (
                        f"export of '{item.instance}' on network '{name}', which no node is "
                        f"attached to (attach a node to it: node(..., networks={{\"{name}\": "
                        "ADDRESS}))"))
                    continue
                if host is None:
                    continue
                server, hops = planner.nearest_attached(self.m, graph, name, host,
                                                        outward=False)
                back = None if server is None else planner.cheapest_route(graph, host, server)
                if back is None:
                    names = ", ".join(f"'{n.name}'" for n in attached)
                    self.d.error(item.where, (
                        f"export of '{item.instance}' on network '{name}': no node attached "
                        f"to it ({names}) has a route to and from node '{host}', which runs "
                        f"'{item.instance}' (attach '{host}' to '{name}', or join it to one "
                        "of those nodes)"))
                    continue
                for route in (hops, back):
                    if self.route_too_long(item, route, (
                            f"export of '{item.instance}' on network '{name}' is served by "
                            f"node '{server}' for node '{host}'")):
                        break


def check(manifest, diagnostics, catalogue):
    """Checks `manifest`, appending to `diagnostics`; returns (placement, network graph).
    `catalogue` (interfaces.catalogue) may be None when lidlc is missing: then interface
    checks are reported as impossible and skipped."""
    checker = _checker(manifest, diagnostics, catalogue)
    checker.interfaces()
    checker.instances()
    checker.cycles()
    owner = checker.groups()
    placement = checker.placement(owner)
    checker.nodes()
    checker.imports()
    graph = planner.network_graph(manifest)
    checker.routes(placement, graph)
    checker.exports(placement, graph)
    return placement, graph

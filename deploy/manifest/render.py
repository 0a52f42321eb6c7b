"""Printing a plan: as text for people, as a Graphviz graph, as JSON for the code generator."""

import json

from manifest import planner


def route_text(route):
    """'cloud -lan-> gateway -link-> edge (cost 11)'."""
    return f"{planner.route_text(route['hops'])} (cost {route['cost']:g})"


def text(plan):
    lines = [f"deployment {plan['directory']}", "", "placement"]
    for name, node in plan["nodes"].items():
        attached = ", ".join(f"{n} {a}" for n, a in node["networks"].items()) or "no networks"
        lines.append(f"  node {name} ({node['platform']}; {attached})")
        for group_name in node["groups"]:
            group = plan["groups"][group_name]
            members = ", ".join(f"{i} ({plan['instances'][i]['service']})"
                                for i in group["instances"])
            implicit = " [own group]" if group["implicit"] else ""
            lines.append(f"    group {group_name}{implicit}: {members}")
        if not node["groups"]:
            lines.append("    no groups")
        if node["start_order"]:
            lines.append(f"    start order: {', '.join(node['start_order'])}")
        if node["forwards"]:
            lines.append(f"    forwards {len(node['forwards'])} route legs")
    lines += ["", "bindings"]
    for binding in plan["bindings"]:
        head = f"  {binding['importer']}.{binding['slot']} -> {binding['exporter']} " \
               f"[{binding['backend']}]"
        if binding["backend"] == "network":
            head += f" {route_text(binding['route'])}"
            if binding["reply_route"]["hops"] != binding["route"]["hops"][::-1]:
                head += f"; replies {route_text(binding['reply_route'])}"
        elif binding["backend"] == "http":
            head += f" {binding['url']} from {binding['via_node']}"
            if len(binding["route"]["hops"]) > 1:
                head += f" reached by {route_text(binding['route'])}"
        lines.append(head)
    if not plan["bindings"]:
        lines.append("  none")
    lines += ["", "exports"]
    for item in plan["exports"]:
        line = f"  {item['instance']} on {item['network']} ({item['kind']}) {item['address']}: " \
               f"served by {item['node']} at {item['node_address']}"
        if item["node"] != item["instance_node"]:
            line += f", forwarded {route_text(item['route'])}"
        lines.append(line)
    if not plan["exports"]:
        lines.append("  none")
    return "\n".join(lines) + "\n"


def _quote(value):
    """A Graphviz quoted string. Graphviz reads \\" as a quote, \\\\ as a backslash and \\n as a
    line break in labels: the escapes of a JSON string, so the json module writes it (UTF-8
    kept as is; Graphviz reads UTF-8)."""
    return json.dumps(str(value), ensure_ascii=False)


BACKEND_STYLE = {
    "direct": 'color="black"',
    "rings": 'color="blue", style="dashed"',
    "network": 'color="red", penwidth=2',
    "http": 'color="darkgreen", style="dotted"',
}


def dot(plan):
    """A Graphviz digraph: nodes as clusters holding groups holding instances, networks as
    ellipses joined to the nodes attached to them, bindings as edges styled by backend (the
    route of a network binding as the label), imports and exports as their own shapes."""
    out = ["digraph plan {", "  rankdir=LR; compound=true; fontname=\"Helvetica\";",
           "  node [fontname=\"Helvetica\"]; edge [fontname=\"Helvetica\", fontsize=10];"]
    for name, node in plan["nodes"].items():
        out.append(f"  subgraph {_quote('cluster_node_' + name)} {{")
        title = f"node {name} ({node['platform']})"
        out.append(f"    label={_quote(title)}; style=rounded;")
        out.append(f"    {_quote('node:' + name)} [label={_quote(name)}, shape=box3d];")
        for group_name in node["groups"]:
            out.append(f"    subgraph {_quote('cluster_group_' + group_name)} {{")
            out.append(f"      label={_quote('group ' + group_name)}; style=dashed;")
            for instance in plan["groups"][group_name]["instances"]:
                label = instance + "\n" + plan["instances"][instance]["service"]
                out.append(f"      {_quote('instance:' + instance)} "
                           f"[label={_quote(label)}, shape=box];")
            out.append("    }")
        out.append("  }")
    for name, network in plan["networks"].items():
        cost = f" cost {network['cost']:g}" if network["routable"] else ""
        label = f"{name}\n{network['kind']}{cost}"
        out.append(f"  {_quote('network:' + name)} [label={_quote(label)}, shape=ellipse];")
        for node_name, address in network["nodes"].items():
            out.append(f"  {_quote('node:' + node_name)} -> {_quote('network:' + name)} "
                       f"[dir=none, color=gray, label={_quote(address)}];")
    for name, item in plan["http_imports"].items():
        label = name + "\n" + item["url"]
        out.append(f"  {_quote('import:' + name)} [label={_quote(label)}, shape=component];")
    for binding in plan["bindings"]:
        target = ("import:" if binding["backend"] == "http" else "instance:") + \
            binding["exporter"]
        label = binding["slot"]
        if binding["backend"] == "network":
            label += "\n" + route_text(binding["route"])
        out.append(f"  {_quote('instance:' + binding['importer'])} -> {_quote(target)} "
                   f"[label={_quote(label)}, {BACKEND_STYLE[binding['backend']]}];")
    for index, item in enumerate(plan["exports"]):
        vertex = f"export:{index}"
        out.append(f"  {_quote(vertex)} [label={_quote(item['address'])}, shape=cds];")
        out.append(f"  {_quote(vertex)} -> {_quote('network:' + item['network'])} "
                   f"[style=dotted, arrowhead=none];")
        label = "" if item["node"] == item["instance_node"] else route_text(item["route"])
        out.append(f"  {_quote('network:' + item['network'])} -> "
                   f"{_quote('instance:' + item['instance'])} "
                   f"[style=dotted, label={_quote(label)}];")
    out.append("}")
    return "\n".join(out) + "\n"


def as_json(plan):
    return json.dumps(plan, indent=2) + "\n"

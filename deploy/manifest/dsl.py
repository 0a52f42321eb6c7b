"""The manifest language: the functions a deployment's `deployment.py` calls, and its loader.

A deployment directory holds `deployment.py`. `load(directory)` executes it with the functions
below already in its namespace (no import needed). A manifest may split itself into files:
`include("services.py")` executes another file (a path relative to the including file) and copies
its public names into the caller; `import services` does the same for `services.py` next to the
importing file or in the deployment directory, as a module. Each file runs once per load.

The functions can also be imported (`from manifest import *`, with `deploy/` on PYTHONPATH) so
that an editor knows them; they only work while `load()` runs a manifest.

Every call records the manifest file and line it was made from. Mistakes in the arguments (a
wrong type, an unknown network kind, a name declared twice) become diagnostics at that line and
loading goes on; a Python error in the manifest (a syntax error, an exception) ends the load with
one diagnostic at the innermost manifest line involved. Cross-references are left to checker.py.
"""

import builtins
import contextvars
import json
import os
import sys
import types

from manifest import model
from manifest.diagnostics import diagnostics, did_you_mean, location

_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))
_active = contextvars.ContextVar("ambience_manifest_loader", default=None)

NETWORK_OPTIONS = {
    "udp": {"port": int},
    "tcp": {"port": int},
    "serial": {"baud": int},
    "http": {"port": int},
}

__all__ = ["service", "instance", "import_http", "group", "network", "node", "deploy", "export",
           "include"]


class _load_aborted(Exception):
    """A Python error in a manifest file, already reported."""


def _caller():
    """The manifest file and line that called into this package."""
    frame = sys._getframe(1)
    while frame is not None and \
            os.path.dirname(os.path.abspath(frame.f_code.co_filename)) == _PACKAGE_DIR:
        frame = frame.f_back
    if frame is None:
        return location("<unknown>", 0)
    return location(os.path.abspath(frame.f_code.co_filename), frame.f_lineno)


def _article(what):
    return f"{'an' if what[0] in 'aeiouAEIOUH' else 'a'} {what}"


def _loader():
    current = _active.get()
    if current is None:
        raise RuntimeError("Ambience manifest functions only work while a deployment is loaded "
                           "(run `./ambience plan DIR`)")
    return current


class loader:
    """Runs the manifest files of one deployment directory and records their declarations."""

    def __init__(self, directory):
        self.directory = os.path.abspath(directory)
        main = os.path.join(self.directory, "deployment.py")
        self.manifest = model.manifest(directory=self.directory, main_file=main)
        self.diagnostics = diagnostics()
        self.modules = {}              # absolute path -> module, for include/import
        self.builtins = dict(builtins.__dict__, __import__=self._import)
        self.names = {}                # kind -> {name: object} for duplicate checks

    # --- running files -------------------------------------------------------------------

    def run(self):
        main = self.manifest.main_file
        if not os.path.isfile(main):
            self.diagnostics.error(location(main, 0), (
                f"no manifest: {self.directory} has no deployment.py (a deployment directory "
                "holds deployment.py, which declares the services, nodes and networks)"))
            self.manifest.complete = False
            return self.manifest, self.diagnostics
        token = _active.set(self)
        try:
            self._module(main, "__deployment__")
        except _load_aborted:
            self.manifest.complete = False
        finally:
            _active.reset(token)
        self._implicit_groups()
        return self.manifest, self.diagnostics

    def _namespace(self, path, name):
        namespace = {name: globals()[name] for name in __all__}
        namespace.update(__name__=name, __file__=path, __builtins__=self.builtins)
        return namespace

    def _module(self, path, name):
        path = os.path.abspath(path)
        if path in self.modules:
            return self.modules[path]
        module = types.ModuleType(name)
        module.__dict__.update(self._namespace(path, name))
        self.modules[path] = module
        self.manifest.files.append(path)
        try:
            with open(path, encoding="utf-8") as f:
                source = f.read()
            code = compile(source, path, "exec")
        except SyntaxError as error:
            where = location(os.path.abspath(error.filename or path), error.lineno or 0)
            self.diagnostics.error(where, f"syntax error: {error.msg} (fix the Python syntax)")
            raise _load_aborted() from None
        except (OSError, UnicodeDecodeError) as error:
            self.diagnostics.error(location(path, 0), f"cannot read the manifest file: {error}")
            raise _load_aborted() from None
        try:
            exec(code, module.__dict__)
        except _load_aborted:
            raise
        except Exception as error:  # the manifest's own mistake: report, do not crash
            self._report_exception(error, module.__dict__)
            raise _load_aborted() from None
        return module

    def _report_exception(self, error, namespace):
        where = None
        traceback = error.__traceback__
        while traceback is not None:
            file = os.path.abspath(traceback.tb_frame.f_code.co_filename)
            if file in self.modules:
                where = location(file, traceback.tb_lineno)
                namespace = traceback.tb_frame.f_globals
            traceback = traceback.tb_next
        if where is None:
            where = location(self.manifest.main_file, 0)
        message = f"{type(error).__name__}: {error}"
        if isinstance(error, NameError) and getattr(error, "name", None):
            hint = did_you_mean(error.name, list(namespace) + list(self.builtins))
            message += f" ({hint})" if hint else \
                " (define it before this line, or include() the file that defines it)"
        else:
            message += " (the manifest raised this exception; fix the Python code)"
        self.diagnostics.error(where, message)

    def _import(self, name, globals=None, locals=None, fromlist=(), level=0):
        """`import x` in a manifest: x.py next to the importing file or in the deployment
        directory, run as a manifest module; anything else is Python's import."""
        if level == 0 and "." not in name:
            here = os.path.dirname((globals or {}).get("__file__") or self.manifest.main_file)
            for directory in (here, self.directory):
                path = os.path.join(directory, name + ".py")
                if os.path.isfile(path):
                    return self._module(path, name)
        return builtins.__import__(name, globals, locals, fromlist, level)

    def include(self, path, where, caller_globals):
        full = os.path.normpath(os.path.join(os.path.dirname(where.file), path))
        if not os.path.isfile(full):
            self.diagnostics.error(where, (
                f"include: no file {path!r} (looked for {full}; paths are relative to the "
                "including file)"))
            raise _load_aborted()
        name = os.path.splitext(os.path.basename(full))[0]
        module = self._module(full, name)
        for key, value in module.__dict__.items():
            if not key.startswith("_") and key not in __all__:
                caller_globals[key] = value
        return module

    # --- recording -------------------------------------------------------------------------

    def relative(self, where):
        return f"{os.path.relpath(where.file, self.directory)}:{where.line}"

    def check_name(self, what, name, where):
        if not isinstance(name, str) or not name.isidentifier() or not name.isascii():
            self.diagnostics.error(where, (
                f"{what} name {name!r} is not a valid name (use letters, digits and '_', "
                "not starting with a digit: names become C++ identifiers)"))
            return False
        return True

    def declare(self, table, what, namespace, item):
        """Adds `item` to `table` unless its name is taken in `namespace`."""
        taken = self.names.setdefault(namespace, {})
        if item.name in taken:
            first = taken[item.name]
            self.diagnostics.error(item.where, (
                f"{what} '{item.name}' is already declared at {self.relative(first.where)} "
                f"as {_article(first.what)} "
                "(choose another name)"))
            return item
        taken[item.name] = item
        table[item.name] = item
        return item

    def reference(self, value, expected, what, where):
        """The name of `value` (a string, or a handle of class `expected`), or None."""
        if isinstance(value, str):
            return value
        if isinstance(value, expected):
            return value.name
        got = f"{type(value).__name__} {getattr(value, 'name', value)!r}" \
            if hasattr(value, "where") else repr(value)
        self.diagnostics.error(where, (
            f"{what} must be the name of {_article(expected.what)} or the value its "
            "declaration returned, "
            f"not {got}"))
        return None

    def mapping(self, value, what, where):
        if value is None:
            return {}
        if not isinstance(value, dict):
            self.diagnostics.error(where, f"{what} must be a dict, not {type(value).__name__} "
                                          f"(write {what}={{...}})")
            return {}
        return value

    def string_list(self, value, what, where, expected):
        if value is None:
            return []
        if isinstance(value, (str, expected)):
            value = [value]
        if not isinstance(value, (list, tuple)):
            self.diagnostics.error(where, f"{what} must be a list of names, not "
                                          f"{type(value).__name__}")
            return []
        names = [self.reference(item, expected, f"each of {what}", where) for item in value]
        return [name for name in names if name is not None]

    def _implicit_groups(self):
        grouped = set()
        for item in self.manifest.groups.values():
            grouped.update(item.instances)
        for item in list(self.manifest.instances.values()):
            if item.name in grouped:
                continue
            clash = self.manifest.groups.get(item.name)
            if clash is not None:
                self.diagnostics.error(clash.where, (
                    f"group '{clash.name}' has the name of instance '{item.name}', which is in "
                    "no group and so gets a group of its own with that name (rename the group, "
                    f"or add '{item.name}' to a group)"))
                continue
            self.manifest.groups[item.name] = model.group(item.name, [item.name], item.where,
                                                          implicit=True)


def load(directory):
    """Runs DIRECTORY/deployment.py. Returns (model.manifest, diagnostics)."""
    return loader(directory).run()


# --- the language ------------------------------------------------------------------------

def service(name, interface, implementation, depends=None, doc="", cls="", header="",
            config_type="", shareable_heap=False):
    """Declares a service: an implementation (a CMake target) of the lidl interface
    `interface` ("path/file.lidl:namespace::name", the path relative to this manifest file;
    ":name" may be left out when the file declares one service), depending on the interfaces
    of `depends` ({slot: interface spec}). `cls` is the C++ class (qualified) and `header` the
    header declaring it, which generated node code constructs (docs/deploy.md, "Synthesis").
    `config_type` ("path/file.lidl:name") names the lidl struct each instance's config= must
    be; the constructor takes it first (docs/deploy.md, "Typed configuration"). With
    `shareable_heap=True` the constructor takes, next, its group's shareable memory
    (amb::shareable_memory&; docs/deploy.md, "Shareable heap").
    Returns a handle for instance(service=...)."""
    load_, where = _loader(), _caller()
    load_.check_name("service", name, where)
    for what, value in (("interface", interface), ("implementation", implementation)):
        if not isinstance(value, str) or not value:
            load_.diagnostics.error(where, f"service '{name}': {what} must be a non-empty "
                                           f"string, not {value!r}")
    for what, value in (("cls", cls), ("header", header), ("config_type", config_type)):
        if not isinstance(value, str):
            load_.diagnostics.error(where, f"service '{name}': {what} must be a string, "
                                           f"not {value!r}")
    if isinstance(cls, str) and cls and not all(
            part.isidentifier() and part.isascii() for part in cls.removeprefix("::").split("::")):
        load_.diagnostics.error(where, f"service '{name}': cls must be a C++ class name "
                                       f"such as 'demo::sensor_impl', not {cls!r}")
    if not isinstance(shareable_heap, bool):
        load_.diagnostics.error(where, f"service '{name}': shareable_heap must be True or "
                                       f"False, not {shareable_heap!r}")
    depends = load_.mapping(depends, "depends", where)
    for slot, spec in depends.items():
        load_.check_name("dependency slot", slot, where)
        if not isinstance(spec, str):
            load_.diagnostics.error(where, (
                f"service '{name}': dependency slot '{slot}' must name an interface "
                f"(\"file.lidl:namespace::name\"), not {spec!r}"))
    item = model.service(str(name), interface if isinstance(interface, str) else "",
                         implementation if isinstance(implementation, str) else "",
                         {k: v for k, v in depends.items() if isinstance(v, str)},
                         str(doc), where, cls if isinstance(cls, str) else "",
                         header if isinstance(header, str) else "",
                         config_type if isinstance(config_type, str) else "",
                         shareable_heap is True)
    return load_.declare(load_.manifest.services, "service", "service", item)


def instance(name, service, dependencies=None, config=None):
    """Declares an instance of `service` (its name or handle) named `name`, binding each
    dependency slot of the service to an instance or HTTP import ({slot: name or handle}).
    `config` is a dict of JSON values: a value of the service's config_type, checked against it
    and handed to the constructor as that lidl struct."""
    load_, where = _loader(), _caller()
    load_.check_name("instance", name, where)
    service_name = load_.reference(service, model.service, "service=", where)
    bound = {}
    for slot, target in load_.mapping(dependencies, "dependencies", where).items():
        if isinstance(target, model.http_import):
            bound[slot] = target.name
            continue
        target_name = load_.reference(target, model.instance, f"dependency '{slot}'", where)
        if target_name is not None:
            bound[slot] = target_name
    config = load_.mapping(config, "config", where)
    try:
        json.dumps(config)
    except (TypeError, ValueError) as error:
        load_.diagnostics.error(where, f"instance '{name}': config must hold only JSON values "
                                       f"(strings, numbers, booleans, None, lists, dicts): {error}")
        config = {}
    item = model.instance(str(name), service_name, bound, config, where)
    return load_.declare(load_.manifest.instances, "instance", "instance", item)


def import_http(name, interface, url, network=None):
    """Declares an external HTTP service, used through the lidl interface `interface`, at
    `url`. Instances bind it like an instance. With `network` (an http network), calls leave
    the deployment through a node attached to that network; without, from the caller's node."""
    load_, where = _loader(), _caller()
    load_.check_name("import", name, where)
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        load_.diagnostics.error(where, f"import_http '{name}': url must start with http:// or "
                                       f"https://, not {url!r}")
    network_name = None
    if network is not None:
        network_name = load_.reference(network, model.network, "network=", where)
    item = model.http_import(str(name), interface if isinstance(interface, str) else "",
                             url if isinstance(url, str) else "", network_name, where)
    return load_.declare(load_.manifest.imports, "import", "instance", item)


def group(name, services=None, instances=None, spin_us=None):
    """Declares a group: instances (names or handles) that share an address space and call
    each other directly. `services=` and `instances=` are synonyms. An instance that no group
    names gets a group of its own, named after the instance. `spin_us`: how long the group's
    event loop keeps polling its channels after its last work before it sleeps, in microseconds
    (0: sleep at once; default: the port's, 50 on hosted nodes; docs/hosted.md, "Waking")."""
    load_, where = _loader(), _caller()
    load_.check_name("group", name, where)
    members = load_.string_list(services, "services", where, model.instance) + \
        load_.string_list(instances, "instances", where, model.instance)
    if not members:
        load_.diagnostics.error(where, f"group '{name}' has no instances (list them with "
                                       "services=[...])")
    if spin_us is not None and (isinstance(spin_us, bool) or not isinstance(spin_us, int)
                                or not 0 <= spin_us <= 1_000_000):
        load_.diagnostics.error(where, f"group '{name}': spin_us must be a whole number of "
                                       f"microseconds from 0 to 1000000, not {spin_us!r}")
        spin_us = None
    item = model.group(str(name), members, where, spin_us=spin_us)
    return load_.declare(load_.manifest.groups, "group", "group", item)


def network(name, kind, cost=None, encrypt=False, doc="", **options):
    """Declares a network of `kind` (udp, tcp, serial or http). `cost` overrides the kind's
    default route cost; `encrypt` asks for the CAPLets secure channel on it; other keyword
    options depend on the kind (udp/tcp/http: port; serial: baud)."""
    load_, where = _loader(), _caller()
    load_.check_name("network", name, where)
    if kind not in model.NETWORK_KINDS:
        hint = did_you_mean(kind, model.NETWORK_KINDS)
        load_.diagnostics.error(where, (
            f"network '{name}': unknown kind {kind!r} (use one of "
            f"{', '.join(model.NETWORK_KINDS)}{'; ' + hint if hint else ''})"))
    if cost is not None and (isinstance(cost, bool) or not isinstance(cost, (int, float))
                             or not cost > 0):
        load_.diagnostics.error(where, f"network '{name}': cost must be a positive number, "
                                       f"not {cost!r}")
        cost = None
    if not isinstance(encrypt, bool):
        load_.diagnostics.error(where, f"network '{name}': encrypt must be True or False")
        encrypt = False
    known = NETWORK_OPTIONS.get(kind, {})
    for option, value in options.items():
        if option not in known:
            hint = did_you_mean(option, known)
            load_.diagnostics.error(where, (
                f"network '{name}': unknown option '{option}' for a {kind} network (known: "
                f"{', '.join(['cost', 'encrypt', 'doc'] + list(known))}"
                f"{'; ' + hint if hint else ''})"))
        elif isinstance(value, bool) or not isinstance(value, known[option]) or value <= 0 \
                or (option == "port" and value > 65535):
            load_.diagnostics.error(where, f"network '{name}': option {option} must be a "
                                           f"positive integer{' up to 65535' if option == 'port' else ''}, "
                                           f"not {value!r}")
    item = model.network(str(name), kind, cost, encrypt, dict(options), str(doc), where)
    return load_.declare(load_.manifest.networks, "network", "network", item)


def node(name, platform="hosted", networks=None, doc=""):
    """Declares a node on `platform` (hosted or cortex-m), attached to each network of
    `networks` ({network name or handle: this node's address on it})."""
    load_, where = _loader(), _caller()
    load_.check_name("node", name, where)
    if platform not in model.PLATFORMS:
        hint = did_you_mean(platform, model.PLATFORMS)
        load_.diagnostics.error(where, (
            f"node '{name}': unknown platform {platform!r} (use one of "
            f"{', '.join(model.PLATFORMS)}{'; ' + hint if hint else ''})"))
    attached = {}
    for net, address in load_.mapping(networks, "networks", where).items():
        net_name = load_.reference(net, model.network, "each key of networks",
                                   where)
        if net_name is None:
            continue
        if not isinstance(address, str) or not address:
            load_.diagnostics.error(where, (
                f"node '{name}': the address on network '{net_name}' must be a non-empty "
                f"string, not {address!r}"))
            continue
        attached[net_name] = address
    item = model.node(str(name), platform, attached, str(doc), where)
    return load_.declare(load_.manifest.nodes, "node", "node", item)


def deploy(node, groups):
    """Places `groups` (names or handles of groups, or of instances for their own group) on
    `node` (a name or handle)."""
    load_, where = _loader(), _caller()
    node_name = load_.reference(node, model.node, "node=", where)
    names = []
    for item in ([groups] if isinstance(groups, (str, model.group, model.instance))
                 else groups if isinstance(groups, (list, tuple)) else [None]):
        if isinstance(item, (model.group, model.instance)):
            names.append(item.name)
        elif isinstance(item, str):
            names.append(item)
        else:
            load_.diagnostics.error(where, f"deploy: groups must be a list of group names, "
                                           f"not {groups!r}")
            break
    if node_name is not None:
        load_.manifest.deployments.append(model.deployment(node_name, names, where))


def export(service, networks):
    """Makes the instance `service` (a name or handle) reachable from outside the deployment
    on each network of `networks` ({network: address}); on an http network the address is the
    URL path."""
    load_, where = _loader(), _caller()
    name = load_.reference(service, model.instance, "service=", where)
    exposed = {}
    for net, address in load_.mapping(networks, "networks", where).items():
        net_name = load_.reference(net, model.network, "each key of networks",
                                   where)
        if net_name is None:
            continue
        if not isinstance(address, str) or not address:
            load_.diagnostics.error(where, f"export: the address on network '{net_name}' must "
                                           f"be a non-empty string, not {address!r}")
            continue
        exposed[net_name] = address
    if name is not None:
        load_.manifest.exports.append(model.export(name, exposed, where))


def include(path):
    """Runs another manifest file (relative to this one) once, copies its public names into
    the calling file and returns it as a module."""
    load_, where = _loader(), _caller()
    caller_globals = sys._getframe(1).f_globals
    return load_.include(path, where, caller_globals)

"""lidl interfaces of a manifest, learnt from `lidlc --json` (docs/lidlc-json.md).

An interface spec, as a manifest writes it, is "path/file.lidl:name": the schema file (relative
to the manifest file that names it) and a service declared in it or in a file it imports, by
qualified name (`demo::pipeline::averager`) or by plain name when that is unambiguous. With no
":name", the schema's main file must declare exactly one service.

`find_lidlc()` looks for the compiler: $AMBIENCE_LIDLC, then the repository's build trees
(build/default first), then PATH.
"""

import dataclasses
import glob
import json
import os
import shutil
import subprocess

from manifest.diagnostics import did_you_mean

REPOSITORY = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# A dependency slot whose interface is "node:NAME" is bound by the node to its node service NAME
# (services/node/node_services.lidl, namespace amb_node: log, clock), not by instances.
NODE_SERVICE_PREFIX = "node:"
NODE_SERVICES_SCHEMA = os.path.join(REPOSITORY, "services", "node", "node_services.lidl")


def is_node_service(spec):
    return spec.startswith(NODE_SERVICE_PREFIX)


def find_lidlc():
    """Path of a lidlc executable, or None."""
    explicit = os.environ.get("AMBIENCE_LIDLC")
    if explicit:
        return explicit if os.access(explicit, os.X_OK) else None
    candidates = [os.path.join(REPOSITORY, "build", "default", "lidl", "compiler", "lidlc")]
    candidates += sorted(glob.glob(os.path.join(REPOSITORY, "build", "*", "lidl", "compiler",
                                                "lidlc")))
    for candidate in candidates:
        if os.access(candidate, os.X_OK):
            return candidate
    return shutil.which("lidlc")


@dataclasses.dataclass
class interface:
    """A lidl service as lidlc describes it."""
    qualified_name: str
    schema: str          # the schema file the manifest named (absolute)
    file: str            # the file that declares the service (absolute)
    line: int
    procedures: list     # [{"name", "id", "params", "result"}] without doc comments

    def signature(self):
        """What two declarations of one interface must agree on."""
        return [{key: p[key] for key in ("name", "id", "params", "result")}
                for p in self.procedures]


@dataclasses.dataclass
class config_type:
    """A lidl struct that a service takes as its configuration (docs/deploy.md, "Typed
    configuration"), with every type of its schema for checking values against it."""
    qualified_name: str
    schema: str          # the schema file the manifest named (absolute)
    types: dict          # qualified name -> lidlc declaration (enums, structs, unions)


def _without_docs(value):
    if isinstance(value, dict):
        return {k: _without_docs(v) for k, v in value.items() if k != "doc"}
    if isinstance(value, list):
        return [_without_docs(v) for v in value]
    return value


class catalogue:
    """Runs lidlc once per schema file and resolves interface specs against the results."""

    def __init__(self, lidlc, include_dirs=()):
        self.lidlc = lidlc
        self.include_dirs = list(include_dirs)
        self.schemas = {}  # absolute path -> (json or None, error text)

    def schema(self, path):
        if path not in self.schemas:
            self.schemas[path] = self._run(path)
        return self.schemas[path]

    def _run(self, path):
        command = [self.lidlc, "--json"]
        for directory in self.include_dirs:
            command += ["-I", directory]
        command.append(path)
        try:
            result = subprocess.run(command, capture_output=True, text=True,
                                    cwd=os.path.dirname(path))
        except OSError as error:
            return None, f"cannot run {self.lidlc}: {error}"
        if result.returncode != 0:
            return None, (result.stderr or result.stdout).strip()
        try:
            return json.loads(result.stdout), ""
        except json.JSONDecodeError as error:
            return None, f"lidlc printed invalid JSON: {error}"

    def _load(self, spec, base_dir, what):
        """(schema JSON, absolute path, wanted name, path as written, "") for a spec
        "file.lidl:name", or (None, None, None, None, message)."""
        path_part, dot, rest = spec.partition(".lidl")
        if not dot or (rest and not rest.startswith(":")) or not path_part:
            return None, None, None, None, (
                f"{what} {spec!r} is not of the form \"file.lidl:namespace::name\" "
                f"(name the schema file, then the {'service' if what == 'interface' else what})")
        path = os.path.normpath(os.path.join(base_dir, path_part + ".lidl"))
        if not os.path.isfile(path):
            return None, None, None, None, (
                f"{what} file '{path_part}.lidl' not found (the path is relative to the "
                "directory of the manifest file that names it)")
        schema, error = self.schema(path)
        if schema is None:
            return None, None, None, None, (
                f"{what} file '{path_part}.lidl' has errors (fix the schema; lidlc's report "
                f"follows)\n{error}")
        return schema, path, rest[1:], path_part, ""

    def resolve_config(self, spec, base_dir):
        """(config_type, "") for a spec "file.lidl:name" naming a lidl struct, or (None,
        message saying what is wrong and how to fix it)."""
        schema, path, wanted, path_part, error = self._load(spec, base_dir, "config type")
        if schema is None:
            return None, error
        if not wanted:
            return None, (f"config type {spec!r} names no struct (write "
                          f"\"{path_part}.lidl:namespace::name\")")
        structs = [d for d in schema["declarations"] if d["kind"] == "struct"]
        exact = [d for d in structs if d["qualified_name"] == wanted] or \
            [d for d in structs if d["name"] == wanted and not d["imported"]] or \
            [d for d in structs if d["name"] == wanted]
        if len(exact) == 1:
            types = {d["qualified_name"]: _without_docs(d) for d in schema["declarations"]
                     if d["kind"] != "service"}
            return config_type(exact[0]["qualified_name"], path, types), ""
        if len(exact) > 1:
            names = ", ".join(d["qualified_name"] for d in exact)
            return None, f"config type {spec!r} is ambiguous (qualify it: {names})"
        hint = did_you_mean(wanted, [d["qualified_name"] for d in structs] +
                            [d["name"] for d in structs])
        declared = ", ".join(d["qualified_name"] for d in structs) or "none"
        return None, (f"'{path_part}.lidl' declares no struct {wanted!r} ("
                      f"{hint + ' ' if hint else ''}declared structs: {declared})")

    def resolve(self, spec, base_dir):
        """(interface, "") or (None, message saying what is wrong and how to fix it)."""
        if is_node_service(spec):
            return self._node_service(spec[len(NODE_SERVICE_PREFIX):])
        schema, path, wanted, path_part, error = self._load(spec, base_dir, "interface")
        if schema is None:
            return None, error
        services = [d for d in schema["declarations"] if d["kind"] == "service"]
        if not wanted:
            own = [d for d in services if not d["imported"]]
            if len(own) != 1:
                names = ", ".join(d["qualified_name"] for d in own) or "none"
                return None, (f"interface {spec!r} names no service and "
                              f"'{path_part}.lidl' declares {len(own)} (name one with "
                              f"\"{path_part}.lidl:NAME\"; declared: {names})")
            return self._make(own[0], path), ""
        exact = [d for d in services if d["qualified_name"] == wanted]
        if not exact:
            exact = [d for d in services if d["name"] == wanted and not d["imported"]] or \
                [d for d in services if d["name"] == wanted]
        if len(exact) == 1:
            return self._make(exact[0], path), ""
        if len(exact) > 1:
            names = ", ".join(d["qualified_name"] for d in exact)
            return None, (f"interface {spec!r} is ambiguous (qualify it: {names})")
        hint = did_you_mean(wanted, [d["qualified_name"] for d in services] +
                            [d["name"] for d in services])
        declared = ", ".join(d["qualified_name"] for d in services) or "none"
        return None, (f"'{path_part}.lidl' declares no service {wanted!r} ("
                      f"{hint + ' ' if hint else ''}declared services: {declared})")

    def _node_service(self, name):
        schema, error = self.schema(NODE_SERVICES_SCHEMA)
        if schema is None:
            return None, f"the node services' schema has errors\n{error}"
        services = [d for d in schema["declarations"] if d["kind"] == "service"]
        found = [d for d in services if d["name"] == name]
        if not found:
            names = ", ".join(d["name"] for d in services)
            hint = did_you_mean(name, [d["name"] for d in services])
            return None, (f"'{NODE_SERVICE_PREFIX}{name}' names no node service ("
                          f"{hint + ' ' if hint else ''}node services: {names})")
        return self._make(found[0], NODE_SERVICES_SCHEMA), ""

    def _make(self, declaration, schema_path):
        file = declaration["file"]
        if not os.path.isabs(file):
            file = os.path.normpath(os.path.join(os.path.dirname(schema_path), file))
        return interface(declaration["qualified_name"], schema_path, file, declaration["line"],
                         _without_docs(declaration["procedures"]))

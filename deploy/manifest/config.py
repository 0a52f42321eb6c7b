"""Instance configuration checked against the service's lidl config struct.

A service may name a lidl struct as its configuration type (`service(..., config_type=
"file.lidl:name")`); each instance's `config=` dict must then be a value of that struct in
lidl's JSON mapping (lidl/include/lidl/json.hpp, docs/http-export.md "URL scheme and bodies"),
because that is how the generated node turns it into the struct it hands to the constructor.
`problems(value, config_type)` lists every way a value misses the struct, each as
(path, sentence), the path written as in the manifest (`limits.high`, `zones[2]`) and the
sentence following it; the checker reports them at the instance's line as `config.PATH
SENTENCE`. The rules are the JSON mapping's, so a value accepted here
is never refused by the generated node:

- integers are Python ints (not bools, not floats) in the range of the lidl integer type;
- `f32`/`f64` are ints or finite floats; `bool` is True/False; `string` is a str;
- `vector<T>` is a list, `array<T, N>` a list of exactly N; `optional<T>` is the value, None, or
  (as a struct field) absent;
- an enum is the name of one of its values; a struct a dict with every non-optional field and no
  other key; a union a dict with exactly one key, naming its alternative.
"""

import math

from manifest.diagnostics import did_you_mean

INTEGER_BITS = {"i8": 8, "i16": 16, "i32": 32, "i64": 64, "u8": 8, "u16": 16, "u32": 32,
                "u64": 64}
F32_MAX = 3.4028234663852886e38


def integer_range(kind):
    """(lowest, highest) value of a lidl integer type."""
    bits = INTEGER_BITS[kind]
    if kind.startswith("u"):
        return 0, (1 << bits) - 1
    return -(1 << (bits - 1)), (1 << (bits - 1)) - 1


def _show(value):
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _kind_of(value):
    if value is None:
        return "None"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a float"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, (list, tuple)):
        return "a list"
    if isinstance(value, dict):
        return "a dict"
    return type(value).__name__


def type_text(kind):
    """A lidl type as written in a schema: `u8`, `vector<string>`, `demo::limits`."""
    name = kind["kind"]
    if "name" in kind:
        return kind["name"]
    if name in ("vector", "optional", "span"):
        return f"{name}<{type_text(kind['element'])}>"
    if name == "array":
        return f"array<{type_text(kind['element'])}, {kind['size']}>"
    return name


class _walker:
    def __init__(self, types):
        self.types = types
        self.found = []

    def wrong(self, path, kind, value, expected):
        self.found.append((path, f"must be {expected} ({type_text(kind)}), not "
                                 f"{_kind_of(value)} ({_show(value)})"))

    def value(self, path, kind, value):
        name = kind["kind"]
        if name == "bool":
            if not isinstance(value, bool):
                self.wrong(path, kind, value, "True or False")
        elif name in INTEGER_BITS:
            if isinstance(value, bool) or not isinstance(value, int):
                self.wrong(path, kind, value, "an integer")
                return
            low, high = integer_range(name)
            if not low <= value <= high:
                self.found.append((path, f"= {value} is out of range for {name} "
                                         f"({low}..{high})"))
        elif name in ("f32", "f64"):
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                self.wrong(path, kind, value, "a number")
            elif isinstance(value, float) and not math.isfinite(value):
                self.found.append((path, f"= {value} is not a finite number ({name})"))
            elif name == "f32" and abs(value) > F32_MAX:
                self.found.append((path, f"= {value} is out of range for f32"))
        elif name == "string":
            if not isinstance(value, str):
                self.wrong(path, kind, value, "a string")
        elif name in ("vector", "array"):
            if not isinstance(value, (list, tuple)):
                self.wrong(path, kind, value, "a list")
                return
            if name == "array" and len(value) != kind["size"]:
                self.found.append((path, f"must be a list of {kind['size']} elements "
                                         f"({type_text(kind)}), not of {len(value)}"))
                return
            for index, item in enumerate(value):
                self.value(f"{path}[{index}]", kind["element"], item)
        elif name == "optional":
            if value is not None:
                self.value(path, kind["element"], value)
        elif name == "enum":
            names = [v["name"] for v in self.types[kind["name"]]["values"]]
            if not isinstance(value, str):
                self.wrong(path, kind, value, "the name of a value: " + ", ".join(names))
            elif value not in names:
                hint = did_you_mean(value, names)
                self.found.append((path, f"= {value!r} is not a value of {kind['name']} ("
                                         f"{hint + ' ' if hint else ''}its values: "
                                         f"{', '.join(names)})"))
        elif name == "struct":
            self.struct(path, kind, value)
        elif name == "union":
            declaration = self.types[kind["name"]]
            names = [a["name"] for a in declaration["alternatives"]]
            if not isinstance(value, dict) or len(value) != 1:
                self.wrong(path, kind, value, "a dict with one key, one of " + ", ".join(names))
                return
            (key, item), = value.items()
            alternative = next((a for a in declaration["alternatives"] if a["name"] == key),
                               None)
            if alternative is None:
                hint = did_you_mean(key, names)
                self.found.append((_join(path, key), f"is not an alternative of "
                                                     f"{kind['name']} ({hint + ' ' if hint else ''}"
                                                     f"its alternatives: {', '.join(names)})"))
                return
            self.value(_join(path, key), alternative["type"], item)
        else:
            self.found.append((path, f"has type {type_text(kind)}, which a configuration "
                                     "cannot hold"))

    def struct(self, path, kind, value):
        declaration = self.types[kind["name"]]
        fields = declaration["fields"]
        names = [f["name"] for f in fields]
        if not isinstance(value, dict):
            self.wrong(path, kind, value, "a dict")
            return
        for field in fields:
            here = _join(path, field["name"])
            if field["name"] in value:
                self.value(here, field["type"], value[field["name"]])
            elif field["type"]["kind"] != "optional":
                self.found.append((here, f"is missing (add it: {kind['name']} requires every "
                                         "field that is not optional)"))
        for key in value:
            if key not in names:
                hint = did_you_mean(str(key), names)
                self.found.append((_join(path, str(key)), (
                    f"is not a field of {kind['name']} ({hint + ' ' if hint else ''}its "
                    f"fields: {', '.join(names) or 'none'})")))


def _join(path, name):
    return f"{path}.{name}" if path else name


def problems(value, config_type):
    """Every way `value` (a config dict) is not a `config_type` (interfaces.config_type), as
    [(path, sentence)] in field order; [] when it is one."""
    walker = _walker(config_type.types)
    walker.struct("", {"kind": "struct", "name": config_type.qualified_name}, value)
    return walker.found

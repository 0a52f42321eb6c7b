"""The keys of a node's settings file, read from their one declaration,
deploy/synth/glue/node_settings.keys (the generated nodes embed the same file)."""

import os

DECLARATION = os.path.join(os.path.dirname(os.path.abspath(__file__)), "glue",
                           "node_settings.keys")


def patterns(path=DECLARATION):
    """The declared key patterns, each a list of parts (upper-case parts stand for a name)."""
    out = []
    with open(path, encoding="utf-8") as file:
        for line in file:
            line = line.strip()
            if line and not line.startswith("#"):
                out.append(line.split()[0].split("."))
    return out


def declared(key, declared_patterns=None):
    """True when `key` matches a declared pattern."""
    parts = key.split(".")
    for pattern in declared_patterns if declared_patterns is not None else patterns():
        if len(pattern) == len(parts) and all(
                p == k or (p.isupper() and k) for p, k in zip(pattern, parts)):
            return True
    return False


def check(text):
    """Raises ValueError naming the first undeclared key of settings file `text`."""
    declared_patterns = patterns()
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key = line.split("=", 1)[0].strip()
        if not declared(key, declared_patterns):
            raise ValueError(f"settings line {number}: key '{key}' is not declared in "
                             f"{DECLARATION}")
    return text

"""Diagnostics of a deployment manifest: where (file and line), what is wrong, how to fix it.

Every check of the manifest appends a `diagnostic` instead of stopping, so a run reports all of
the mistakes at once. `format()` gives the compiler-style line `file:line: error: message (fix)`;
the message text itself already holds the suggested fix in parentheses.
"""

import dataclasses
import difflib
import os


@dataclasses.dataclass(frozen=True)
class location:
    """A place in a manifest file: absolute path and 1-based line (0 when there is no line)."""
    file: str
    line: int


@dataclasses.dataclass
class diagnostic:
    where: location
    message: str
    severity: str = "error"

    def format(self, relative_to=None):
        """`file:line: severity: message`, the path relative to `relative_to` (a directory)
        when given and the file lies below it."""
        path = self.where.file
        if relative_to is not None:
            relative = os.path.relpath(path, relative_to)
            if not relative.startswith(".."):
                path = relative
        line = f":{self.where.line}" if self.where.line else ""
        return f"{path}{line}: {self.severity}: {self.message}"


class diagnostics(list):
    """The diagnostics of one run, in the order they were found."""

    def error(self, where, message):
        self.append(diagnostic(where, message))

    def has_errors(self):
        return any(d.severity == "error" for d in self)

    def sorted(self):
        """By file (in the order the files were first mentioned), then line; stable otherwise."""
        order = {}
        for d in self:
            order.setdefault(d.where.file, len(order))
        return sorted(self, key=lambda d: (order[d.where.file], d.where.line))


def did_you_mean(name, candidates):
    """' or did you mean 'x'?' style hint: the closest candidate names, or ''."""
    close = difflib.get_close_matches(str(name), sorted(set(candidates)), n=1, cutoff=0.6)
    return f"did you mean '{close[0]}'?" if close else ""


def known_list(kind, candidates):
    names = list(dict.fromkeys(candidates))
    if not names:
        return f"no {kind} is declared"
    return f"known {kind}s: " + ", ".join(names)

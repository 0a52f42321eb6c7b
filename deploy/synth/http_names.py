"""How HTTP exports are named and where their procedures are served, read from the one
declaration the exporter is built from: services/http_export/export_names.json."""

import json
import os
import re

DECLARATION = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))), "services", "http_export", "export_names.json")

with open(DECLARATION, encoding="utf-8") as _file:
    _RULE = json.load(_file)

MAX_LENGTH = _RULE["export_name"]["max_length"]
PUNCTUATION = _RULE["export_name"]["punctuation"]
_NAME = re.compile(f"[A-Za-z0-9{re.escape(PUNCTUATION)}]{{1,{MAX_LENGTH}}}")


def valid(name):
    """True when `name` can be an export's name (the exporter refuses any other)."""
    return _NAME.fullmatch(name) is not None


def rule_text():
    return f"1-{MAX_LENGTH} letters, digits and '{PUNCTUATION}'"


def procedure_path(export, procedure):
    """The path at which `procedure` of export `export` is served: '/EXPORT/PROCEDURE'."""
    return _RULE["procedure_path"].format(export=export, procedure=procedure)


def export_path(export):
    """The export's own path (GET describes it); its procedures' paths continue it with '/P'."""
    return procedure_path(export, "").rstrip("/")

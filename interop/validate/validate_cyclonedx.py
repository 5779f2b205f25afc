#!/usr/bin/env python3
"""Validates CycloneDX 1.6 JSON files with cyclonedx-python-lib's strict JSON validator.

The library bundles the CycloneDX schemas (and the SPDX licence and JSF schemas they refer to),
so validation is offline. The strict validator also rejects properties the schema does not
name. Beyond the schema, it checks what the schema cannot: every bom-ref is unique and every
dependency ref resolves to a bom-ref in the document.

Usage: validate_cyclonedx.py FILE...   exit 0 when every file is valid, 1 otherwise (errors printed).
"""

import json
import sys

from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator


def bom_refs(doc):
    """Every bom-ref in the document, wherever it is (components nest, services nest)."""
    refs = []

    def walk(node):
        if isinstance(node, dict):
            ref = node.get("bom-ref")
            if isinstance(ref, str):
                refs.append(ref)
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk({k: v for k, v in doc.items() if k != "dependencies"})
    return refs


def graph_errors(doc):
    errors = []
    refs = bom_refs(doc)
    seen = set()
    for ref in refs:
        if ref in seen:
            errors.append(f"bom-ref {ref!r} is not unique")
        seen.add(ref)
    for dep in doc.get("dependencies", []) or []:
        for ref in [dep.get("ref")] + list(dep.get("dependsOn", []) or []) + list(dep.get("provides", []) or []):
            if ref not in seen:
                errors.append(f"dependency ref {ref!r} names no bom-ref")
    return errors


def describe(error):
    """One line per schema error: where, and what (the library's own text repeats the schema)."""
    inner = getattr(error, "data", None)
    if inner is None or not hasattr(inner, "message"):
        return str(error).splitlines()[0]
    where = "/" + "/".join(str(p) for p in inner.absolute_path)
    return f"{where}: {inner.message}"


def main(files):
    if not files:
        sys.exit("usage: validate_cyclonedx.py FILE...")
    validator = JsonStrictValidator(SchemaVersion.V1_6)
    failed = 0
    for name in files:
        try:
            with open(name, encoding="utf-8") as f:
                text = f.read()
            doc = json.loads(text)
        except (OSError, ValueError) as e:
            print(f"{name}: cannot read: {e}")
            failed += 1
            continue
        errors = [describe(e) for e in (validator.validate_str(text, all_errors=True) or [])]
        if isinstance(doc, dict):
            if doc.get("specVersion") != "1.6":
                errors.append(f"specVersion is {doc.get('specVersion')!r}, not '1.6'")
            errors += graph_errors(doc)
        if errors:
            failed += 1
            for e in errors:
                print(f"{name}: {e}")
        else:
            print(f"{name}: valid CycloneDX 1.6")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

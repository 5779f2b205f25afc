#!/usr/bin/env python3
"""Every probe pack shipped with custos against the pack JSON Schema (draft 2020-12), with the
`jsonschema` package; and a pack with an unknown field must fail, so the check cannot pass by
accepting anything.

usage: validate_packs.py SCHEMA PACK...
"""
import copy
import json
import sys
import tomllib

import jsonschema


def main() -> int:
    schema = json.load(open(sys.argv[1]))
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    failed = 0
    last = None
    for path in sys.argv[2:]:
        with open(path, "rb") as f:
            pack = tomllib.load(f)
        errors = sorted(validator.iter_errors(pack), key=lambda e: list(e.path))
        for e in errors:
            print(f"{path}: {'/'.join(map(str, e.path))}: {e.message}")
        failed += bool(errors)
        if not errors:
            print(f"{path}: valid probe pack ({len(pack['probe'])} probes)")
        last = pack
    if last is not None:
        bad = copy.deepcopy(last)
        bad["probe"][0]["oracle"] = "honeypot_call"  # a typo of `expect`
        if validator.is_valid(bad):
            print("the schema accepted a probe with an unknown field")
            failed += 1
        bad = copy.deepcopy(last)
        bad["probe"][0]["asi"] = "ASI11"
        if validator.is_valid(bad):
            print("the schema accepted ASI11")
            failed += 1
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

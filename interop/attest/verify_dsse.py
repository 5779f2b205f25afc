#!/usr/bin/env python3
"""Checks a custos evidence bundle with code that shares nothing with custos.

Usage: verify_dsse.py BUNDLE PUBKEY_HEX [SCHEMA]

- securesystemslib: the DSSE envelope's signature over PAE, with an Ed25519 key built from
  the raw 32-byte public key (hex). Its default keyid must equal the envelope's keyid, which
  securesystemslib requires (DSSE calls keyid a hint; securesystemslib issue #416).
- in_toto_attestation: the payload parses into the Statement v1 protobuf (unknown fields are
  refused) and Statement.validate() accepts it.
- jsonschema (when SCHEMA is given, default: the repository's agent-evidence-v1 schema): the
  predicate validates against JSON Schema 2020-12.

Prints "ok: ..." and exits 0, or prints "FAIL: reason" and exits 1.
"""

import json
import os
import sys

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from google.protobuf import json_format
from in_toto_attestation.v1 import statement_pb2
from in_toto_attestation.v1.statement import Statement
from securesystemslib.dsse import Envelope
from securesystemslib.signer import SSlibKey

IN_TOTO = "application/vnd.in-toto+json"
PREDICATE_TYPE = "https://custos.dev/attestation/agent-evidence/v1"
DEFAULT_SCHEMA = os.path.join(
    os.path.dirname(os.path.abspath(__file__)),
    "..", "..", "crates", "custos-attest", "schema", "agent-evidence-v1.schema.json",
)


def fail(why):
    print("FAIL: " + why)
    sys.exit(1)


def main(argv):
    if len(argv) not in (3, 4):
        fail("usage: verify_dsse.py BUNDLE PUBKEY_HEX [SCHEMA]")
    bundle_path, pubkey_hex = argv[1], argv[2].strip()
    schema_path = argv[3] if len(argv) == 4 else DEFAULT_SCHEMA
    try:
        raw = bytes.fromhex(pubkey_hex)
        key = SSlibKey.from_crypto(Ed25519PublicKey.from_public_bytes(raw))
    except ValueError as e:
        fail(f"the public key is not 32 bytes of hex: {e}")
    try:
        with open(bundle_path, "rb") as f:
            envelope = Envelope.from_dict(json.loads(f.read()))
    except Exception as e:  # any parse error is a failure to verify
        fail(f"not a DSSE envelope: {e!r}")
    try:
        envelope.verify([key], 1)
    except Exception as e:
        fail(f"securesystemslib: the DSSE signature does not verify: {e}")
    if envelope.payload_type != IN_TOTO:
        fail(f"payloadType is {envelope.payload_type!r}, expected {IN_TOTO!r}")
    # Only the verified payload bytes are used from here on (DSSE: never re-parse the envelope).
    payload = envelope.payload
    try:
        pb = json_format.Parse(payload, statement_pb2.Statement())
        Statement.copy_from_pb(pb).validate()
    except Exception as e:
        fail(f"in_toto_attestation: not a valid Statement v1: {e}")
    statement = json.loads(payload)
    if statement.get("predicateType") != PREDICATE_TYPE:
        fail(f"predicateType is {statement.get('predicateType')!r}")
    checked = ["securesystemslib DSSE signature (keyid " + key.keyid[:16] + "...)", "in_toto_attestation Statement v1"]
    if schema_path:
        import jsonschema

        with open(schema_path, "rb") as f:
            schema = json.load(f)
        jsonschema.Draft202012Validator.check_schema(schema)
        errors = sorted(jsonschema.Draft202012Validator(schema).iter_errors(statement["predicate"]), key=str)
        if errors:
            e = errors[0]
            fail(f"predicate schema: {e.message} at /{'/'.join(map(str, e.absolute_path))} ({len(errors)} errors)")
        checked.append("predicate JSON Schema 2020-12")
    subject = statement["subject"][0]
    print(f"ok: {subject['name']} sha256:{subject['digest']['sha256'][:16]}...: " + ", ".join(checked))


if __name__ == "__main__":
    main(sys.argv)

"""MessageBird's own RequestValidator (and PyJWT, which it uses) for
tests/api/provider_signatures.rs.

Reads a JSON list of cases on stdin and writes one answer per case as JSON on stdout:
"validate" checks a MessageBird-Signature-JWT with MessageBird's validator (true or false);
"sign" makes one the way MessageBird does, valid for a minute from now.
"""
import hashlib
import json
import sys
import time

import jwt
from messagebird.error import ValidationError
from messagebird.request_validator import RequestValidator

answers = []
for case in json.load(sys.stdin):
    body = case["body"].encode("utf-8")
    if case["op"] == "validate":
        try:
            RequestValidator(case["key"]).validate_signature(case["token"], case["url"], body)
            answers.append(True)
        except ValidationError:
            answers.append(False)
    else:
        now = int(time.time())
        claims = {
            "iss": "MessageBird",
            "nbf": now,
            "exp": now + 60,
            "jti": case.get("jti"),
            "url_hash": hashlib.sha256(case["url"].encode("utf-8")).hexdigest(),
        }
        if body:
            claims["payload_hash"] = hashlib.sha256(body).hexdigest()
        answers.append(jwt.encode(claims, case["key"], algorithm=case["algorithm"]))
json.dump(answers, sys.stdout)

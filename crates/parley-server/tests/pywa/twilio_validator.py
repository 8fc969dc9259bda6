"""Twilio's own RequestValidator for tests/api/provider_signatures.rs.

Reads a JSON list of cases on stdin and writes one answer per case as JSON on stdout:
"sign" computes a form post's signature, "validate_form" and "validate_json" check one.
"""
import json
import sys

from twilio.request_validator import RequestValidator


class Params(dict):
    """Form parameters with repeated names, read the way Twilio's validator reads Flask's."""

    def getall(self, name):
        return self[name]


def params(pairs):
    found = Params()
    for name, value in pairs:
        found.setdefault(name, []).append(value)
    return found


answers = []
for case in json.load(sys.stdin):
    validator = RequestValidator(case["token"])
    algorithm = case.get("algorithm")
    if case["op"] == "sign":
        answers.append(validator.compute_signature(case["url"], params(case["params"]), algorithm))
    elif case["op"] == "validate_form":
        answers.append(validator.validate(case["url"], params(case["params"]), case["signature"], algorithm))
    else:
        answers.append(validator.validate(case["url"], case["body"], case["signature"], algorithm))
json.dump(answers, sys.stdout)

"""A scripted protocol child for the adapter tests: ``python fake_child.py MODE``.

It answers ``hello`` properly (signing only, ed25519, local backend) and ``open_signer``; ``sign``
misbehaves as MODE says. Modes: ``ok``, ``garbage``, ``silent``, ``bad-schema``, ``wrong-id``,
``exit``, ``error:<CODE>``, ``protocol-2``, ``callback`` (audit appends sign through host.sign),
``declares-policy`` (a 1.0 child declaring a capability of 1.1).
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from typing import Any

MODE = sys.argv[1]
SIG = {"kid": "fake-v1", "alg": "ed25519", "sig": "AAAA"}


def send(message: dict[str, object]) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


def hello(m: dict[str, Any]) -> dict[str, Any] | None:
    return {
        "protocol": 2 if MODE == "protocol-2" else 1,
        "implementation": {"name": "fake", "version": "0"},
        "capabilities": ["sign", "audit_log", "policy"] if MODE == "declares-policy" else ["sign", "audit_log"],
        "algorithms": ["ed25519"],
        "backends": ["local"],
    }


def sign(m: dict[str, Any]) -> dict[str, Any] | None:
    rid = m["id"]
    if MODE == "garbage":
        sys.stdout.write("this is not JSON\n")
        sys.stdout.flush()
    elif MODE == "silent":
        time.sleep(60)
    elif MODE == "bad-schema":
        send({"id": rid, "ok": True, "signature": {**SIG, "alg": "md5"}})
    elif MODE == "wrong-id":
        send({"id": int(str(rid)) + 100, "ok": True, "signature": SIG})
    elif MODE == "exit":
        sys.stderr.write("fake child: giving up on sign\n")
        sys.stderr.flush()
        sys.exit(3)
    elif MODE.startswith("error:"):
        send({"id": rid, "ok": False, "error": {"code": MODE[6:], "message": "scripted", "kid": "fake-v1"}})
    else:
        return {"signature": SIG}
    return None


LOGS: dict[str, str] = {}


def open_log(m: dict[str, Any]) -> dict[str, Any] | None:
    log = f"l{len(LOGS) + 1}"
    LOGS[log] = str(m["host_signer"]["id"])
    return {"log": log}


def append(m: dict[str, Any]) -> dict[str, Any] | None:
    send({"cb": 7, "op": "host.sign", "signer": LOGS[str(m["log"])], "digest": "ab" * 32})
    reply = json.loads(sys.stdin.readline())
    if not reply["ok"]:
        raise RuntimeError(reply["error"]["message"])
    record = {"seq": 0, "ts": "2026-01-01T00:00:00.000000Z", "payload": m["payload"], "prev_hash": None}
    return {"record": {**record, "hash": "ab" * 32, "signature": reply["signature"]}}


HANDLERS: dict[str, Callable[[dict[str, Any]], dict[str, Any] | None]] = {
    "hello": hello,
    "open_signer": lambda m: {"signer": "s1", "kid": "fake-v1"},
    "signer_info": lambda m: {"kid": "fake-v1", "alg": "ed25519"},
    "sign": sign,
    "audit.open": open_log,
    "audit.append": append,
    "audit.close": lambda m: {},
    "close_signer": lambda m: {},
    "shutdown": lambda m: {},
}

for line in sys.stdin:
    message: dict[str, Any] = json.loads(line)
    try:
        result = HANDLERS[message["op"]](message)
    except RuntimeError as exc:
        send({"id": message["id"], "ok": False, "error": {"code": "SIGNING_FAILED", "message": str(exc)}})
        continue
    if result is not None:
        send({"id": message["id"], "ok": True, **result})
    if message["op"] == "shutdown":
        break

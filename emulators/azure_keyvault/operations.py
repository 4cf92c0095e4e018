"""The operation a Key Vault request names (``keys/sign``, ``keys/create``...): the wire layer routes
on it, fault plans and logs name requests by it. Standard library only, so the fault vocabulary can
load it without the emulator."""

from __future__ import annotations


def operation_of(method: str, path: str) -> str:
    """The operation a request names (``keys/sign``, ``keys/create``...), for fault plans and logs."""
    parts = path.split("?", 1)[0].strip("/").split("/")
    head, n = parts[0].lower(), len(parts)
    if head == "rng":
        return "rng"
    if head == "deletedkeys":
        if n == 1:
            return "deletedkeys/list"
        if n == 3 and parts[2].lower() == "recover":
            return "deletedkeys/recover"
        return {"DELETE": "deletedkeys/purge"}.get(method, "deletedkeys/get")
    if head != "keys":
        return "unknown"
    if n == 1:
        return "keys/list"
    tail = parts[-1].lower()
    if n == 2 and parts[1].lower() == "restore" and method == "POST":
        return "keys/restore"
    if n == 3 and tail in ("create", "rotate", "backup", "versions"):
        return f"keys/{tail}"
    if n == 3 and tail == "rotationpolicy":
        return "keys/rotationpolicy/update" if method == "PUT" else "keys/rotationpolicy/get"
    if n == 4:
        return f"keys/{tail}"
    return {"PUT": "keys/import", "DELETE": "keys/delete", "PATCH": "keys/update"}.get(method, "keys/get")

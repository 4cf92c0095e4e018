"""A real SoftHSM2 token (Debian's ``softhsm2``) in a private directory, for the ``pkcs11`` backend.

SoftHSM2 reads ``SOFTHSM2_CONF`` once, at ``C_Initialize``, and a process loads a PKCS#11 module
once. So the token lives per *process* (one per xdist worker): the first :func:`process_token`
call makes a temporary directory with its own ``softhsm2.conf`` and token directory, initialises one
token there with ``softhsm2-util`` (random user and SO PINs, made for this run), and removes the
directory when the process exits. Backend instances in one process share that token and stay apart
because every key gets a fresh random ``CKA_ID``. Nothing here loads the module: clients do, with
``SOFTHSM2_CONF`` from the backend's environment.
"""

from __future__ import annotations

import atexit
import os
import secrets
import shutil
import subprocess
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path

MODULE_ENV = "KMSCONFORM_SOFTHSM2_MODULE"
MODULE_CANDIDATES = (
    "/usr/lib/softhsm/libsofthsm2.so",
    "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
    "/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so",
    "/usr/local/lib/softhsm/libsofthsm2.so",
)
INIT_TIMEOUT_S = 30.0
CONF_TEMPLATE = """\
# written by pytest-kmsconform for one process; removed when it exits
directories.tokendir = {tokendir}/
objectstore.backend = file
log.level = ERROR
slots.removable = false
slots.mechanisms = ALL
library.reset_on_fork = false
"""


class SoftHsmUnavailable(RuntimeError):
    """SoftHSM2 cannot provide a token here (not installed, or token initialisation failed)."""


def find_module() -> Path | None:
    """``libsofthsm2.so``: ``$KMSCONFORM_SOFTHSM2_MODULE``, else where Debian and others install it."""
    configured = os.environ.get(MODULE_ENV)
    if configured:
        return Path(configured) if Path(configured).is_file() else None
    return next((Path(c) for c in MODULE_CANDIDATES if Path(c).is_file()), None)


def unavailable_reason() -> str | None:
    """``None`` when a token can be made here, else why not (a skip reason)."""
    if find_module() is None:
        where = os.environ.get(MODULE_ENV) or "/usr/lib/softhsm/libsofthsm2.so"
        return f"SoftHSM2 is not installed ({where} missing): apt-get install softhsm2 (see .ci/install-softhsm.sh)"
    if shutil.which("softhsm2-util") is None:
        return "softhsm2-util is not on PATH: apt-get install softhsm2 (see .ci/install-softhsm.sh)"
    try:
        import pkcs11  # noqa: F401
    except ImportError as exc:
        return f"python-pkcs11 is not installed (the 'pkcs11' extra): {exc}"
    return None


@dataclass(frozen=True)
class SoftHsmToken:
    """One initialised token: reach it with ``SOFTHSM2_CONF=conf`` and the module at ``module``."""

    module: Path
    conf: Path
    directory: Path
    label: str
    pin: str = field(repr=False)
    so_pin: str = field(repr=False)
    version: str = "SoftHSM2"


def _version() -> str:
    try:
        done = subprocess.run(["softhsm2-util", "--version"], capture_output=True, text=True, timeout=10, check=False)
    except OSError:
        return "SoftHSM2"
    return f"SoftHSM2 {done.stdout.strip()}" if done.returncode == 0 and done.stdout.strip() else "SoftHSM2"


def _default_base() -> Path | None:
    """``/dev/shm`` when writable: SoftHSM2's file store writes every token object to disk, which
    costs about 150 ms per key on a disk and 4 ms in memory. Else the temp directory."""
    shm = Path("/dev/shm")
    return shm if shm.is_dir() and os.access(shm, os.W_OK) else None


def create_token(base: Path | None = None, *, label: str | None = None) -> SoftHsmToken:
    """Make a token directory (under ``base``, by default :func:`_default_base`) with its own
    ``softhsm2.conf`` and one initialised token; the caller removes ``directory``. Raises
    :class:`SoftHsmUnavailable`."""
    reason = unavailable_reason()
    if reason is not None:
        raise SoftHsmUnavailable(reason)
    module = find_module()
    assert module is not None
    directory = Path(tempfile.mkdtemp(prefix="kmsconform-softhsm-", dir=base or _default_base()))
    tokens = directory / "tokens"
    tokens.mkdir()
    conf = directory / "softhsm2.conf"
    conf.write_text(CONF_TEMPLATE.format(tokendir=tokens))
    token_label = label or f"kmsconform-{os.getpid()}"
    pin, so_pin = secrets.token_hex(8), secrets.token_hex(8)
    argv = ["softhsm2-util", "--init-token", "--free", "--label", token_label, "--so-pin", so_pin, "--pin", pin]
    env = {**os.environ, "SOFTHSM2_CONF": str(conf)}
    try:
        done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=INIT_TIMEOUT_S, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        shutil.rmtree(directory, ignore_errors=True)
        raise SoftHsmUnavailable(f"softhsm2-util --init-token failed: {exc}") from None
    if done.returncode != 0:
        shutil.rmtree(directory, ignore_errors=True)
        # the PINs are in argv, never in this message
        raise SoftHsmUnavailable(f"softhsm2-util --init-token exited {done.returncode}: {done.stderr.strip()}")
    return SoftHsmToken(module, conf, directory, token_label, pin, so_pin, _version())


_lock = threading.Lock()
_token: SoftHsmToken | None = None


def process_token() -> SoftHsmToken:
    """This process's token, made on first use and removed at exit (see the module docstring)."""
    global _token
    with _lock:
        if _token is None or not _token.conf.is_file():
            _token = create_token()
            atexit.register(shutil.rmtree, _token.directory, True)
        return _token

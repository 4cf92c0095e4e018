"""An archive sink in a directory, for tests of the archiver that do not need S3."""

from __future__ import annotations

from pathlib import Path
from typing import IO

from pytest_kmsconform.reference_impl.audit.archiver import ObjectExists, StoredObject


class DirectorySink:
    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)

    def uri(self, key: str) -> str:
        return f"file://{self.root / key}"

    def put_new(self, key: str, body: IO[bytes], *, size: int, sha256: bytes, metadata: dict[str, str]) -> StoredObject:
        path = self.root / key
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            with open(path, "xb") as fh:
                fh.write(body.read())
        except FileExistsError:
            raise ObjectExists(f"{self.uri(key)} exists") from None
        return StoredObject(self.uri(key), None)

    def open(self, key: str) -> IO[bytes]:
        return open(self.root / key, "rb")

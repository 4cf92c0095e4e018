"""Style rule 1: model <- wire/responses <- transport. Imports point inward only."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import pytest_kmsconform.emulators.signing_proxy as package

PACKAGE = Path(package.__file__).parent
# module -> sibling modules it must not import
FORBIDDEN = {
    "models": {"wire", "responses", "server", "provider", "signers", "__main__"},
    "wire": {"models", "responses", "server", "provider", "signers", "__main__"},
    "responses": {"server", "provider", "signers", "__main__"},
    "server": {"models", "provider", "signers", "__main__"},
    "errors": {"models", "wire", "responses", "server", "provider", "signers", "__main__"},
}


def sibling_imports(module: str) -> set[str]:
    tree = ast.parse((PACKAGE / f"{module}.py").read_text())
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            name = node.module or ""
            if node.level == 1 and name:
                found.add(name.split(".")[0])
            elif node.level == 1:
                found.update(alias.name for alias in node.names)
            elif name.startswith("pytest_kmsconform.emulators.signing_proxy."):
                found.add(name.split(".")[3])
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("pytest_kmsconform.emulators.signing_proxy."):
                    found.add(alias.name.split(".")[3])
    return found


@pytest.mark.parametrize("module", sorted(FORBIDDEN))
def test_imports_point_inward(module: str) -> None:
    assert not sibling_imports(module) & FORBIDDEN[module]


def test_the_transport_is_the_only_socket_user() -> None:
    for module in ("models", "wire", "responses"):
        assert not {"socket", "ssl", "http", "socketserver"} & {
            alias.name.split(".")[0]
            for node in ast.walk(ast.parse((PACKAGE / f"{module}.py").read_text()))
            if isinstance(node, ast.Import | ast.ImportFrom)
            for alias in (node.names if isinstance(node, ast.Import) else [ast.alias(node.module or "")])
        }, module

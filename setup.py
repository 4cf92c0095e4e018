"""Maps the four source folders onto one import namespace, ``pytest_kmsconform``.

``emulators/``, ``reference_impl/`` and ``suites/`` install as subpackages of
``pytest_kmsconform``; this file only computes the package list, the rest is in pyproject.toml.
"""

from setuptools import find_packages, setup

ROOTS = {
    "pytest_kmsconform": "pytest_kmsconform",
    "pytest_kmsconform.emulators": "emulators",
    "pytest_kmsconform.reference_impl": "reference_impl",
    "pytest_kmsconform.suites": "suites",
}

packages = []
for package, folder in ROOTS.items():
    packages.append(package)
    packages.extend(f"{package}.{sub}" for sub in find_packages(folder))

setup(packages=packages, package_dir=ROOTS)

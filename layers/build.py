"""Build the Lambda dependency layer without Docker: ``python layers/build.py [--arch arm64|x86_64] [--force]``.

``--pins`` prints the layer's pins instead.

The layer's pins come from ``uv.lock``, the lock the development environment and the tests are installed
from (:func:`layer_pins`): the closure of ``[project.dependencies]`` for the Lambda runtime's Python on the
target architecture, less :data:`NOT_NEEDED`. pip downloads those manylinux wheels, checked against the
lock's hashes, for the Lambda runtime (``--platform``, ``--only-binary=:all:``) into
``layers/build/deps/python`` (``--no-compile``). The ELMO XSDs (``../shared/elmo``) go to
``layers/build/deps/emrex-xsd`` (``/opt/emrex-xsd`` in Lambda) when present.

The layer carries its own pinned AWS SDK (boto3, botocore, ...) with botocore's data trimmed to the services
and operations the functions use (:data:`SDK_OPERATIONS`, :func:`trim_sdk_data`): the runtime's SDK changes
version under us and makes every cold start list and parse the data of all AWS services.

Size and cold start (docs/PERFORMANCE.md): the build drops what the functions never import (lxml's
C headers and Cython sources, lxml extension modules besides ``etree``/``_elementpath``, Powertools
sub-packages other than logging/metrics and what they import), strips the shared objects when a
``strip`` for the target architecture is installed (``binutils-aarch64-linux-gnu`` on x86_64 hosts), and
precompiles the Python files to ``unchecked-hash`` bytecode when a ``python3.13`` is on PATH (Lambda's
``/opt`` is read-only, so without it every cold start compiles Powertools, signxml, ... again). Which of
the two optional steps ran is part of the fingerprint and printed by the build.

A stamp (``layers/build/stamp.json``) records the fingerprint of the inputs: the layer's pins, the target
platform and the XSD files. The build is skipped while the stamp matches, and the CDK stack uses the same
fingerprint as the layer's asset hash, so a new layer version is deployed only when an input changes (a new
version of a dev tool in ``uv.lock`` is not an input).
"""

from __future__ import annotations

import argparse
import fcntl
import gzip
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from packaging.markers import Marker

LAYERS_DIR = Path(__file__).resolve().parent
LOCK = LAYERS_DIR.parent / "uv.lock"
BUILD_DIR = LAYERS_DIR / "build"
XSD_SOURCE = LAYERS_DIR.parent.parent / "shared" / "elmo"
XSD_ENTRIES = (
    "offline-import-map.json",
    "elmo-schemas/v1.7.0",
    "elmo-schemas/v1.3.0",
    "elmo-schemas/v2-namespace-65e55f6",
    "elmo-schemas/v2.1.1/schema.xsd",  # its references/ are copies of elmo-schemas/references (the suffix rules)
    "elmo-schemas/references",
    "w3c",
    "ewp/ewp-specs-types-address",
    "ewp/ewp-specs-architecture",
)
"""What ``core/elmo/conformance.py`` validates with: the schemas of ``SCHEMA_FILES`` and ``LATER_SCHEMA_FILES`` and
what they import (tests/infra/test_layer.py compares its verdicts on the layer's copy with those on the whole
folder)."""
XSD_LAYER_DIR = "emrex-xsd"
"""Folder name inside the layer; Lambda mounts layers at /opt, so EMREX_XSD_DIR=/opt/emrex-xsd."""

PYTHON_VERSION = "3.13"
PLATFORMS: dict[str, tuple[str, ...]] = {
    "arm64": ("manylinux2014_aarch64", "manylinux_2_28_aarch64"),
    "x86_64": ("manylinux2014_x86_64", "manylinux_2_28_x86_64"),
}
MACHINES = {"arm64": "aarch64", "x86_64": "x86_64"}
"""``platform_machine`` of the Lambda runtime on each architecture (for the environment markers in uv.lock)."""
SDK_PACKAGES = frozenset({"boto3", "botocore", "s3transfer", "jmespath", "urllib3", "python-dateutil", "six"})
"""The AWS SDK. The Lambda runtime ships one too, but of a version AWS changes underneath us and with the
data of all ~440 services; the layer pins ours (the version the tests run) and trims it (:func:`trim_sdk_data`)."""
SDK_OPERATIONS: dict[str, frozenset[str]] = {
    "dynamodb": frozenset({"BatchGetItem", "GetItem", "PutItem", "Query", "TransactWriteItems", "UpdateItem"}),
    "events": frozenset({"PutEvents"}),
    "kms": frozenset({"GetPublicKey", "Sign"}),  # EMREX 2.0 client assertions (callback) and published keys
    # HeadBucket: botocore's region redirect; ListObjectVersions, DeleteObjects: erasure (admin_api)
    "s3": frozenset({"DeleteObjects", "GetObject", "HeadBucket", "HeadObject", "ListObjectVersions", "PutObject"}),
    # the rotation function: DescribeSecret, PutSecretValue, UpdateSecretVersionStage
    "secretsmanager": frozenset({"DescribeSecret", "GetSecretValue", "PutSecretValue", "UpdateSecretVersionStage"}),
}
"""The services the deployed functions create clients for, and the operations they call. botocore keeps the
data of these services only, each model with these operations (plus any endpoint-discovery operation), every
modeled exception and the shapes they use. A client for another service fails with ``UnknownServiceError``,
another operation with ``AttributeError``: tests/infra/test_layer.py checks both lists against every
``client("...")`` and every operation-named method call in the function code."""
NOT_NEEDED: dict[str, str] = {
    "anyio": "httpx needs it only for async clients; with httpx.Client httpcore locks with threading",
    "pycparser": "only the cffi package imports it, and the layer drops that package (see UNUSED_PATHS)",
}
"""Declared dependencies of layer packages that are deliberately not installed, and why."""
SDK_DOC_KEYS = frozenset({"documentation", "documentationUrl"})
"""Service-model keys botocore reads only to build docstrings (about 80 % of each model's JSON)."""
RECIPE_VERSION = "4"
"""Bump when the build steps change in a way that changes the layer content."""

STRIP_TOOLS: dict[str, tuple[str, ...]] = {
    "arm64": ("aarch64-linux-gnu-strip",),
    "x86_64": ("x86_64-linux-gnu-strip",),
}
"""Binutils ``strip`` that understands the target's ELF files (host ``strip`` too when it is that arch)."""
HOST_ARCH = {"aarch64": "arm64", "arm64": "arm64", "x86_64": "x86_64", "amd64": "x86_64"}.get(
    os.uname().machine.lower(), ""
)
UNUSED_PATHS = (
    # lxml: the functions (and signxml) use lxml.etree only; etree loads _elementpath for find()/findall().
    "lxml/includes",
    "lxml/html",
    "lxml/isoschematron",
    "lxml/objectify.*",
    "lxml/sax.*",
    "lxml/builder.*",
    "lxml/*.pyx",
    "lxml/*.pxd",
    "lxml/*.pxi",
    "lxml/*.h",
    "lxml/lxml.etree*.h",
    "lxml/lxml.etree_api.h",
    # Powertools: Logger and Metrics; the package __init__ also imports Tracer (lazy X-Ray SDK) and the
    # Lambda context type. Everything else (event handler, parser, idempotency, ...) is never imported.
    "aws_lambda_powertools/event_handler",
    # lxml's pure-Python helpers nobody imports (and the source of _elementpath, which loads as a C module).
    "lxml/_elementpath.py",
    "lxml/cssselect.py",
    "lxml/doctestcompare.py",
    "lxml/usedoctest.py",
    "lxml/ElementInclude.py",
    # cffi's wheel brings the `_cffi_backend` extension cryptography loads, and the `cffi` package (a C
    # compiler front end for building bindings, with pycparser) that nothing imports at run time.
    "cffi",
    # The AWS SDK: botocore's own CA bundle is used only without certifi (the layer has certifi); the zone
    # database tarball of dateutil only by dateutil.zoneinfo; urllib3's emscripten backend only in Pyodide.
    "botocore/cacert.pem",
    "dateutil/zoneinfo/*.tar.gz",
    "urllib3/contrib/emscripten",
)
"""Glob patterns under site-packages removed from the layer (checked by tests/infra/test_layer.py, which
imports and runs every function handler on the trimmed layer)."""
KEEP_ONLY: dict[str, frozenset[str]] = {
    "aws_lambda_powertools/utilities": frozenset({"__init__.py", "jmespath_utils", "typing"}),
}
"""Folders of which only the named entries stay (the Logger imports jmespath_utils; typing is the context)."""

_TRIM_DIRS = frozenset({"__pycache__", "tests", "test"})
_TRIM_SUFFIXES = (".pyc", ".pyi")

Installer = Callable[[Path, Path, str], None]
"""(requirements file of hashed ``name==version`` pins, target site-packages dir, architecture) -> None."""


class LayerBuildError(RuntimeError):
    """The requirements or the build environment cannot produce a valid layer."""


@dataclass(frozen=True)
class LayerBuild:
    deps_dir: Path
    """The layer root: ``python/`` (site-packages) and, if available, ``emrex-xsd/``."""
    fingerprint: str
    unzipped_bytes: int
    has_xsd: bool
    rebuilt: bool
    stripped: bool = False
    """True when the shared objects were stripped (needs a strip for the target architecture)."""
    precompiled: bool = False
    """True when the layer carries python3.13 bytecode."""


def canonical_name(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


@dataclass(frozen=True)
class Pin:
    """One package of the layer: its version in ``uv.lock`` and the hashes of its wheels there."""

    version: str
    hashes: tuple[str, ...]


def lambda_environment(arch: str) -> dict[str, str]:
    """The values of the PEP 508 environment markers in the Lambda runtime (python3.13, Linux) on ``arch``."""
    if arch not in PLATFORMS:
        raise LayerBuildError(f"unknown architecture {arch!r}; expected one of {sorted(PLATFORMS)}")
    version = f"{PYTHON_VERSION}.0"
    return {
        "python_version": PYTHON_VERSION,
        "python_full_version": version,
        "implementation_name": "cpython",
        "implementation_version": version,
        "platform_python_implementation": "CPython",
        "os_name": "posix",
        "sys_platform": "linux",
        "platform_system": "Linux",
        "platform_machine": MACHINES[arch],
        "platform_release": "",
        "platform_version": "",
        "extra": "",
    }


def layer_pins(arch: str = "arm64", lock: Path = LOCK) -> dict[str, Pin]:
    """``{canonical name: Pin}``: what ``[project.dependencies]`` needs in Lambda on ``arch``, as ``uv.lock`` pins it.

    Walks the lock from the project's runtime dependencies (no extras: no dev tools), following every
    dependency whose marker holds in :func:`lambda_environment` and the extras it asks for, except
    :data:`NOT_NEEDED`. The lock is universal (every Python >= 3.11, every platform), so the same file pins
    the x86_64 development environment and this aarch64 python3.13 layer.
    """
    environment = lambda_environment(arch)
    try:
        locked = tomllib.loads(lock.read_text(encoding="utf-8")).get("package", [])
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise LayerBuildError(f"cannot read {lock.name}: {exc}") from exc
    by_name: dict[str, list[dict[str, Any]]] = {}
    for package in locked:
        by_name.setdefault(package["name"], []).append(package)
    projects = [package for package in locked if package.get("source", {}).get("editable") == "."]
    if len(projects) != 1:
        raise LayerBuildError(f"{lock.name} has no entry for the project (source editable '.'); run `make lock`")
    pins: dict[str, Pin] = {}
    followed: set[tuple[str, str]] = set()
    pending = list(projects[0].get("dependencies", []))
    while pending:
        dependency = pending.pop()
        name = dependency["name"]
        marker = dependency.get("marker")
        if name in NOT_NEEDED or (marker and not Marker(marker).evaluate(environment)):
            continue
        package = _locked_package(by_name, dependency, lock.name)
        wheels = tuple(wheel["hash"] for wheel in package.get("wheels", []))
        if not wheels:
            raise LayerBuildError(f"{lock.name}: {name} {package['version']} has no wheel (the layer needs wheels)")
        pins[name] = Pin(package["version"], wheels)
        for extra in ("", *dependency.get("extra", [])):
            if (name, extra) in followed:
                continue
            followed.add((name, extra))
            optional = package.get("optional-dependencies", {})
            pending += optional.get(extra, []) if extra else package.get("dependencies", [])
    return pins


def _locked_package(by_name: dict[str, list[dict[str, Any]]], dependency: dict[str, Any], lock_name: str) -> Any:
    """The lock entry a dependency means: by name, and by version and source where the lock has several."""
    name = dependency["name"]
    matches = [
        package
        for package in by_name.get(name, [])
        if all(package.get(key) == dependency[key] for key in ("version", "source") if key in dependency)
    ]
    if len(matches) != 1:
        raise LayerBuildError(f"{lock_name}: {len(matches)} entries match the dependency on {name}; run `make lock`")
    return matches[0]


def requirements_text(pins: Mapping[str, Pin]) -> str:
    """A pip requirements file: one exact pin per line with the lock's hashes (pip checks every wheel)."""
    lines = (f"{name}=={pin.version}" + "".join(f" --hash={h}" for h in pin.hashes) for name, pin in pins.items())
    return "".join(line + "\n" for line in sorted(lines))


def _xsd_files(xsd_source: Path) -> Iterator[Path]:
    for entry in XSD_ENTRIES:
        path = xsd_source / entry
        if path.is_file():
            yield path
        elif path.is_dir():
            yield from sorted(p for p in path.rglob("*") if p.is_file())


def has_xsd_source(xsd_source: Path) -> bool:
    return (xsd_source / XSD_ENTRIES[0]).is_file()


def fingerprint(arch: str, lock: Path = LOCK, xsd_source: Path = XSD_SOURCE, tools: Tools | None = None) -> str:
    """SHA-256 over every input of the layer content (and nothing else; ``tools`` default: none)."""
    pins = layer_pins(arch, lock)
    digest = hashlib.sha256()
    header: dict[str, object] = {"recipe": RECIPE_VERSION, "python": PYTHON_VERSION, "platforms": PLATFORMS[arch]}
    header["sdk"] = {service: sorted(kept) for service, kept in SDK_OPERATIONS.items()}
    header |= (tools or NO_TOOLS).to_json()
    digest.update(json.dumps(header, sort_keys=True).encode())
    for name, pin in sorted(pins.items()):
        digest.update(f"\npin {name}=={pin.version}".encode())
    if has_xsd_source(xsd_source):
        for path in _xsd_files(xsd_source):
            digest.update(f"\nxsd {path.relative_to(xsd_source).as_posix()} ".encode())
            digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def pip_install(requirements: Path, target: Path, arch: str) -> None:
    """Download and unpack the pinned wheels for the Lambda platform (no sdists, no dependency resolution)."""
    command = [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--require-hashes"]
    command += ["--no-deps", "--no-compile", "--only-binary=:all:", "--implementation", "cp"]
    command += ["--python-version", PYTHON_VERSION]
    for platform in PLATFORMS[arch]:
        command += ["--platform", platform]
    command += ["--target", str(target), "-r", str(requirements)]
    result = subprocess.run(command, check=False)
    if result.returncode != 0:
        raise LayerBuildError(f"pip install failed with exit code {result.returncode}: {' '.join(command)}")


def trim(site_dir: Path) -> None:
    """Drop what Lambda never uses: bytecode, stubs, test folders, console scripts, install metadata paths."""
    shutil.rmtree(site_dir / "bin", ignore_errors=True)
    for path in sorted(site_dir.rglob("*"), reverse=True):
        if path.is_dir() and path.name in _TRIM_DIRS:
            shutil.rmtree(path)
        elif path.is_file() and (path.suffix in _TRIM_SUFFIXES or path.name == "direct_url.json"):
            path.unlink()


def drop_unused(site_dir: Path) -> int:
    """Remove :data:`UNUSED_PATHS`; returns the bytes removed."""
    doomed = [path for pattern in UNUSED_PATHS for path in site_dir.glob(pattern)]
    for folder, kept in KEEP_ONLY.items():
        if (site_dir / folder).is_dir():
            doomed += [path for path in (site_dir / folder).iterdir() if path.name not in kept]
    removed = 0
    for path in sorted(set(doomed)):
        if path.is_dir():
            removed += tree_size(path)
            shutil.rmtree(path)
        elif path.exists():
            removed += path.stat().st_size
            path.unlink()
    return removed


def trim_sdk_data(site_dir: Path, operations: dict[str, frozenset[str]] = SDK_OPERATIONS) -> int:
    """Keep boto3's and botocore's data for the services and operations we call only; returns the bytes removed.

    At a cold start botocore lists every service folder (twice: models and endpoint rules), parses the 1.3 MB
    ``endpoints.json`` and each client's whole model, documentation included. With the data of our four
    services, only the latest API version, the operations we call and no documentation, the clients cost a
    fraction (docs/PERFORMANCE.md). What botocore evaluates for our calls is unchanged: a kept operation keeps
    every shape it uses, ``endpoints.json`` keeps every partition and region with the kept services' entries.
    ``examples-1.json`` (docs only) goes. A no-op when botocore is not installed.
    """
    before = tree_size(site_dir)
    for data_dir in (site_dir / "botocore" / "data", site_dir / "boto3" / "data"):
        if data_dir.is_dir():
            for entry in data_dir.iterdir():
                if entry.is_dir() and entry.name not in operations:
                    shutil.rmtree(entry)
    botocore_data = site_dir / "botocore" / "data"
    for service, kept in operations.items():
        versions = sorted(path for path in (botocore_data / service).glob("*") if path.is_dir())
        for older in versions[:-1]:  # botocore loads the latest API version
            shutil.rmtree(older)
        for example in (botocore_data / service).glob("*/examples-1.json"):
            example.unlink()
        for model in (botocore_data / service).glob("*/service-2.json*"):
            _rewrite_json(model, lambda data, kept=kept: _without_docs(_with_operations(data, kept)))
    endpoints = botocore_data / "endpoints.json"
    if endpoints.is_file():
        _rewrite_json(endpoints, lambda data: _endpoints_for(data, tuple(operations)))
    return before - tree_size(site_dir)


def _rewrite_json(path: Path, change: Callable[[Any], Any]) -> None:
    compressed = path.suffix == ".gz"
    raw = path.read_bytes()
    data = json.loads(gzip.decompress(raw) if compressed else raw)
    text = json.dumps(change(data), separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    path.write_bytes(gzip.compress(text, mtime=0) if compressed else text)


def _without_docs(node: Any) -> Any:
    """The model without documentation strings (a member that happens to be *named* documentation is a dict: kept)."""
    if isinstance(node, dict):
        return {k: _without_docs(v) for k, v in node.items() if not (k in SDK_DOC_KEYS and isinstance(v, str))}
    if isinstance(node, list):
        return [_without_docs(item) for item in node]
    return node


def _with_operations(model: Any, kept: frozenset[str]) -> Any:
    """The model with the ``kept`` operations (and endpoint discovery's), all exceptions and the shapes they use."""
    operations = {
        name: operation
        for name, operation in model.get("operations", {}).items()
        if name in kept or operation.get("endpointoperation")
    }
    shapes = model.get("shapes", {})
    pending = [name for name, shape in shapes.items() if shape.get("exception")]
    for operation in operations.values():
        pending += [operation[key]["shape"] for key in ("input", "output") if key in operation]
        pending += [error["shape"] for error in operation.get("errors", [])]
    used: set[str] = set()
    while pending:
        name = pending.pop()
        if name in used:
            continue
        used.add(name)
        shape = shapes[name]
        pending += [member["shape"] for member in shape.get("members", {}).values()]
        pending += [shape[key]["shape"] for key in ("member", "key", "value") if key in shape]
    return {**model, "operations": operations, "shapes": {name: s for name, s in shapes.items() if name in used}}


def _endpoints_for(data: Any, services: tuple[str, ...]) -> Any:
    for partition in data.get("partitions", []):
        partition["services"] = {name: v for name, v in partition.get("services", {}).items() if name in services}
    return data


def find_strip(arch: str) -> str | None:
    """A ``strip`` able to rewrite the target's shared objects, or None (the layer is then not stripped)."""
    candidates = STRIP_TOOLS[arch] + (("strip",) if arch == HOST_ARCH else ())
    for name in candidates:
        found = shutil.which(name)
        if found:
            return found
    return None


def strip_shared_objects(site_dir: Path, strip: str) -> int:
    """``strip --strip-unneeded`` every ``*.so`` (symbols only; code and dynamic symbols stay); bytes saved."""
    saved = 0
    for path in sorted(site_dir.rglob("*.so")):
        before = path.stat().st_size
        result = subprocess.run([strip, "--strip-unneeded", str(path)], capture_output=True, check=False)
        if result.returncode != 0:
            raise LayerBuildError(f"{strip} failed on {path.name}: {result.stderr.decode(errors='replace')[-300:]}")
        saved += before - path.stat().st_size
    return saved


def find_target_python() -> str | None:
    """An interpreter of the Lambda runtime's version (``$LAYER_PYTHON``, PATH, pyenv), for bytecode Lambda loads."""
    pyenv_root = Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv")
    candidates = [os.environ.get("LAYER_PYTHON", ""), shutil.which(f"python{PYTHON_VERSION}") or ""]
    candidates += [
        str(path) for path in sorted(pyenv_root.glob(f"versions/{PYTHON_VERSION}*/bin/python{PYTHON_VERSION}"))
    ]
    for candidate in filter(None, candidates):
        if _python_version(candidate) == PYTHON_VERSION:
            return candidate
    return None


def _python_version(python: str) -> str:
    result = subprocess.run(
        [python, "-c", "import sys; print(f'{sys.version_info[0]}.{sys.version_info[1]}')"],
        capture_output=True,
        text=True,
        check=False,
    )
    return result.stdout.strip() if result.returncode == 0 else ""


def precompile(
    site_dir: Path, python: str, *, strip_prefix: Path | None = None, prepend_prefix: str | None = None
) -> None:
    """Bytecode next to the sources, valid without mtime checks (the code is immutable once deployed).

    ``strip_prefix``/``prepend_prefix`` rewrite the file names recorded in the bytecode (e.g. to ``/var/task``).
    """
    command = [python, "-m", "compileall", "-q", "-j", "0", "--invalidation-mode", "unchecked-hash"]
    if strip_prefix is not None and prepend_prefix is not None:
        command += ["-s", str(strip_prefix), "-p", prepend_prefix]
    command.append(str(site_dir))
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise LayerBuildError(f"compileall failed: {(result.stdout + result.stderr)[-500:]}")


@dataclass(frozen=True)
class Tools:
    """The optional build steps this machine can run (they change the content, so they are inputs)."""

    strip: str | None
    python: str | None

    @classmethod
    def detect(cls, arch: str) -> Tools:
        return cls(strip=find_strip(arch), python=find_target_python())

    def to_json(self) -> dict[str, bool]:
        return {"stripped": self.strip is not None, "precompiled": self.python is not None}


NO_TOOLS = Tools(strip=None, python=None)


def installed_names(site_dir: Path) -> set[str]:
    names = set()
    for info in site_dir.glob("*.dist-info"):
        name = info.name.removesuffix(".dist-info").rsplit("-", 1)[0]
        names.add(canonical_name(name))
    return names


def strip_xsd_annotations(folder: Path) -> int:
    """Remove the ``xs:annotation`` elements (documentation, 80 % of the bytes) from every XSD under ``folder``.

    Annotations never change what a schema accepts, nor libxml2's messages; the conformance verdicts on the
    layer's copy equal those on the original files (tests/infra/test_layer.py). Returns the bytes saved.
    """
    from lxml import etree

    saved = 0
    for path in sorted(folder.rglob("*.xsd")):
        original = path.read_bytes()
        root = etree.fromstring(original, etree.XMLParser(resolve_entities=False, no_network=True))
        for annotation in list(root.iter("{http://www.w3.org/2001/XMLSchema}annotation")):
            annotation.getparent().remove(annotation)  # type: ignore[union-attr]
        stripped = etree.tostring(root, xml_declaration=True, encoding="UTF-8")
        path.write_bytes(stripped)
        saved += len(original) - len(stripped)
    return saved


def tree_size(root: Path) -> int:
    return sum(path.stat().st_size for path in root.rglob("*") if path.is_file())


@contextmanager
def _locked(build_dir: Path) -> Iterator[None]:
    """Serialize concurrent builds (parallel test workers, a synth beside `make layer`)."""
    build_dir.mkdir(parents=True, exist_ok=True)
    with (build_dir / ".lock").open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _read_stamp(stamp: Path) -> dict[str, object]:
    try:
        data = json.loads(stamp.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def ensure_layer(
    arch: str = "arm64",
    *,
    build_dir: Path = BUILD_DIR,
    lock: Path = LOCK,
    xsd_source: Path = XSD_SOURCE,
    install: Installer = pip_install,
    force: bool = False,
    tools: Tools | None = None,
) -> LayerBuild:
    """Build ``build_dir/deps`` unless the stamp says it is already built from the same inputs.

    ``tools`` defaults to what this machine has (:meth:`Tools.detect`); pass :data:`NO_TOOLS` to skip
    stripping and bytecode.
    """
    tools = Tools.detect(arch) if tools is None else tools
    wanted = fingerprint(arch, lock, xsd_source, tools)
    deps_dir = build_dir / "deps"
    stamp_path = build_dir / "stamp.json"
    with _locked(build_dir):
        stamp = _read_stamp(stamp_path)
        if not force and stamp.get("fingerprint") == wanted and (deps_dir / "python").is_dir():
            return LayerBuild(
                deps_dir=deps_dir,
                fingerprint=wanted,
                unzipped_bytes=int(str(stamp.get("unzipped_bytes", 0))),
                has_xsd=bool(stamp.get("has_xsd")),
                rebuilt=False,
                stripped=bool(stamp.get("stripped")),
                precompiled=bool(stamp.get("precompiled")),
            )
        stamp_path.unlink(missing_ok=True)
        shutil.rmtree(deps_dir, ignore_errors=True)
        site_dir = deps_dir / "python"
        site_dir.mkdir(parents=True)
        requirements = build_dir / "requirements.txt"
        requirements.write_text(requirements_text(layer_pins(arch, lock)), encoding="utf-8")
        install(requirements, site_dir, arch)
        trim(site_dir)
        drop_unused(site_dir)
        trim_sdk_data(site_dir)
        if tools.strip:
            strip_shared_objects(site_dir, tools.strip)
        has_xsd = has_xsd_source(xsd_source)
        if has_xsd:
            for entry in XSD_ENTRIES:
                source = xsd_source / entry
                if source.is_dir():
                    shutil.copytree(source, deps_dir / XSD_LAYER_DIR / entry)
                elif source.is_file():
                    (deps_dir / XSD_LAYER_DIR / entry).parent.mkdir(parents=True, exist_ok=True)
                    shutil.copy2(source, deps_dir / XSD_LAYER_DIR / entry)
            strip_xsd_annotations(deps_dir / XSD_LAYER_DIR)
        if tools.python:
            precompile(site_dir, tools.python)
        size = tree_size(deps_dir)
        record = {"fingerprint": wanted, "arch": arch, "unzipped_bytes": size, "has_xsd": has_xsd, **tools.to_json()}
        partial = stamp_path.with_suffix(".tmp")
        partial.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
        os.replace(partial, stamp_path)
    return LayerBuild(
        deps_dir=deps_dir,
        fingerprint=wanted,
        unzipped_bytes=size,
        has_xsd=has_xsd,
        rebuilt=True,
        **tools.to_json(),
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--arch", choices=sorted(PLATFORMS), default="arm64")
    parser.add_argument("--force", action="store_true", help="rebuild even if the stamp matches")
    parser.add_argument("--pins", action="store_true", help="print the layer's pins (from uv.lock) and exit")
    args = parser.parse_args(argv)
    try:
        if args.pins:
            print("".join(f"{name}=={pin.version}\n" for name, pin in sorted(layer_pins(args.arch).items())), end="")
            return 0
        build = ensure_layer(args.arch, force=args.force)
    except LayerBuildError as exc:
        print(f"layer build failed: {exc}", file=sys.stderr)
        return 1
    state = "built" if build.rebuilt else "up to date"
    xsd = "with ELMO XSDs" if build.has_xsd else "WITHOUT ELMO XSDs (../shared/elmo not found)"
    strip = "stripped" if build.stripped else f"NOT stripped (no {STRIP_TOOLS[args.arch][0]})"
    compiled = "precompiled" if build.precompiled else f"NOT precompiled (no python{PYTHON_VERSION}; set LAYER_PYTHON)"
    print(
        f"layer {state} ({args.arch}, python{PYTHON_VERSION}, {xsd}, {strip}, {compiled}): {build.deps_dir} "
        f"{build.unzipped_bytes / 1_000_000:.1f} MB unzipped (Lambda limit: 250 MB with the function code); "
        f"fingerprint {build.fingerprint[:12]}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

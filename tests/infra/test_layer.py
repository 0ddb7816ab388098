"""layers/: pins derived from uv.lock (the AWS SDK included), a stamped (idempotent) build, trimming, real builds.

The real-build checks import and run every function's code on the TRIMMED layer (an x86_64 build of the
same recipe, with the runtime's python3.13), so a removed file that something still needs fails here.
"""

from __future__ import annotations

import datetime as dt
import gzip
import hashlib
import importlib.metadata
import json
import os
import re
import stat
import subprocess
import sys
import textwrap
import tomllib
from email.parser import Parser
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from layers import build
from layers.build import NO_TOOLS, LayerBuildError, Tools, drop_unused, ensure_layer, fingerprint, layer_pins

pytestmark = [pytest.mark.infra, pytest.mark.xdist_group("infra")]

REPO = Path(__file__).resolve().parents[2]


def project_entry(dependencies: str, dev: str = "[]") -> str:
    """The head of a uv.lock: the project (editable) with its runtime dependencies and a dev extra."""
    return f"""version = 1
requires-python = ">=3.11"

[[package]]
name = "emrex-emc"
version = "0.1.0"
source = {{ editable = "." }}
dependencies = {dependencies}

[package.optional-dependencies]
dev = {dev}
"""


def locked(name: str, version: str, dependencies: str = "[]", *, wheels: bool = True, tail: str = "") -> str:
    """A registry package of a uv.lock (one wheel with a made-up hash); ``tail`` adds its optional-dependencies."""
    digest = hashlib.sha256(f"{name}=={version}".encode()).hexdigest()
    wheel = f'{{ url = "https://files.example/{name}-{version}-py3-none-any.whl", hash = "sha256:{digest}" }}'
    return f"""
[[package]]
name = "{name}"
version = "{version}"
source = {{ registry = "https://pypi.org/simple" }}
dependencies = {dependencies}
wheels = [{wheel if wheels else ""}]
{tail}"""


SMALL_LOCK = (
    project_entry('[{ name = "lxml" }, { name = "nh3" }]', dev='[{ name = "pytest" }]')
    + locked("lxml", "6.1.3")
    + locked("nh3", "0.3.8")
    + locked("pytest", "9.0.0")
)


def versions(pins: dict[str, build.Pin]) -> dict[str, str]:
    return {name: pin.version for name, pin in pins.items()}


class FakeInstaller:
    """Writes one package per pin instead of downloading wheels; counts calls."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, requirements: Path, target: Path, arch: str) -> None:
        self.calls += 1
        for line in requirements.read_text().splitlines():
            name, version = line.split()[0].split("==")
            module = target / name.replace("-", "_")
            module.mkdir()
            (module / "__init__.py").write_text(f"VERSION = {version!r}\n")
            (module / "__pycache__").mkdir()
            (module / "__pycache__" / "x.cpython-313.pyc").write_bytes(b"\0")
            (module / "tests").mkdir()
            (module / "tests" / "test_x.py").write_text("")
            (module / "stub.pyi").write_text("")
            (target / f"{name.replace('-', '_')}-{version}.dist-info").mkdir()
        (target / "bin").mkdir()
        (target / "bin" / "script").write_text("#!/abs/path/python\n")


@pytest.fixture
def inputs(tmp_path: Path) -> tuple[Path, Path]:
    lock = tmp_path / "uv.lock"
    lock.write_text(SMALL_LOCK)
    xsd = tmp_path / "elmo"
    (xsd / "elmo-schemas" / "v1.7.0").mkdir(parents=True)
    (xsd / "offline-import-map.json").write_text("{}")
    (xsd / "elmo-schemas" / "v1.7.0" / "schema.xsd").write_text(
        '<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema"><xs:annotation><xs:documentation>Long'
        '</xs:documentation></xs:annotation><xs:element name="elmo"><xs:annotation/></xs:element></xs:schema>'
    )
    return lock, xsd


def build_into(
    tmp_path: Path, inputs: tuple[Path, Path], installer: FakeInstaller, **kwargs: object
) -> build.LayerBuild:
    lock, xsd = inputs
    kwargs.setdefault("tools", NO_TOOLS)
    return ensure_layer("arm64", build_dir=tmp_path / "build", lock=lock, xsd_source=xsd, install=installer, **kwargs)  # type: ignore[arg-type]


# --- the layer's pins: uv.lock, the lock the tests are installed from ----------------------------------------


def test_layer_pins_are_the_locked_versions_the_tests_run() -> None:
    """The layer ships what the tests ran: scripts/setup.sh installs .venv from the same uv.lock."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    for arch in build.PLATFORMS:
        pins = versions(layer_pins(arch))
        assert set(pins) >= build.SDK_PACKAGES and not set(pins) & set(build.NOT_NEEDED)
        for dependency in map(Requirement, project["dependencies"]):
            name = build.canonical_name(dependency.name)
            assert name in pins and dependency.specifier.contains(pins[name]), f"{dependency} vs {pins.get(name)}"
        tested = {name: importlib.metadata.version(name) for name in pins}
        assert pins == tested, f"{arch}: the layer pins differ from what the tests run: run scripts/setup.sh"


def test_layer_pins_are_what_uv_exports_from_the_lock() -> None:
    """uv's own reading of uv.lock (the runtime closure, less NOT_NEEDED) agrees with layers/build.py's."""
    command = [str(REPO / "scripts" / "uv"), "export", "--frozen", "--no-dev", "--no-emit-project", "--no-hashes"]
    command += ["--no-header", "--no-annotate", "--format", "requirements.txt"]
    command += [arg for name in build.NOT_NEEDED for arg in ("--prune", name)]
    result = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr[-2000:]
    for arch in build.PLATFORMS:
        exported = {}
        for line in result.stdout.splitlines():
            requirement = Requirement(line)
            if requirement.marker is None or requirement.marker.evaluate(build.lambda_environment(arch)):
                (version,) = (spec.version for spec in requirement.specifier)
                exported[build.canonical_name(requirement.name)] = version
        assert versions(layer_pins(arch)) == exported, arch


def test_layer_pins_follow_markers_extras_and_versions_for_the_lambda_runtime(tmp_path: Path) -> None:
    lock = tmp_path / "uv.lock"
    project = """[
    { name = "lxml" },
    { name = "colorama", marker = "sys_platform == 'win32'" },
    { name = "old-backport", marker = "python_full_version < '3.12'" },
    { name = "gravitonly", marker = "platform_machine == 'aarch64'" },
    { name = "powertools", extra = ["tracer"] },
    { name = "httpx" },
]"""
    lock.write_text(
        project_entry(project, dev='[{ name = "pytest" }]')
        + locked("lxml", "6.1.3")
        + locked("colorama", "0.4.6")
        + locked("old-backport", "1.0")
        + locked("gravitonly", "2.0")
        + locked("powertools", "3.0", tail='[package.optional-dependencies]\ntracer = [{ name = "xray" }]\n')
        + locked("xray", "2.15")
        + locked("httpx", "0.29.0", '[{ name = "anyio" }, { name = "idna", version = "3.21" }]')
        + locked("anyio", "4.16.0", '[{ name = "sniffio" }]')
        + locked("sniffio", "1.3.1")
        + locked("idna", "3.20")
        + locked("idna", "3.21")
        + locked("pytest", "9.0.0")
    )
    arm = layer_pins("arm64", lock)
    assert versions(arm) == {"lxml": "6.1.3", "gravitonly": "2.0", "powertools": "3.0", "xray": "2.15",
                             "httpx": "0.29.0", "idna": "3.21"}  # fmt: skip
    assert set(layer_pins("x86_64", lock)) == set(arm) - {"gravitonly"}
    (wheel_hash,) = arm["lxml"].hashes
    assert wheel_hash == "sha256:" + hashlib.sha256(b"lxml==6.1.3").hexdigest()
    assert build.requirements_text(arm).splitlines()[3] == f"lxml==6.1.3 --hash={wheel_hash}"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (locked("lxml", "6.1.3"), "no entry for the project"),
        (project_entry('[{ name = "lxml" }]'), "0 entries match the dependency on lxml"),
        (project_entry('[{ name = "lxml" }]') + locked("lxml", "6.1.3") + locked("lxml", "6.2.0"), "2 entries"),
        (project_entry('[{ name = "lxml" }]') + locked("lxml", "6.1.3", wheels=False), "lxml 6.1.3 has no wheel"),
        ("version = 1\n[[package]\n", "cannot read uv.lock"),
    ],
)
def test_a_lock_the_layer_cannot_be_built_from_is_rejected(tmp_path: Path, content: str, message: str) -> None:
    lock = tmp_path / "uv.lock"
    lock.write_text(content)
    with pytest.raises(LayerBuildError, match=message):
        layer_pins("arm64", lock)


def test_a_missing_lock_is_reported(tmp_path: Path) -> None:
    with pytest.raises(LayerBuildError, match=r"cannot read missing\.lock"):
        layer_pins("arm64", tmp_path / "missing.lock")


def test_build_main_prints_the_pins(capsys: pytest.CaptureFixture[str]) -> None:
    assert build.main(["--pins", "--arch", "x86_64"]) == 0
    printed = capsys.readouterr().out.splitlines()
    assert printed == sorted(f"{name}=={pin.version}" for name, pin in layer_pins("x86_64").items())


# --- fingerprint ---------------------------------------------------------------------------------------------


def test_fingerprint_ignores_what_the_layer_does_not_contain(tmp_path: Path, inputs: tuple[Path, Path]) -> None:
    lock, xsd = inputs
    before = fingerprint("arm64", lock, xsd)
    lock.write_text(
        project_entry('[{ name = "nh3" }, { name = "lxml" }]', dev='[{ name = "pytest" }]')
        + locked("pytest", "9.1.0")  # a dev tool moved, and the order changed
        + locked("nh3", "0.3.8")
        + locked("lxml", "6.1.3")
    )
    assert fingerprint("arm64", lock, xsd) == before


def test_fingerprint_changes_with_every_real_input(tmp_path: Path, inputs: tuple[Path, Path]) -> None:
    lock, xsd = inputs
    seen = {fingerprint("arm64", lock, xsd), fingerprint("x86_64", lock, xsd)}
    (xsd / "elmo-schemas" / "v1.7.0" / "schema.xsd").write_text("<schema changed='1'/>")
    seen.add(fingerprint("arm64", lock, xsd))
    lock.write_text(SMALL_LOCK.replace('version = "6.1.3"', 'version = "6.1.4"'))
    seen.add(fingerprint("arm64", lock, xsd))
    seen.add(fingerprint("arm64", lock, tmp_path / "no-xsd-here"))
    assert len(seen) == 5


def test_fingerprint_rejects_an_unknown_architecture(inputs: tuple[Path, Path]) -> None:
    with pytest.raises(LayerBuildError, match="unknown architecture"):
        fingerprint("riscv64", *inputs)


# --- stamped build (fake pip) --------------------------------------------------------------------------------


def test_build_is_skipped_while_the_stamp_matches(tmp_path: Path, inputs: tuple[Path, Path]) -> None:
    installer = FakeInstaller()
    first = build_into(tmp_path, inputs, installer)
    second = build_into(tmp_path, inputs, installer)
    assert installer.calls == 1
    assert first.rebuilt and not second.rebuilt
    assert first.fingerprint == second.fingerprint
    assert second.unzipped_bytes == first.unzipped_bytes > 0
    installed = (tmp_path / "build" / "requirements.txt").read_text()
    assert installed == build.requirements_text(layer_pins("arm64", inputs[0]))  # what pip got: hashes included


def test_changed_pins_rebuild_from_scratch(tmp_path: Path, inputs: tuple[Path, Path]) -> None:
    installer = FakeInstaller()
    build_into(tmp_path, inputs, installer)
    inputs[0].write_text(project_entry('[{ name = "lxml" }]') + locked("lxml", "6.1.3") + locked("nh3", "0.3.8"))
    result = build_into(tmp_path, inputs, installer)
    assert installer.calls == 2 and result.rebuilt
    assert not (result.deps_dir / "python" / "nh3").exists()  # the old content is gone


def test_force_and_a_missing_stamp_rebuild(tmp_path: Path, inputs: tuple[Path, Path]) -> None:
    installer = FakeInstaller()
    build_into(tmp_path, inputs, installer)
    build_into(tmp_path, inputs, installer, force=True)
    (tmp_path / "build" / "stamp.json").unlink()  # e.g. an interrupted build
    build_into(tmp_path, inputs, installer)
    assert installer.calls == 3


def test_build_trims_and_copies_the_xsds(tmp_path: Path, inputs: tuple[Path, Path]) -> None:
    result = build_into(tmp_path, inputs, FakeInstaller())
    site = result.deps_dir / "python"
    assert (site / "lxml" / "__init__.py").is_file()
    assert not list(site.rglob("*.pyc")) and not list(site.rglob("__pycache__"))
    assert not list(site.rglob("tests")) and not list(site.rglob("*.pyi")) and not (site / "bin").exists()
    assert result.has_xsd
    assert (result.deps_dir / "emrex-xsd" / "offline-import-map.json").is_file()
    schema = (result.deps_dir / "emrex-xsd" / "elmo-schemas" / "v1.7.0" / "schema.xsd").read_text()
    assert "annotation" not in schema and "Long" not in schema  # documentation is 80 % of the XSDs' bytes
    assert '<xs:element name="elmo"/>' in schema


def test_build_without_xsd_source_says_so(tmp_path: Path, inputs: tuple[Path, Path]) -> None:
    result = build_into(tmp_path, (inputs[0], tmp_path / "missing"), FakeInstaller())
    assert not result.has_xsd and not (result.deps_dir / "emrex-xsd").exists()


# --- the real build (pip, manylinux wheels) ------------------------------------------------------------------


def test_real_build_is_a_loadable_lambda_layer(capsys: pytest.CaptureFixture[str]) -> None:
    """Builds layers/build/deps for real (reuses it while the stamp matches; first run needs PyPI)."""
    assert build.main([]) == 0
    assert "MB unzipped" in capsys.readouterr().out
    result = ensure_layer("arm64")
    assert not result.rebuilt  # main() just built or confirmed it: idempotent
    site = result.deps_dir / "python"
    installed = build.installed_names(site)
    assert set(layer_pins()) == installed
    assert installed >= build.SDK_PACKAGES and not installed & set(build.NOT_NEEDED)
    assert sorted(path.name for path in (site / "botocore" / "data").iterdir() if path.is_dir()) == sorted(
        build.SDK_OPERATIONS
    )
    assert not (site / "cffi").exists() and list(site.glob("_cffi_backend.*.so"))
    assert list((site / "lxml").glob("etree.cpython-313-aarch64-linux-gnu.so"))
    assert not (site / "lxml" / "includes").exists() and not list((site / "lxml").glob("objectify.*"))
    assert not (site / "aws_lambda_powertools" / "event_handler").exists()
    bytecode = list(site.rglob("*.pyc"))
    assert result.precompiled == bool(bytecode)
    assert all(path.name.endswith(".cpython-313.pyc") for path in bytecode)
    assert result.unzipped_bytes < 100_000_000
    assert result.has_xsd == build.has_xsd_source(build.XSD_SOURCE)
    # Every dependency a layer package declares is in the layer or provided by the runtime.
    environment = build.lambda_environment("arm64")
    for info in site.glob("*.dist-info"):
        metadata = Parser().parsestr((info / "METADATA").read_text(encoding="utf-8"))
        for line in metadata.get_all("Requires-Dist") or []:
            requirement = Requirement(line)
            if requirement.marker is not None and not requirement.marker.evaluate(environment):
                continue
            name = build.canonical_name(requirement.name)
            assert name in installed | set(build.NOT_NEEDED), f"{info.name} needs {name}"


# --- trimming, stripping, bytecode ----------------------------------------------------------------------------


def _touch(root: Path, *relative: str) -> None:
    for name in relative:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x" * 10)


def test_drop_unused_removes_what_no_function_imports_and_keeps_the_rest(tmp_path: Path) -> None:
    kept = (
        "lxml/__init__.py",
        "lxml/etree.cpython-313-aarch64-linux-gnu.so",
        "lxml/_elementpath.cpython-313-aarch64-linux-gnu.so",
        "aws_lambda_powertools/logging/logger.py",
        "aws_lambda_powertools/metrics/__init__.py",
        "aws_lambda_powertools/utilities/__init__.py",
        "aws_lambda_powertools/utilities/jmespath_utils/__init__.py",
        "aws_lambda_powertools/utilities/typing/lambda_context.py",
        "signxml/verifier.py",
        "_cffi_backend.cpython-313-aarch64-linux-gnu.so",
        "botocore/httpsession.py",
        "dateutil/zoneinfo/__init__.py",
        "urllib3/contrib/socks.py",
    )
    dropped = (
        "lxml/includes/libxml/tree.h",
        "lxml/html/diff.cpython-313-aarch64-linux-gnu.so",
        "lxml/isoschematron/__init__.py",
        "lxml/objectify.cpython-313-aarch64-linux-gnu.so",
        "lxml/sax.cpython-313-aarch64-linux-gnu.so",
        "lxml/builder.cpython-313-aarch64-linux-gnu.so",
        "lxml/etree.pyx",
        "lxml/etree.h",
        "lxml/lxml.etree_api.h",
        "aws_lambda_powertools/event_handler/api_gateway.py",
        "aws_lambda_powertools/utilities/parser/__init__.py",
        "aws_lambda_powertools/utilities/serialization.py",
        "lxml/_elementpath.py",
        "lxml/cssselect.py",
        "cffi/__init__.py",
        "botocore/cacert.pem",
        "dateutil/zoneinfo/dateutil-zoneinfo.tar.gz",
        "urllib3/contrib/emscripten/fetch.py",
    )
    _touch(tmp_path, *kept, *dropped)
    assert drop_unused(tmp_path) == 10 * len(dropped)
    assert [name for name in kept if not (tmp_path / name).exists()] == []
    assert [name for name in dropped if (tmp_path / name).exists()] == []
    assert drop_unused(tmp_path) == 0  # idempotent


def _write_json(path: Path, data: object, *, compressed: bool = False) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    raw = json.dumps(data).encode()
    path.write_bytes(gzip.compress(raw) if compressed else raw)


def test_trim_sdk_data_keeps_our_services_and_operations_without_documentation(tmp_path: Path) -> None:
    data = tmp_path / "botocore" / "data"
    string = {"type": "string"}
    model = {
        "documentation": "<p>DynamoDB is ...</p>",
        "operations": {
            "GetItem": {"input": {"shape": "GetIn"}, "errors": [{"shape": "Missing"}], "documentation": "<p>Gets</p>"},
            "Scan": {"input": {"shape": "ScanIn"}, "documentationUrl": "https://x"},
            "DescribeEndpoints": {"input": {"shape": "Empty"}, "endpointoperation": True},
        },
        "shapes": {
            "GetIn": {"type": "structure", "members": {"documentation": {"shape": "Keys"}}},
            "Keys": {"type": "map", "key": {"shape": "Name"}, "value": {"shape": "Values"}},
            "Values": {"type": "list", "member": {"shape": "Value"}},
            "Name": string, "Value": string, "Empty": {"type": "structure", "members": {}},
            "Missing": {"type": "structure", "members": {"Message": {"shape": "Text"}}, "exception": True},
            "Throttled": {"type": "structure", "members": {"Reason": {"shape": "Text"}}, "exception": True},
            "Text": string, "ScanIn": {"type": "structure", "members": {"Filter": {"shape": "Filter"}}},
            "Filter": string,
        },
    }  # fmt: skip
    _write_json(data / "dynamodb" / "2012-08-10" / "service-2.json.gz", model, compressed=True)
    _write_json(data / "dynamodb" / "2012-08-10" / "examples-1.json", {"examples": {}})
    _write_json(data / "dynamodb" / "2012-08-10" / "paginators-1.json", {"pagination": {"Query": {}}})
    _write_json(data / "dynamodb" / "2011-12-05" / "endpoint-rule-set-1.json.gz", {}, compressed=True)
    _write_json(data / "ec2" / "2016-11-15" / "service-2.json.gz", model, compressed=True)
    services = {"dynamodb": {"endpoints": {"eu-west-1": {}}}, "ec2": {"endpoints": {}}}
    partitions = [{"partition": "aws", "regions": {"eu-west-1": {}}, "services": services}, {"partition": "aws-cn"}]
    _write_json(data / "endpoints.json", {"partitions": partitions, "version": 3})
    _write_json(data / "_retry.json", {"retry": {}})
    _touch(tmp_path, "boto3/data/dynamodb/2012-08-10/resources-1.json", "boto3/data/ec2/2016-11-15/resources-1.json")

    assert build.trim_sdk_data(tmp_path, {"dynamodb": frozenset({"GetItem"})}) > 0

    assert sorted(p.name for p in data.iterdir()) == ["_retry.json", "dynamodb", "endpoints.json"]
    assert not (tmp_path / "boto3" / "data" / "ec2").exists()
    assert (tmp_path / "boto3" / "data" / "dynamodb" / "2012-08-10" / "resources-1.json").is_file()
    assert [p.name for p in (data / "dynamodb").iterdir()] == ["2012-08-10"]  # the latest API version only
    version = data / "dynamodb" / "2012-08-10"
    assert sorted(p.name for p in version.iterdir()) == ["paginators-1.json", "service-2.json.gz"]
    trimmed = json.loads(gzip.decompress((version / "service-2.json.gz").read_bytes()))
    assert "documentation" not in trimmed
    assert trimmed["operations"] == {
        "GetItem": {"input": {"shape": "GetIn"}, "errors": [{"shape": "Missing"}]},
        "DescribeEndpoints": {"input": {"shape": "Empty"}, "endpointoperation": True},
    }  # Scan goes; endpoint discovery's operation stays, so botocore behaves as before
    assert sorted(trimmed["shapes"]) == [
        "Empty",
        "GetIn",
        "Keys",
        "Missing",
        "Name",
        "Text",
        "Throttled",
        "Value",
        "Values",
    ]
    assert trimmed["shapes"]["GetIn"] == model["shapes"]["GetIn"]  # a member *named* documentation is data: kept
    endpoints = json.loads((data / "endpoints.json").read_text())
    assert endpoints["version"] == 3 and endpoints["partitions"][0]["regions"] == {"eu-west-1": {}}
    assert endpoints["partitions"][0]["services"] == {"dynamodb": {"endpoints": {"eu-west-1": {}}}}
    assert build.trim_sdk_data(tmp_path / "elsewhere") == 0  # no SDK installed: nothing to do


def _deployed_sources() -> list[str]:
    root = REPO / "functions"
    left_out = ("emrex_emc/local/", "emrex_emc/commands/", "emrex_emc/cli.py")
    return [
        path.read_text() for path in root.rglob("*.py") if not path.relative_to(root).as_posix().startswith(left_out)
    ]


def test_every_operation_the_functions_call_is_kept_in_the_layer_sdk() -> None:
    """A method call named like an operation of one of our services must find that operation in the layer."""
    import boto3
    from botocore import xform_name

    sources = _deployed_sources()
    called = {name for text in sources for name in re.findall(r"\.([a-z][a-z0-9_]*)\(", text)}
    called -= {
        name for text in sources for name in re.findall(r"\bdef ([a-z][a-z0-9_]*)\(", text)
    }  # ours (reader.scan)
    session = boto3.session.Session(region_name="eu-west-1")
    missing = []
    for service, kept in build.SDK_OPERATIONS.items():
        model = session._session.get_service_model(service)
        operations = {xform_name(name): name for name in model.operation_names}
        assert kept <= set(operations.values()), f"{service}: {sorted(kept - set(operations.values()))} do not exist"
        missing += [
            f"{service}.{operations[name]}" for name in called & set(operations) if operations[name] not in kept
        ]
    assert missing == []
    assert {"get_item", "put_object", "get_secret_value", "put_events"} <= called  # the scan finds real calls


def test_every_client_the_functions_create_is_in_the_layer_sdk() -> None:
    """A client for a service whose data the layer dropped would fail in Lambda with UnknownServiceError."""
    pattern = r"""\bclient\(["']([a-z0-9-]+)["']\)"""
    services = {name for text in _deployed_sources() for name in re.findall(pattern, text)}
    assert services and services <= set(build.SDK_OPERATIONS), sorted(services - set(build.SDK_OPERATIONS))


def _script(tmp_path: Path, name: str, body: str) -> str:
    path = tmp_path / name
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return str(path)


def test_build_strips_shared_objects_with_the_found_tool(tmp_path: Path, inputs: tuple[Path, Path]) -> None:
    log = tmp_path / "strip.log"
    strip = _script(tmp_path, "fake-strip", f'echo "$@" >> {log}\nprintf x > "$2"\n')

    def installer(requirements: Path, target: Path, arch: str) -> None:
        _touch(target, "pkg/native.so", "pkg/__init__.py")

    result = build_into(tmp_path, inputs, installer, tools=Tools(strip=strip, python=None))  # type: ignore[arg-type]
    assert result.stripped and not result.precompiled
    assert log.read_text().split() == ["--strip-unneeded", str(result.deps_dir / "python" / "pkg" / "native.so")]
    assert (result.deps_dir / "python" / "pkg" / "native.so").read_bytes() == b"x"
    assert json.loads((tmp_path / "build" / "stamp.json").read_text())["stripped"] is True


def test_a_failing_strip_fails_the_build(tmp_path: Path, inputs: tuple[Path, Path]) -> None:
    strip = _script(tmp_path, "broken-strip", "echo 'not an ELF file' >&2\nexit 1\n")

    def installer(requirements: Path, target: Path, arch: str) -> None:
        _touch(target, "pkg/native.so")

    with pytest.raises(LayerBuildError, match="not an ELF file"):
        build_into(tmp_path, inputs, installer, tools=Tools(strip=strip, python=None))  # type: ignore[arg-type]
    assert not (tmp_path / "build" / "stamp.json").exists()


def test_build_precompiles_with_the_target_python(tmp_path: Path, inputs: tuple[Path, Path]) -> None:
    tools = Tools(strip=None, python=sys.executable)  # stands in for python3.13: same compileall interface
    result = build_into(tmp_path, inputs, FakeInstaller(), tools=tools)
    assert result.precompiled and not result.stripped
    compiled = list((result.deps_dir / "python").rglob("*.pyc"))
    assert {path.parent.parent.name for path in compiled} == {"lxml", "nh3"}
    flags = int.from_bytes(compiled[0].read_bytes()[4:8], "little")
    assert flags == 0b01  # hash-based, unchecked: valid on a read-only /opt without source mtimes


def test_a_failing_compile_fails_the_build(tmp_path: Path, inputs: tuple[Path, Path]) -> None:
    python = _script(tmp_path, "broken-python", "echo 'SyntaxError somewhere'\nexit 1\n")
    with pytest.raises(LayerBuildError, match="SyntaxError somewhere"):
        build_into(tmp_path, inputs, FakeInstaller(), tools=Tools(strip=None, python=python))


def test_the_optional_steps_are_inputs_of_the_fingerprint(inputs: tuple[Path, Path]) -> None:
    variants = [NO_TOOLS, Tools("strip", None), Tools(None, "python3.13"), Tools("strip", "python3.13")]
    assert len({fingerprint("arm64", *inputs, tools=tools) for tools in variants}) == 4
    assert fingerprint("arm64", *inputs) == fingerprint("arm64", *inputs, tools=NO_TOOLS)
    assert fingerprint("arm64", *inputs, tools=Tools("/a/strip", None)) == fingerprint(
        "arm64", *inputs, tools=Tools("/b/strip", None)
    )  # which binary does not matter, only whether the step ran


# --- every function runs on the trimmed layer ----------------------------------------------------------------

FUNCTIONS = ("enrolment_api", "start_session", "callback", "outbox_relay", "registry_refresh", "secret_rotation")

_CHECK = """
import json, os, sys, datetime as dt, importlib, pkgutil
os.environ.update({"AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x", "AWS_DEFAULT_REGION": "eu-west-1",
    "AWS_ENDPOINT_URL": "http://127.0.0.1:9", "EMREX_TABLE_NAME": "t", "EMREX_BUCKET_NAME": "b",
    "EMREX_EVENT_BUS_NAME": "e", "EMREX_SECRET_NAME": "s", "POWERTOOLS_SERVICE_NAME": "check"})
import emrex_emc
skip = ("emrex_emc.local", "emrex_emc.commands", "emrex_emc.cli")  # excluded from the function asset
for info in pkgutil.walk_packages(emrex_emc.__path__, "emrex_emc."):
    if not info.name.startswith(skip):
        importlib.import_module(info.name)
handlers = {name: importlib.import_module(name + ".handler") for name in FUNCTIONS}
from emrex_emc.adapters import secrets
from emrex_emc.core.identity import ExpectedIdentity
from emrex_emc.core.pipeline import verify_elmo
from emrex_emc.core.policy import PipelinePolicy
bundle = secrets.parse_secret_bundle(
    json.dumps({"state_keys": {"k": "a2" * 22}, "state_key_id": "k", "api_token": "t" * 20}))
secrets.load_secret_bundle = lambda client, name: bundle
callback = handlers["callback"]
event = {"rawPath": "/callback", "rawQueryString": "state=forged", "queryStringParameters": {"state": "forged"},
         "headers": {"content-type": "application/x-www-form-urlencoded"}, "body": "returnCode=NCP_OK",
         "requestContext": {"http": {"method": "POST"}, "requestId": "r"}}
class Context:
    function_name, memory_limit_in_mb, invoked_function_arn, aws_request_id = "f", 128, "arn", "r"
refused = callback.handler(event, Context())
payload, cert = json.loads(sys.stdin.read())
expected = ExpectedIdentity(given_names="Kari", family_name="Nordmann", birth_date=dt.date(1998, 4, 3))
verified = verify_elmo(payload, [cert.encode()], PipelinePolicy(), expected=expected, xsd_dir=XSD_DIR)
verified.to_json()
from botocore.exceptions import UnknownServiceError
from emrex_emc.adapters.aws import client
clients = sorted(client(name).meta.service_model.service_name for name in SDK_OPERATIONS)
from botocore import xform_name
methods = all(callable(getattr(client(s), xform_name(op))) for s, ops in SDK_OPERATIONS.items() for op in ops)
pruned = not hasattr(client("dynamodb"), "create_table")
modeled = client("dynamodb").exceptions.ConditionalCheckFailedException.__name__
try:
    client("sqs")
    unknown = None
except UnknownServiceError:
    unknown = "sqs"
import http.server, threading, httpx  # the registry fetch's HTTP stack, without anyio
server = http.server.HTTPServer(("127.0.0.1", 0), http.server.SimpleHTTPRequestHandler)
threading.Thread(target=server.serve_forever, daemon=True).start()
with httpx.Client() as http:
    fetched = http.get(f"http://127.0.0.1:{server.server_port}/").status_code
server.shutdown()
import botocore.httpsession, certifi
top = sorted({name.split(".")[0] for name in sys.modules})
print(json.dumps({"callback_status": refused["statusCode"], "verdict": verified.identity.to_json()["verdict"],
                  "lxml": sorted(m for m in sys.modules if m.startswith("lxml.")), "top": top,
                  "clients": clients, "unknown": unknown, "fetched": fetched, "methods": methods,
                  "pruned": pruned, "modeled": modeled,
                  "ca_bundle": botocore.httpsession.where() == certifi.where()}))
"""


@pytest.fixture(scope="module")
def trimmed_x86_layer(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The same recipe for x86_64 (this machine), so python3.13 can load its extension modules."""
    python = build.find_target_python()
    if python is None:
        pytest.skip(f"no python{build.PYTHON_VERSION} to run the layer with (set LAYER_PYTHON)")
    root = tmp_path_factory.mktemp("x86-layer")
    return ensure_layer("x86_64", build_dir=root, tools=Tools(strip=None, python=None)).deps_dir


def test_every_function_imports_and_runs_on_the_trimmed_layer(trimmed_x86_layer: Path) -> None:
    from tests.functions.callback_helpers import emp_identity, ok_payload

    python = build.find_target_python()
    assert python is not None
    xsd_dir = trimmed_x86_layer / build.XSD_LAYER_DIR
    constants = {"FUNCTIONS": FUNCTIONS, "SDK_OPERATIONS": build.SDK_OPERATIONS}
    constants["XSD_DIR"] = str(xsd_dir) if xsd_dir.is_dir() else None
    script = "".join(f"{name} = {value!r}\n" for name, value in constants.items()) + _CHECK
    path = os.pathsep.join([str(REPO / "functions"), str(trimmed_x86_layer / "python")])
    stdin = json.dumps([ok_payload(courses=3), emp_identity().cert_pem.decode()])
    result = subprocess.run(
        [python, "-I", "-c", f"import sys; sys.path[:0] = {path.split(os.pathsep)!r}\n" + textwrap.dedent(script)],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["callback_status"] == 400  # forged state refused: logging, metrics and the error page ran
    assert report["verdict"] == "MATCH"  # lxml, signxml, cryptography and the reader ran
    assert "lxml._elementpath" in report["lxml"] and "lxml.objectify" not in report["lxml"]
    # the trimmed SDK: every client the functions create, nothing else; certifi's CA bundle
    assert report["clients"] == sorted(build.SDK_OPERATIONS) and report["unknown"] == "sqs"
    assert report["methods"] and report["pruned"] and report["modeled"] == "ConditionalCheckFailedException"
    assert report["ca_bundle"] and report["fetched"] == 200
    assert not {"anyio", "cffi", "pycparser"} & set(report["top"])


def test_the_layer_xsds_give_the_verdicts_of_the_whole_schema_folder(trimmed_x86_layer: Path) -> None:
    """XSD_ENTRIES ships only what conformance validates with: nothing it imports may be missing."""
    from emrex_emc.core.decode import decode_elmo_value
    from emrex_emc.core.elmo.conformance import check_conformance
    from emrex_emc.core.elmo.versions import detect_version
    from emrex_emc.core.errors import EmrexError
    from emrex_emc.core.policy import PipelinePolicy
    from emrex_emc.core.xmlsafe import parse_xml
    from emrex_emc.local.elmo_factory import ELMO_NAMESPACES, build_elmo, build_elmo_21
    from tests.core.conftest import SHARED_ELMO, VECTORS

    layer_xsd = trimmed_x86_layer / build.XSD_LAYER_DIR
    if not layer_xsd.is_dir():
        pytest.skip("no ../shared/elmo: the layer carries no XSDs")
    policy = PipelinePolicy()
    documents = [
        build_elmo(given_names="A", family_name="B", birth_date=dt.date(2000, 1, 2), namespace_version=version)
        for version in ELMO_NAMESPACES
    ]
    elmo_21 = build_elmo_21(given_names="A", family_name="B", birth_date=dt.date(2000, 1, 2))
    documents += [elmo_21, elmo_21.replace(b"<url>https://www.uoa.gr</url>", b"", 1)]  # fits, does not fit
    documents += [decode_elmo_value(path.read_bytes(), policy.decode) for path in sorted(VECTORS.glob("*/*.*"))
                  if path.suffix in {".xml", ".txt", ".b64"}]  # fmt: skip
    checked = set()
    for xml in documents:
        try:
            root = parse_xml(xml, policy.xml)
        except EmrexError:  # the Danish WebLogic vector: Latin-1 under a UTF-8 declaration
            root = parse_xml(xml, policy.xml, encoding="ISO-8859-1")
        try:
            version = detect_version(root)
        except EmrexError:  # the Finnish 2015 format: no XSD to compare
            continue
        on_layer = check_conformance(root, version, str(layer_xsd))
        assert on_layer == check_conformance(root, version, str(SHARED_ELMO)), version
        assert "XSD_UNAVAILABLE" not in {notice.code for notice in on_layer}
        checked.add(version)
    assert checked >= set(ELMO_NAMESPACES)

"""layers/: pinned requirements, boto3 left to the runtime, a stamped (idempotent) build, and one real build."""

from __future__ import annotations

import tomllib
from email.parser import Parser
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from layers import build
from layers.build import LayerBuildError, ensure_layer, fingerprint, read_pins

pytestmark = [pytest.mark.infra, pytest.mark.xdist_group("infra")]

REPO = Path(__file__).resolve().parents[2]


class FakeInstaller:
    """Writes one package per pin instead of downloading wheels; counts calls."""

    def __init__(self, extra: str = "") -> None:
        self.calls = 0
        self.extra = extra

    def __call__(self, requirements: Path, target: Path, arch: str) -> None:
        self.calls += 1
        for name, version in read_pins(requirements).items():
            module = target / name.replace("-", "_")
            module.mkdir()
            (module / "__init__.py").write_text(f"VERSION = {version!r}\n")
            (module / "__pycache__").mkdir()
            (module / "__pycache__" / "x.cpython-313.pyc").write_bytes(b"\0")
            (module / "tests").mkdir()
            (module / "tests" / "test_x.py").write_text("")
            (module / "stub.pyi").write_text("")
            (target / f"{name.replace('-', '_')}-{version}.dist-info").mkdir()
        if self.extra:
            (target / f"{self.extra}-1.0.dist-info").mkdir()
        (target / "bin").mkdir()
        (target / "bin" / "script").write_text("#!/abs/path/python\n")


@pytest.fixture
def inputs(tmp_path: Path) -> tuple[Path, Path]:
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("# comment\nlxml==6.1.3\nnh3==0.3.8  # trailing comment\n")
    xsd = tmp_path / "elmo"
    (xsd / "elmo-schemas" / "v1.7.0").mkdir(parents=True)
    (xsd / "offline-import-map.json").write_text("{}")
    (xsd / "elmo-schemas" / "v1.7.0" / "schema.xsd").write_text("<schema/>")
    return requirements, xsd


def build_into(
    tmp_path: Path, inputs: tuple[Path, Path], installer: FakeInstaller, **kwargs: object
) -> build.LayerBuild:
    requirements, xsd = inputs
    return ensure_layer(
        "arm64", build_dir=tmp_path / "build", requirements=requirements, xsd_source=xsd, install=installer, **kwargs
    )  # type: ignore[arg-type]


# --- requirements ----------------------------------------------------------------------------------------


def test_requirements_are_all_pinned_and_leave_boto_to_the_runtime() -> None:
    pins = read_pins()
    assert not set(pins) & build.RUNTIME_PROVIDED
    assert {"aws-lambda-powertools", "lxml", "signxml", "cryptography", "httpx", "nh3"} <= set(pins)


def test_requirements_cover_the_runtime_dependencies_of_the_package() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    pins = read_pins()
    for dependency in project["dependencies"]:
        requirement = Requirement(dependency)
        name = build.canonical_name(requirement.name)
        if name in build.RUNTIME_PROVIDED:
            continue
        assert name in pins, f"{name} is a runtime dependency but not in layers/requirements.txt"
        assert requirement.specifier.contains(pins[name]), f"{name}=={pins[name]} violates {requirement}"
        assert not requirement.extras, "the layer installs no extras"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("lxml>=6\n", "not an exact"),
        ("lxml\n", "not an exact"),
        ("boto3==1.44.8\n", "provided by the Lambda runtime"),
        ("python_dateutil==2.9.0\n", "provided by the Lambda runtime"),
        ("lxml==6.1.3\nLXML==6.1.3\n", "pinned twice"),
        ("# nothing\n", "pins nothing"),
        ("-e git+https://example.invalid/x.git\n", "not an exact"),
    ],
)
def test_bad_requirements_are_rejected(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "requirements.txt"
    path.write_text(content)
    with pytest.raises(LayerBuildError, match=message):
        read_pins(path)


# --- fingerprint ---------------------------------------------------------------------------------------------


def test_fingerprint_ignores_comments_and_order(tmp_path: Path, inputs: tuple[Path, Path]) -> None:
    requirements, xsd = inputs
    before = fingerprint("arm64", requirements, xsd)
    requirements.write_text("nh3==0.3.8\n# reordered, new comment\nlxml==6.1.3\n")
    assert fingerprint("arm64", requirements, xsd) == before


def test_fingerprint_changes_with_every_real_input(tmp_path: Path, inputs: tuple[Path, Path]) -> None:
    requirements, xsd = inputs
    seen = {fingerprint("arm64", requirements, xsd), fingerprint("x86_64", requirements, xsd)}
    (xsd / "elmo-schemas" / "v1.7.0" / "schema.xsd").write_text("<schema changed='1'/>")
    seen.add(fingerprint("arm64", requirements, xsd))
    requirements.write_text("lxml==6.1.4\nnh3==0.3.8\n")
    seen.add(fingerprint("arm64", requirements, xsd))
    seen.add(fingerprint("arm64", requirements, tmp_path / "no-xsd-here"))
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


def test_changed_requirements_rebuild_from_scratch(tmp_path: Path, inputs: tuple[Path, Path]) -> None:
    installer = FakeInstaller()
    build_into(tmp_path, inputs, installer)
    inputs[0].write_text("lxml==6.1.3\n")
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
    assert (result.deps_dir / "emrex-xsd" / "elmo-schemas" / "v1.7.0" / "schema.xsd").is_file()


def test_build_without_xsd_source_says_so(tmp_path: Path, inputs: tuple[Path, Path]) -> None:
    result = build_into(tmp_path, (inputs[0], tmp_path / "missing"), FakeInstaller())
    assert not result.has_xsd and not (result.deps_dir / "emrex-xsd").exists()


def test_runtime_packages_sneaking_in_fail_the_build(tmp_path: Path, inputs: tuple[Path, Path]) -> None:
    with pytest.raises(LayerBuildError, match="botocore"):
        build_into(tmp_path, inputs, FakeInstaller(extra="botocore"))
    assert not (tmp_path / "build" / "stamp.json").exists()


# --- the real build (pip, manylinux wheels) ------------------------------------------------------------------


def test_real_build_is_a_loadable_lambda_layer(capsys: pytest.CaptureFixture[str]) -> None:
    """Builds layers/build/deps for real (reuses it while the stamp matches; first run needs PyPI)."""
    assert build.main([]) == 0
    assert "MB unzipped" in capsys.readouterr().out
    result = ensure_layer("arm64")
    assert not result.rebuilt  # main() just built or confirmed it: idempotent
    site = result.deps_dir / "python"
    installed = build.installed_names(site)
    assert set(read_pins()) == installed
    assert not installed & build.RUNTIME_PROVIDED and not (site / "boto3").exists()
    assert list((site / "lxml").glob("etree.cpython-313-aarch64-linux-gnu.so"))
    assert not list(site.rglob("*.pyc"))
    assert result.unzipped_bytes < 100_000_000
    assert result.has_xsd == build.has_xsd_source(build.XSD_SOURCE)
    # Every dependency a layer package declares is in the layer or provided by the runtime.
    environment = {"python_version": build.PYTHON_VERSION, "python_full_version": f"{build.PYTHON_VERSION}.0",
                   "sys_platform": "linux", "platform_machine": "aarch64", "platform_system": "Linux",
                   "implementation_name": "cpython", "platform_python_implementation": "CPython", "os_name": "posix",
                   "extra": ""}  # fmt: skip
    for info in site.glob("*.dist-info"):
        metadata = Parser().parsestr((info / "METADATA").read_text(encoding="utf-8"))
        for line in metadata.get_all("Requires-Dist") or []:
            requirement = Requirement(line)
            if requirement.marker is not None and not requirement.marker.evaluate(environment):
                continue
            name = build.canonical_name(requirement.name)
            assert name in installed | build.RUNTIME_PROVIDED, f"{info.name} needs {name}"

"""docker/Dockerfile: linted by hadolint, and the properties issue 9 asks of the one image."""

import re
import subprocess
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.processes import BIN, PROJECT_ROOT

DOCKERFILE = PROJECT_ROOT / "docker" / "Dockerfile"
PYPROJECT = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())
LOCK = tomllib.loads((PROJECT_ROOT / "uv.lock").read_text())


def instructions(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    text = "\n".join(
        line for line in path.read_text().splitlines() if not line.lstrip().startswith("#")
    )
    joined = re.sub(r"\\\n\s*", " ", text)
    return [
        (keyword.upper(), arguments.strip())
        for keyword, arguments in (
            line.strip().split(maxsplit=1) for line in joined.splitlines() if line.strip()
        )
    ]


def stages() -> list[list[tuple[str, str]]]:
    found: list[list[tuple[str, str]]] = []
    for keyword, arguments in instructions(DOCKERFILE):
        if keyword == "FROM":
            found.append([])
        if found:
            found[-1].append((keyword, arguments))
    return found


def test_hadolint_finds_nothing():
    result = subprocess.run(
        [str(BIN / "hadolint"), str(DOCKERFILE)], capture_output=True, text=True
    )
    assert (result.returncode, result.stdout) == (0, "")


def test_multi_stage_on_python_311_slim_and_the_runtime_runs_as_a_numeric_non_root_user():
    build, runtime = stages()
    default_base = dict(instructions(DOCKERFILE))["ARG"]
    assert default_base == "PYTHON_IMAGE=python:3.11-slim-bookworm"
    assert [args.split()[0] for keyword, args in (build[0], runtime[0])] == ["${PYTHON_IMAGE}"] * 2
    users = [args for keyword, args in runtime if keyword == "USER"]
    assert users == ["10001:10001"]
    assert ("COPY", "--from=build /opt/venv /opt/venv") in runtime
    assert [keyword for keyword, _ in runtime if keyword == "HEALTHCHECK"] == ["HEALTHCHECK"]


def test_dependencies_come_from_uv_lock_with_hashes_and_are_never_resolved():
    build = stages()[0]
    runs = [args for keyword, args in build if keyword == "RUN"]
    copies = [args for keyword, args in build if keyword == "COPY"]
    assert "pyproject.toml uv.lock ./" in copies
    assert any("uv sync --frozen --no-install-project" in run for run in runs)
    assert not any("--extra" in run for run in runs), "the image gets no dev tools"
    assert any(
        "pip install --require-hashes --no-deps -r /tmp/bootstrap-uv.txt" in run for run in runs
    )
    # The same uv as `make install`, pinned with hashes.
    bootstrap = (PROJECT_ROOT / "scripts" / "bootstrap-uv.txt").read_text()
    assert "--hash=sha256:" in bootstrap
    pinned = {
        canonicalize_name(package["name"]): package
        for package in LOCK["package"]
        if "source" in package and "registry" in package["source"]
    }
    wanted = {
        canonicalize_name(Requirement(spec).name) for spec in PYPROJECT["project"]["dependencies"]
    }
    assert wanted - pinned.keys() == set(), "run `make lock` after changing dependencies"
    for name, package in pinned.items():
        hashes = [wheel["hash"] for wheel in package.get("wheels", [])]
        hashes += [package["sdist"]["hash"]] if "sdist" in package else []
        assert hashes and all(h.startswith("sha256:") for h in hashes), f"{name} has no hash"
    # Versions the chaos suite chose are the ones the image gets.
    assert (pinned["celery"]["version"], pinned["kombu"]["version"]) == ("5.6.3", "5.7.0")


def test_the_image_holds_every_package_of_the_project_and_no_secret():
    copied = {args.split()[-1].strip("./") for keyword, args in stages()[1] if keyword == "COPY"}
    packages = {
        pattern.rstrip("*")
        for pattern in PYPROJECT["tool"]["setuptools"]["packages"]["find"]["include"]
    }
    assert packages <= copied
    allowed_in_context = {
        line.strip("!/")
        for line in (PROJECT_ROOT / ".dockerignore").read_text().splitlines()
        if line.startswith("!")
    }
    assert packages <= allowed_in_context
    build_sources = {
        source for keyword, args in stages()[0] if keyword == "COPY" for source in args.split()[:-1]
    }
    assert build_sources <= allowed_in_context, "the build copies what the context leaves out"
    assert "*" in (PROJECT_ROOT / ".dockerignore").read_text().splitlines()  # all else stays out
    environment = " ".join(
        args for keyword, args in instructions(DOCKERFILE) if keyword in {"ENV", "ARG"}
    )
    assert not re.search(r"SECRET|PASSWORD|API_KEY|WEBHOOK_SECRET|BASIC_AUTH", environment)

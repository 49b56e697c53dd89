"""The three places that pin the environment agree: pyproject.toml, environment.yml, constraints.txt."""

import re
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
PIN = re.compile(r"^([A-Za-z0-9_.\-\[\]]+)==([^\s;]+)$")


def normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pins(requirements: list[str]) -> dict[str, str]:
    found = {}
    for line in requirements:
        match = PIN.match(line.strip())
        assert match, f"not an exact pin (name==version): {line!r}"
        found[normalise(match.group(1))] = match.group(2)
    return found


def pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def pyproject_pins() -> dict[str, str]:
    project = pyproject()["project"]
    extras = [req for group in project["optional-dependencies"].values() for req in group]
    return pins(project["dependencies"] + extras)


def environment() -> dict:
    return yaml.safe_load((ROOT / "environment.yml").read_text())


def test_every_dependency_is_pinned_and_torch_is_the_cpu_wheel_version():
    assert pyproject_pins()["torch"] == "2.13.0"


def test_environment_yml_pins_what_pyproject_pins():
    dependencies = environment()["dependencies"]
    pip_section = next(d["pip"] for d in dependencies if isinstance(d, dict))
    requirements = [line for line in pip_section if not line.startswith("-e")]
    assert pins(requirements) == pyproject_pins()
    assert "-e ." in pip_section, "environment.yml must install the course_lstm package itself"


def test_environment_yml_python_matches_requires_python():
    dependencies = environment()["dependencies"]
    python = next(d for d in dependencies if isinstance(d, str) and d.startswith("python="))
    version = python.split("=", 1)[1]
    assert f">={version}" in pyproject()["project"]["requires-python"]


def test_environment_yml_uses_conda_forge_only():
    assert environment()["channels"] == ["conda-forge", "nodefaults"]


def test_constraints_agree_with_pyproject():
    lines = [
        line
        for line in (ROOT / "constraints.txt").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    constraints = pins(lines)
    for name, version in pyproject_pins().items():
        assert constraints.get(name) == version, f"{name}: pyproject {version}, constraints {constraints.get(name)}"
    assert "course-lstm" not in constraints


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    assert "make test" in readme and "make lab" in readme
    assert "make test" in (ROOT / ".ci" / "run").read_text()

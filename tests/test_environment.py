"""environment.yml (conda) and pyproject.toml (pip) install the same course."""

import re
import tomllib

from notebooks import ROOT


def _normalise(spec):
    name, rest = re.match(r"([A-Za-z0-9_.\-]+)\s*(.*)", spec.strip()).groups()
    return name.lower().replace("_", "-"), rest.replace(" ", "")


def test_conda_and_pip_name_the_same_dependencies_and_ranges():
    pip = dict(_normalise(d) for d in tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"])
    conda = {}
    text = (ROOT / "environment.yml").read_text()
    for line in text[text.index("dependencies:") :].splitlines():
        m = re.match(r"\s{2}- ([A-Za-z].*)$", line)  # top-level conda dependencies only
        if m and not m.group(1).startswith(("python", "pip")):
            name, spec = _normalise(m.group(1))
            conda[name] = spec
    assert conda == pip


def test_readme_commands_are_the_course_script_and_ci_runs_the_test_command():
    readme = (ROOT / "README.md").read_text()
    assert "./course demo" in readme and "./course test" in readme
    assert "./course test" in (ROOT / ".ci" / "run").read_text()

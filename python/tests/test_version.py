"""The version is written once, in CMakeLists.txt's project(shardlm VERSION ...). CMake's own reading of it
(CMAKE_PROJECT_VERSION in the build's CMakeCache.txt) is the reference for: what pyproject.toml's regex metadata
provider reads for the wheel, shardlm.__version__, and `shardlm --version` (shardlm::version() of the loaded
libshardlm.so)."""

import re
import subprocess

try:
    import tomllib
except ImportError:  # Python < 3.11
    tomllib = None

import pytest

import shardlm
from conftest import BUILD, REPO, require_binary


def cmake_project_version():
    cache = (BUILD / "CMakeCache.txt").read_text()
    match = re.search(r"^CMAKE_PROJECT_VERSION:STATIC=(.*)$", cache, re.MULTILINE)
    assert match, f"{BUILD}/CMakeCache.txt has no CMAKE_PROJECT_VERSION"
    return match.group(1)


def test_pyproject_reads_the_version_cmake_reads():
    if tomllib is None:
        pytest.skip("tomllib needs Python 3.11")
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    assert "version" in pyproject["project"]["dynamic"] and "version" not in pyproject["project"]
    provider = pyproject["tool"]["scikit-build"]["metadata"]["version"]
    assert provider["provider"] == "scikit_build_core.metadata.regex"
    # What scikit-build-core's regex provider does: re.search(regex, text, re.MULTILINE), the `value` group.
    text = (REPO / provider["input"]).read_text()
    match = re.search(provider["regex"], text, re.MULTILINE)
    assert match, f"pyproject.toml's version regex finds nothing in {provider['input']}"
    assert match.group("value") == cmake_project_version()


def test_python_package_version_is_cmakes():
    assert shardlm.__version__ == cmake_project_version()


def test_cli_version_is_cmakes():
    out = subprocess.run([str(require_binary("shardlm")), "--version"], capture_output=True, text=True, check=True)
    assert out.stdout == cmake_project_version() + "\n"

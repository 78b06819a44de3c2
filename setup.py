"""Builds the `shardlm` Python package: CMake compiles the _shardlm extension (and libshardlm.so, which is
shipped next to it), setuptools packages python/shardlm.

    pip install --no-build-isolation .                 # Debian: add --break-system-packages, or use a venv
    pip install --no-build-isolation --target DIR .

Environment: CMAKE_ARGS (extra configure arguments, e.g. "-DSHARDLM_WITH_CUDA=OFF"), SHARDLM_CMAKE_BUILD_DIR
(reuse a configured build folder instead of a fresh one under build/temp.*), SHARDLM_JOBS (parallel jobs).
Only Debian packages are needed: cmake, ninja-build, pybind11-dev, python3-dev, python3-setuptools,
python3-wheel, plus the engine's own (scripts/setup.sh).
"""

import glob
import os
import shlex
import shutil
import subprocess
import sys

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext
from setuptools.command.egg_info import egg_info

ROOT = os.path.dirname(os.path.abspath(__file__))


class CMakeExtension(Extension):
    def __init__(self, name):
        super().__init__(name, sources=[])


class CMakeBuild(build_ext):
    def build_extension(self, ext):
        build_dir = os.environ.get("SHARDLM_CMAKE_BUILD_DIR") or os.path.join(os.path.abspath(self.build_temp), "cmake")
        os.makedirs(build_dir, exist_ok=True)
        configure = [
            "cmake", "-S", ROOT, "-B", build_dir,
            f"-DPython_EXECUTABLE={sys.executable}",
            "-DSHARDLM_WITH_PYTHON=ON",
        ]
        if not os.path.exists(os.path.join(build_dir, "CMakeCache.txt")):
            configure += ["-DCMAKE_BUILD_TYPE=Release"]
            if shutil.which("ninja"):
                configure += ["-G", "Ninja"]
        configure += shlex.split(os.environ.get("CMAKE_ARGS", ""))
        jobs = os.environ.get("SHARDLM_JOBS") or str(os.cpu_count() or 1)
        subprocess.check_call(configure)
        subprocess.check_call(["cmake", "--build", build_dir, "--target", "_shardlm", "-j", jobs])

        built = glob.glob(os.path.join(build_dir, "python", "shardlm", "_shardlm*.so"))
        if len(built) != 1:
            raise RuntimeError(f"expected one _shardlm*.so under {build_dir}/python/shardlm, found {built}")
        target = self.get_ext_fullpath(ext.name)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        shutil.copy2(built[0], target)
        # The extension finds libshardlm.so through its $ORIGIN run path.
        for lib in glob.glob(os.path.join(build_dir, "lib", "libshardlm.so*")):
            shutil.copy2(lib, os.path.join(os.path.dirname(target), os.path.basename(lib)))


class EggInfoInBuild(egg_info):
    """Keeps shardlm.egg-info out of the source tree (python/), under the ignored build/ folder."""

    def initialize_options(self):
        super().initialize_options()
        self.egg_base = os.path.relpath(os.path.join(ROOT, "build", "egg-info"))
        os.makedirs(self.egg_base, exist_ok=True)


setup(
    ext_modules=[CMakeExtension("shardlm._shardlm")],
    cmdclass={"build_ext": CMakeBuild, "egg_info": EggInfoInBuild},
)

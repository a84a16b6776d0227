"""pytest set-up shared by the Python tests: the fpscope binary and the built package."""

import os
import shutil

import pytest


@pytest.fixture(scope="session")
def fpscope_bin():
    """The `fpscope` command the Makefile built (FPSCOPE_BIN), else one on PATH."""
    path = os.environ.get("FPSCOPE_BIN") or shutil.which("fpscope")
    if not path or not os.access(path, os.X_OK):
        pytest.fail("the fpscope binary is needed: run via `make test` (sets FPSCOPE_BIN)")
    return path


@pytest.fixture(scope="session")
def core():
    """fpscope with its compiled extension; a test that needs it fails (never skips) without it."""
    import fpscope

    if fpscope._core is None:
        pytest.fail("fpscope._core is not importable: build it and put build/python on PYTHONPATH")
    return fpscope

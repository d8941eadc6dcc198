"""The test environment: what CI must provide, and loopback ports."""

import os
import socket

import pytest

IN_CI = bool(os.environ.get("CI"))


def need(reason):
    """Skip locally with a loud reason; in CI a missing dependency is a failure, never a skip."""
    if IN_CI:
        pytest.fail(f"CI must provide this: {reason}")
    pytest.skip(f"NOT RUN LOCALLY — {reason} (CI installs it and runs this test)")


def free_port():
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]

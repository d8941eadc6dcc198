"""Fixtures for the dev server tests: a throwaway project and a test client on it."""

import sys

import pytest
from werkzeug.test import Client

from dev import server as devserver
from tests.support.dev_site import make_site


@pytest.fixture
def site(tmp_path, monkeypatch):
    """A throwaway project: vercel.json, public/ and api/ of its own."""
    monkeypatch.setattr(sys, "path", list(sys.path))  # create_app adds the root; undo it afterwards
    return make_site(tmp_path)


@pytest.fixture
def client(site):
    """A werkzeug test client for the dev server on the throwaway project."""
    return Client(devserver.create_app(site))

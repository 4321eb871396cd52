"""Fixtures for the report tests."""

from __future__ import annotations

import pytest

from limits.catalogue import Catalogue, load_catalogue


@pytest.fixture(scope="session")
def catalogue() -> Catalogue:
    """The packaged catalogue without any local override."""
    return load_catalogue(None)

"""Fixtures of the Criteo reader's tests."""

import pytest


@pytest.fixture(scope="module")
def criteo_dir(shared_data):
    return shared_data / "criteo"

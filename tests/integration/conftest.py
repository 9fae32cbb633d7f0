import pytest

from harness import MotoServer


@pytest.fixture(scope="session")
def moto_server():
    """A bare moto server for module tests that need no lab data plane."""
    server = MotoServer().start()
    yield server
    server.stop()


@pytest.fixture
def moto(moto_server):
    """The bare moto server, reset before the test."""
    moto_server.reset()
    return moto_server

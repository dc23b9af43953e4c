"""Fixtures shared by every test: the embedded lab, started once per session."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from console.auth.resolver import ResolverContext
from console.lab import Lab

# One CI run decides whether work lands: property tests must not hinge on a new random
# seed or on how busy the machine is. `HYPOTHESIS_PROFILE=explore` searches afresh.
settings.register_profile(
    "mailscope",
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("explore", deadline=None, max_examples=1000)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "mailscope"))


@pytest.fixture(scope="session")
def lab() -> Iterator[Lab]:
    """The lab's servers on loopback, on free ports, for the whole session."""
    with Lab() as running:
        yield running


@pytest.fixture
async def ctx(lab: Lab) -> AsyncIterator[ResolverContext]:
    """A fresh resolver context (own cache) asking the lab's DNS, 2 s timeout."""
    context = lab.resolver(timeout=2.0)
    yield context
    context.close()  # its socket belongs to this test's event loop


@pytest.fixture(autouse=True)
def _hide_user_environment(tmp_path_factory: pytest.TempPathFactory, monkeypatch) -> None:
    """Keep the developer's own config, history and tokens out of every test."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(Path(home) / ".config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(Path(home) / ".local" / "share"))
    monkeypatch.setenv("XDG_STATE_HOME", str(Path(home) / ".local" / "state"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(Path(home) / ".cache"))
    for name in list(os.environ):
        if name.startswith("MAILSCOPE_"):
            monkeypatch.delenv(name, raising=False)

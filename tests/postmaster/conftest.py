"""Postmaster fixtures: the real Google client pointed at the lab's v2 emulator."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from console.lab import Lab
from console.lab.postmaster_api import PostmasterEmulator
from console.postmaster.client import build_service
from console.postmaster.credentials import lab_credentials
from console.postmaster.stats import PostmasterClient


@pytest.fixture
def emulator(lab: Lab) -> PostmasterEmulator:
    assert lab.postmaster is not None
    return lab.postmaster


@pytest.fixture
def today(emulator: PostmasterEmulator) -> Iterator[dt.date]:
    """The emulator's today (its history ends two days before), pinned for the test: a
    run across midnight UTC must not see the history move under it."""
    pinned = dt.datetime.now(dt.UTC).date()
    before, emulator.today = emulator.today, lambda: pinned
    yield pinned
    emulator.today = before


@pytest.fixture
def make_client(lab: Lab) -> Callable[..., PostmasterClient]:
    """A PostmasterClient over the real google-api-python-client, on the emulator."""

    def make(
        credentials: Any = None, *, timeout: float = 5.0, retries: int = 2, page_size: int = 200
    ) -> PostmasterClient:
        service = build_service(
            credentials or lab_credentials(), endpoint=lab.postmaster_endpoint, timeout=timeout
        )
        return PostmasterClient(service, retries=retries, backoff=0.01, page_size=page_size)

    return make


@pytest.fixture
def client(make_client: Callable[..., PostmasterClient]) -> PostmasterClient:
    return make_client()

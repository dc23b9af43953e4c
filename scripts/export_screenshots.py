"""Regenerate screenshots/*.svg: every screen of the console, on the embedded lab.

    .venv/bin/python scripts/export_screenshots.py [--only NAME ...]

The lab starts in this process, the console is driven by Textual's Pilot exactly as
the tests drive it, and each screen is saved as an SVG. A fixed clock, an empty
temporary history and the resolver label `lab` make the pictures the same on every
run, so a diff of screenshots/ shows only real changes.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from textual.pilot import Pilot  # noqa: E402

from console.app import MailscopeApp, demo_domains, lab_resolver_factory  # noqa: E402
from console.auth.audit import audit_domain  # noqa: E402
from console.config import Config, Profile, SubmissionServer  # noqa: E402
from console.history import History  # noqa: E402
from console.lab import Lab  # noqa: E402
from console.panes.auth import AuthPane  # noqa: E402
from console.panes.base import ConsoleSession  # noqa: E402
from console.panes.bounces import BouncesPane, OriginalMessageScreen  # noqa: E402
from console.panes.ports import PortsPane, steady_prober  # noqa: E402
from console.panes.postmaster import PostmasterPane, lab_access  # noqa: E402
from console.panes.send import (  # noqa: E402
    SendPane,
    lab_send_access,
    steady_access,
    steady_api_sender,
    steady_sender,
)
from console.ports.runner import probe_targets  # noqa: E402
from console.send.gmail_api import send_gmail_api  # noqa: E402
from console.send.guard import SendGuard  # noqa: E402
from console.send.smtp import send_smtp  # noqa: E402

OUT = ROOT / "screenshots"
CLOCK = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)

Step = Callable[[Pilot], Awaitable[None]]


@dataclass(frozen=True)
class Shot:
    """One screenshot: a file name, how the app starts and what is done before saving."""

    name: str
    size: tuple[int, int] = (80, 24)
    domain: str | None = None
    demo: bool = True
    theme: str = "textual-dark"
    steps: tuple[Step, ...] = field(default=())
    history: Callable[[Lab, History], Awaitable[None]] | None = None
    profiles: dict[str, Profile] = field(default_factory=dict)


async def wait_for_audit(pilot: Pilot, limit: float = 30.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit
    while True:
        panes = pilot.app.screen.query(AuthPane)
        if panes and panes.first().report is not None and not panes.first().running:
            break
        if loop.time() > deadline:
            raise RuntimeError("the audit did not finish in time")
        await pilot.pause(0.05)
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


async def wait_for_ports(pilot: Pilot, limit: float = 30.0) -> None:
    """Show the Ports pane and wait until its probes have finished."""
    await pilot.press("2")
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit
    pane = pilot.app.screen.query_one(PortsPane)
    while pane.report is None or pane.running:
        if loop.time() > deadline:
            raise RuntimeError("the probes did not finish in time")
        await pilot.pause(0.05)
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


async def wait_for_postmaster(pilot: Pilot, limit: float = 30.0) -> None:
    """Show the Postmaster pane and wait until its fetch from the lab's emulator ends."""
    await pilot.press("3")
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit
    pane = pilot.app.screen.query_one(PostmasterPane)
    while not pane.fetched or pane.running:
        if loop.time() > deadline:
            raise RuntimeError("the Postmaster fetch did not finish in time")
        await pilot.pause(0.05)
    await pilot.app.workers.wait_for_complete()
    # The Postmaster lab domains have no DNS zone: the audit's toast is not the subject.
    pilot.app.clear_notifications()
    await pilot.pause()


def send_steps(*keys: str, html: str = "") -> Step:
    """Show the Send pane, put `html` in the HTML body, press `keys`, each until done."""

    async def step(pilot: Pilot) -> None:
        await pilot.press("4")
        await pilot.pause()
        pane = pilot.app.screen.query_one(SendPane)
        if html:
            pane.form.set_field("html", html)
        loop = asyncio.get_running_loop()
        for key in keys:
            await pilot.press(key)
            await pilot.pause()
            deadline = loop.time() + 30
            while pane.running:
                if loop.time() > deadline:
                    raise RuntimeError("the lint or send did not finish in time")
                await pilot.pause(0.05)
            await pilot.app.workers.wait_for_complete()
            await pilot.pause()

    return step


def bounces_steps(*keys: str) -> Step:
    """Show the Bounces pane (it reads the demo campaign), then press `keys`, each until
    the pane is idle; a last `enter` waits for the original message to open."""

    async def step(pilot: Pilot) -> None:
        await pilot.press("5")
        await pilot.pause()
        pane = pilot.app.screen.query_one(BouncesPane)
        loop = asyncio.get_running_loop()
        for key in (None, *keys):
            if key is not None:
                await pilot.press(key)
                await pilot.pause()
            deadline = loop.time() + 30
            while pane.running:
                if loop.time() > deadline:
                    raise RuntimeError("the bounces did not load in time")
                await pilot.pause(0.05)
            await pilot.app.workers.wait_for_complete()
            await pilot.pause()
        if keys and keys[-1] == "enter":
            deadline = loop.time() + 10
            while not isinstance(pilot.app.screen, OriginalMessageScreen):
                if loop.time() > deadline:
                    raise RuntimeError("the original message did not open")
                await pilot.pause(0.05)
            await pilot.pause()

    return step


PIXEL_HTML = '<p>Hello</p><img src="https://track.example.net/o.gif" width="1" height="1">'
"""An HTML body with an open-tracking pixel, for the lint to find."""


def press(*keys: str) -> Step:
    async def step(pilot: Pilot) -> None:
        await pilot.press(*keys)
        await pilot.pause()

    return step


def focus(selector: str) -> Step:
    async def step(pilot: Pilot) -> None:
        pilot.app.screen.query_one(selector).focus()
        await pilot.pause()

    return step


def type_text(selector: str, text: str) -> Step:
    async def step(pilot: Pilot) -> None:
        field_ = pilot.app.screen.query_one(selector)
        field_.value = text  # type: ignore[attr-defined]
        await pilot.pause()

    return step


async def _earlier_audit(lab: Lab, history: History) -> None:
    """An audit of good.test from a week before, when SPF still ended in +all."""
    report = (await audit_domain(lab.resolver(), "good.test")).to_dict()
    report["checked_at"] = "2026-11-19T09:30:00Z"
    for check in report["checks"]:
        if check["id"] == "spf":
            check["status"] = "fail"
            check["data"]["record"] = "v=spf1 mx include:_spf.google.com +all"
            check["findings"] = [
                {"code": "spf.plus-all", "severity": "fail", "message": "+all", "fix": ""}
            ]
    history.record(report)


async def _recent(lab: Lab, history: History) -> None:
    # Stamped a few minutes apart before the script's clock, so the picture (which says
    # how long ago each audit ran) is the same on every run.
    for minutes, name in ((42, "nomx.test"), (17, "dkim1024.test"), (3, "good.test")):
        report = (await audit_domain(lab.resolver(), name)).to_dict()
        stamp = CLOCK - timedelta(minutes=minutes)
        report["checked_at"] = stamp.strftime("%Y-%m-%dT%H:%M:%SZ")
        history.record(report)


LAB_PROFILES = {
    "lab": Profile("lab", domain="good.test", submission=SubmissionServer("smtp.good.test", 587))
}
"""A profile whose submission server is the lab's, so the Ports pane probes 465 and 587."""

SHOTS: tuple[Shot, ...] = (
    Shot("welcome"),
    Shot("welcome-recent", demo=False, history=_recent),
    Shot("auth", domain="good.test", steps=(wait_for_audit,)),
    Shot("auth-wide", size=(120, 40), domain="good.test", steps=(wait_for_audit,)),
    Shot("auth-fail", domain="spf-lookups.test", steps=(wait_for_audit,)),
    Shot(
        "auth-spf-tree",
        size=(120, 40),
        domain="spf-lookups.test",
        steps=(wait_for_audit, focus("#spf-tree")),
    ),
    Shot(
        "auth-dmarc",
        size=(120, 40),
        domain="rua-unauth.test",
        steps=(wait_for_audit, press("down")),
    ),
    Shot(
        "auth-dkim",
        size=(100, 30),
        domain="dkim1024.test",
        steps=(wait_for_audit, press("down", "down")),
    ),
    Shot("auth-changes", domain="good.test", steps=(wait_for_audit,), history=_earlier_audit),
    Shot(
        "auth-light",
        size=(120, 40),
        domain="spf-lookups.test",
        theme="textual-light",
        steps=(wait_for_audit,),
    ),
    Shot(
        "domain-picker",
        domain="good.test",
        steps=(wait_for_audit, press("o"), type_text("#chooser-input", "nullmx.test")),
    ),
    Shot("export", domain="good.test", steps=(wait_for_audit, press("e"))),
    Shot("palette", domain="good.test", steps=(wait_for_audit, press("ctrl+p"))),
    Shot("ports", domain="good.test", steps=(wait_for_ports,), profiles=LAB_PROFILES),
    Shot(
        "ports-transcript",
        size=(120, 40),
        domain="good.test",
        steps=(wait_for_ports, press("down", "down", "down", "right", "right")),
        profiles=LAB_PROFILES,
    ),
    Shot("postmaster", size=(120, 40), domain="spike.test", steps=(wait_for_postmaster,)),
    Shot("postmaster-compliance", domain="noncompliant.test", steps=(wait_for_postmaster,)),
    Shot(
        "send",
        size=(120, 40),
        domain="good.test",
        steps=(send_steps("ctrl+l", "ctrl+g", "tab", "enter", html=PIXEL_HTML),),
    ),
    Shot("send-confirm", domain="good.test", steps=(send_steps("ctrl+g", html=PIXEL_HTML),)),
    Shot("bounces", size=(120, 40), domain="good.test", steps=(bounces_steps(),)),
    Shot(
        "bounces-message",
        size=(120, 40),
        domain="good.test",
        steps=(bounces_steps("down", "tab", "tab", "enter"),),
    ),
)


async def take(shot: Shot, lab: Lab, folder: Path) -> Path:
    history = History(folder / f"{shot.name}.sqlite3")
    if shot.history is not None:
        await shot.history(lab, history)
    session = ConsoleSession(
        config=Config(theme=shot.theme, profiles=shot.profiles),
        resolver_factory=lab_resolver_factory(lab, timeout=2.0),
        resolver_label="lab",
        history=history,
        clock=lambda: CLOCK,
        demo_domains=demo_domains() if shot.demo else (),
        cursor_blink=False,
        postmaster=lab_access(lab, folder / f"{shot.name}-postmaster.sqlite3"),
        sending=lab_send_access(lab) if shot.demo else None,
    )
    app = MailscopeApp(session, domain=shot.domain)
    async with app.run_test(size=shot.size) as pilot:
        await pilot.pause()
        for step in shot.steps:
            await step(pilot)
        await pilot.wait_for_scheduled_animations()
        await pilot.pause()
        svg = app.export_screenshot(title=f"mailscope — {shot.name}")
    target = OUT / f"{shot.name}.svg"
    target.write_text(svg, encoding="utf-8")
    return target


async def main(only: list[str]) -> int:
    OUT.mkdir(exist_ok=True)
    wanted = [shot for shot in SHOTS if not only or shot.name in only]
    unknown = set(only) - {shot.name for shot in SHOTS}
    if unknown:
        print(f"unknown screenshot(s): {', '.join(sorted(unknown))}", file=sys.stderr)
        return 2
    # The lab's free ports, certificate dates and probe times change with every start.
    PortsPane.prober = steady_prober(probe_targets, CLOCK)
    # The same for sends (ports, queue ids, Message-IDs, timings); a fresh send cap.
    SendPane.sender = steady_sender(send_smtp)
    SendPane.api_sender = steady_api_sender(send_gmail_api)
    SendPane.access_wrapper = steady_access
    SendPane.guard = SendGuard()
    with Lab() as lab, tempfile.TemporaryDirectory() as folder:
        # The emulator's history ends two days before its today: the clock's date here.
        assert lab.postmaster is not None
        lab.postmaster.today = lambda: CLOCK.date()
        for shot in wanted:
            path = await take(shot, lab, Path(folder))
            print(f"{path.relative_to(ROOT)}  {shot.size[0]}x{shot.size[1]}")
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", default=[], metavar="NAME", help="these shots only")
    sys.exit(asyncio.run(main(parser.parse_args().only)))

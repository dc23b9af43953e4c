"""Pilot tests of the Send pane on the lab: lint, the confirmation, a real send, the cap.

Sends go over the wire to the lab's submission server (smtp.good.test:587 with the
lab's public demo account), which stores what it accepts: the tests count what it
received to prove that Cancel sends nothing and Send sends exactly one message.
"""

from __future__ import annotations

import asyncio

import pytest
from textual.pilot import Pilot
from textual.widgets import Static

from console.config import Config
from console.lab import Lab
from console.lab.smtp import LabHandler
from console.panes.send import ConfirmSendScreen, SendPane, SignInScreen
from console.send.guard import SendGuard
from widgets.readback_view import ReadbackView
from widgets.send_result import SendResultView

PIXEL_HTML = '<p>Hello</p><img src="https://track.example.net/open.gif?id=1" width="1" height="1">'


@pytest.fixture(autouse=True)
def own_guard(monkeypatch: pytest.MonkeyPatch) -> SendGuard:
    """Each test its own cap, so the process's is not used up by the suite."""
    guard = SendGuard()
    monkeypatch.setattr(SendPane, "guard", guard)
    return guard


def received_count(lab: Lab) -> int:
    """Messages the lab's SMTP servers have stored so far (every handler seen)."""
    assert lab.smtp is not None
    handlers: dict[int, LabHandler] = {id(lab.smtp.mx_handler): lab.smtp.mx_handler}
    for protocol in list(lab.smtp._protocols):
        handler = protocol.event_handler
        if isinstance(handler, LabHandler):
            handlers[id(handler)] = handler
    return sum(len(handler.received) for handler in handlers.values())


async def open_send(pilot: Pilot) -> SendPane:
    await pilot.pause()
    await pilot.press("4")
    await pilot.pause()
    return pilot.app.screen.query_one(SendPane)


async def settle(pilot: Pilot, pane: SendPane, limit: float = 20.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit
    while pane.running:
        assert loop.time() < deadline, "the lint or send did not finish in time"
        await pilot.pause(0.05)
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


async def test_the_form_is_prefilled_for_the_lab(make_app) -> None:
    app = make_app("good.test", demo=True)
    async with app.run_test(size=(80, 24)) as pilot:
        pane = await open_send(pilot)
        values = pane.form.values()
        assert values.from_addr == "demo@good.test"
        assert values.to == ["seed@good.test"]
        assert values.unsubscribe_https == "https://good.test/unsubscribe"
        assert values.one_click is True
        assert values.password is None  # the lab's demo account, nothing typed


async def test_lint_shows_a_tracking_pixel(make_app) -> None:
    app = make_app("good.test", demo=True)
    async with app.run_test(size=(80, 24)) as pilot:
        pane = await open_send(pilot)
        pane.form.set_field("html", PIXEL_HTML)
        await pilot.press("ctrl+l")
        await settle(pilot, pane)
        assert pane.findings is not None
        codes = {finding.code for finding in pane.findings}
        assert "send.tracking-pixel" in codes
        shown = pane.query_one("#send-findings")
        assert "send.tracking-pixel" in {card.finding.code for card in shown.children}  # type: ignore[attr-defined]
        assert not isinstance(app.screen, ConfirmSendScreen)  # linting never asks to send


async def test_cancel_sends_nothing_and_confirm_sends_once(make_app, lab: Lab, own_guard) -> None:
    app = make_app("good.test", demo=True)
    async with app.run_test(size=(80, 24)) as pilot:
        pane = await open_send(pilot)
        before = received_count(lab)
        await pilot.press("ctrl+g")
        await settle(pilot, pane)
        assert isinstance(app.screen, ConfirmSendScreen)
        await pilot.press("enter")  # Cancel is the default button
        await pilot.pause()
        assert not isinstance(app.screen, ConfirmSendScreen)
        await settle(pilot, pane)
        assert pane.result is None
        assert own_guard.used == 0
        assert received_count(lab) == before

        await pilot.press("ctrl+g")
        await settle(pilot, pane)
        assert isinstance(app.screen, ConfirmSendScreen)
        await pilot.click("#send-confirm-send")
        await pilot.pause()
        await settle(pilot, pane)
        result = pane.result
        assert result is not None
        assert result.via == "smtp"
        assert result.accepted, result.error
        assert result.queue_id
        assert result.queue_id.startswith("LAB")
        assert result.message_id
        assert result.message_id.endswith("@good.test>")
        # The demo sends along both paths: one message reached the SMTP server, one
        # went through the Gmail API emulator; the cap counted both.
        assert received_count(lab) == before + 1
        assert set(pane.results) == {"smtp", "gmail-api"}
        assert pane.results["gmail-api"].accepted, pane.results["gmail-api"].error
        assert own_guard.used == 2
        shown = pane.query_one(SendResultView).plain
        assert shown.count("ACCEPTED") == 2
        assert result.queue_id in shown
        transcript = pane.query_one("#send-transcript").plain  # type: ignore[attr-defined]
        assert "AUTH PLAIN [credentials redacted]" in transcript
        assert "lab-password" not in transcript
        # The API's requests follow the SMTP conversation, the token never shown.
        assert "-- the Gmail API --" in transcript
        assert "/gmail/v1/users/me/messages/send" in transcript
        assert "lab-access-token" not in transcript
        # Both copies were read back from the lab's mailbox and compared.
        comparison = pane.comparison
        assert comparison is not None
        assert comparison.paths == ("smtp", "gmail-api")
        folder = next(a for a in comparison.aspects if a.key == "folder")
        assert folder.values == ("INBOX", "INBOX")
        readback = pane.query_one(ReadbackView).plain
        assert "Landed in" in readback
        assert "DKIM d= / s=" in readback

        sent = received_count(lab)
        await pilot.press("ctrl+g")
        await settle(pilot, pane)
        await pilot.press("escape")
        await pilot.pause()
        await settle(pilot, pane)
        assert received_count(lab) == sent
        assert own_guard.used == 2


async def test_the_cap_refuses_without_asking(
    make_app, lab: Lab, monkeypatch: pytest.MonkeyPatch
) -> None:
    guard = SendGuard(limit=1, used=1)
    monkeypatch.setattr(SendPane, "guard", guard)
    app = make_app("good.test", demo=True)
    async with app.run_test(size=(80, 24)) as pilot:
        pane = await open_send(pilot)
        before = received_count(lab)
        await pilot.press("ctrl+g")
        await settle(pilot, pane)
        assert not isinstance(app.screen, ConfirmSendScreen)
        assert pane.result is not None
        assert not pane.result.accepted
        assert "cap of 1 sends is reached" in (pane.result.error or "")
        assert "NOT SENT" in pane.query_one(SendResultView).plain
        assert received_count(lab) == before
        assert guard.used == 1


async def test_without_a_submission_server_nothing_is_offered(make_app) -> None:
    app = make_app("good.test")
    async with app.run_test(size=(80, 24)) as pilot:
        pane = await open_send(pilot)
        pane.form.set_field("to", "seed@good.test")
        await pilot.press("ctrl+g")
        await settle(pilot, pane)
        assert not isinstance(app.screen, ConfirmSendScreen)
        assert pane.result is None


async def test_via_smtp_only_sends_one_copy(make_app, lab: Lab, own_guard) -> None:
    app = make_app("good.test", demo=True)
    async with app.run_test(size=(80, 24)) as pilot:
        pane = await open_send(pilot)
        pane.form.set_field("via", "smtp")
        await pilot.press("ctrl+g")
        await settle(pilot, pane)
        assert isinstance(app.screen, ConfirmSendScreen)
        await pilot.click("#send-confirm-send")
        await pilot.pause()
        await settle(pilot, pane)
        assert set(pane.results) == {"smtp"}
        assert own_guard.used == 1
        assert "Not sent yet" in pane.query_one(SendResultView).plain
        comparison = pane.comparison
        assert comparison is not None
        assert comparison.paths == ("smtp",)


async def test_a_profile_with_oauth_credentials_logs_in_with_a_microsoft_token(
    make_app, lab: Lab, own_guard
) -> None:
    from console.config import Config, Profile, SubmissionServer
    from console.lab.microsoft_identity import LAB_MS_CLIENT_SECRET, LAB_MS_CREDENTIALS

    profile = Profile(
        name="m365",
        domain="good.test",
        submission=SubmissionServer(
            "smtp.good.test", 587, "demo@good.test", oauth_credentials=LAB_MS_CREDENTIALS
        ),
    )
    config = Config(profiles={"m365": profile}, default_profile="m365")
    app = make_app("good.test", config=config)
    async with app.run_test(size=(100, 30)) as pilot:
        pane = await open_send(pilot)
        pane.form.set_field("to", "seed@good.test")
        await pilot.press("ctrl+g")
        await settle(pilot, pane)
        assert isinstance(app.screen, ConfirmSendScreen)
        details = app.screen.query_one("#send-confirm-details", Static)
        assert "XOAUTH2 (microsoft-app.json)" in str(details.render())
        await pilot.click("#send-confirm-send")
        await pilot.pause()
        await settle(pilot, pane)
        result = pane.result
        assert result is not None
        assert result.accepted, result.error
        transcript = pane.query_one("#send-transcript").plain  # type: ignore[attr-defined]
        assert "AUTH XOAUTH2 [credentials redacted]" in transcript
        assert "lab-ms-" not in transcript
        assert LAB_MS_CLIENT_SECRET not in transcript
        assert own_guard.used == 1


async def test_an_attachment_that_cannot_be_read_is_said_and_nothing_is_linted(
    make_app, lab: Lab, own_guard, tmp_path
) -> None:
    app = make_app("good.test", demo=True)
    async with app.run_test(size=(100, 30)) as pilot:
        pane = await open_send(pilot)
        pane.form.set_field("attach", str(tmp_path / "missing.pdf"))
        await pilot.press("ctrl+g")
        await settle(pilot, pane)
        assert not isinstance(app.screen, ConfirmSendScreen)
        assert pane.running is None
        assert pane.findings is None
        notes = [f"{n.title}: {n.message}" for n in app._notifications]
        assert any("missing.pdf" in note and "No such file" in note for note in notes), notes
        assert own_guard.used == 0
        # A readable one is attached and linted (a blocked type, here).
        (tmp_path / "tool.exe").write_bytes(b"MZ")
        pane.form.set_field("attach", str(tmp_path / "tool.exe"))
        await pilot.press("ctrl+l")
        await settle(pilot, pane)
        assert pane.findings is not None
        assert "send.blocked-attachment" in [f.code for f in pane.findings]


def public_client_profile(path) -> Config:
    import json as json_

    from console.config import Config, Profile, SubmissionServer
    from console.lab.microsoft_identity import LAB_MS_CLIENT_ID, MS_LAB_HOST

    path.write_text(
        json_.dumps(
            {
                "type": "microsoft",
                "authority": f"https://{MS_LAB_HOST}",
                "tenant": "good.test",
                "client_id": LAB_MS_CLIENT_ID,
            }
        )
    )
    profile = Profile(
        name="me",
        domain="good.test",
        submission=SubmissionServer(
            "smtp.good.test", 587, "demo@good.test", oauth_credentials=path
        ),
    )
    return Config(profiles={"me": profile}, default_profile="me")


async def confirm_send(pilot: Pilot, pane: SendPane) -> None:
    pane.form.set_field("to", "seed@good.test")
    await pilot.press("ctrl+g")
    await settle(pilot, pane)
    assert isinstance(pilot.app.screen, ConfirmSendScreen)
    await pilot.click("#send-confirm-send")
    await pilot.pause()


async def test_a_first_microsoft_sign_in_shows_the_code_then_sends(
    make_app, lab: Lab, own_guard, tmp_path
) -> None:
    import json as json_

    path = tmp_path / "me.json"
    app = make_app("good.test", config=public_client_profile(path))
    async with app.run_test(size=(100, 30)) as pilot:
        pane = await open_send(pilot)
        await confirm_send(pilot, pane)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 10
        while not isinstance(app.screen, SignInScreen):
            assert loop.time() < deadline, "no sign-in dialog"
            await pilot.pause(0.05)
        text = str(app.screen.query_one("#send-sign-in-text", Static).render())
        assert "devicelogin" in text
        assert "enter the code" in text
        await settle(pilot, pane)  # the lab's user approves at the second poll
        assert not isinstance(app.screen, SignInScreen)
        result = pane.result
        assert result is not None
        assert result.accepted, result.error
        assert "refresh_token" in json_.loads(path.read_text())


async def test_cancelling_the_sign_in_sends_nothing(
    make_app, lab: Lab, own_guard, tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "me.json"
    assert lab.microsoft is not None
    # The pretend user never gets round to it: only the Cancel can end this sign-in.
    monkeypatch.setattr(lab.microsoft, "polls_before_answer", 10_000)
    app = make_app("good.test", config=public_client_profile(path))
    async with app.run_test(size=(100, 30)) as pilot:
        pane = await open_send(pilot)
        before = received_count(lab)
        await confirm_send(pilot, pane)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 10
        while not isinstance(app.screen, SignInScreen):
            assert loop.time() < deadline, "no sign-in dialog"
            await pilot.pause(0.05)
        await pilot.press("escape")
        await settle(pilot, pane)
        assert not isinstance(app.screen, SignInScreen)
        assert own_guard.used == 0
        assert received_count(lab) == before
        assert "refresh_token" not in path.read_text()
        assert pane.result is None  # cancelled, not refused

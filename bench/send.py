"""What a test send costs: one SMTP session for many messages, a session each, the API.

Against the lab on loopback (nothing else is contacted), N messages (default 100) to the
lab's seed mailbox, each way measured `--runs` times and the median printed:

1. SMTP, one connection: STARTTLS and AUTH once, then N mail transactions
   (`send_smtp_batch`).
2. SMTP, a new connection per message: connect, greeting, EHLO, STARTTLS, EHLO, AUTH,
   MAIL, RCPT, DATA, QUIT for each (`send_smtp`), one after the other.
3. SMTP XOAUTH2, one connection: as 1, logging in with a Microsoft 365 app token asked
   of the lab's identity endpoint first (its time is included, and printed apart).
4. The Gmail API: N `users.messages.send` calls to the lab's emulator (plain HTTP on
   loopback, so no TLS cost here, unlike Google's HTTPS endpoint), one after the other.

The lab runs in this process (its own thread and event loop), and its receiving side
(SPF, DKIM and DMARC evaluation of every message) is part of each figure, as a real
receiver's work is part of a real send. Figures on this shared 2-core machine vary by
10-20%; compare the ratios more than the absolute numbers.

Usage: python bench/send.py [--messages N] [--runs R]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from email.message import EmailMessage

from console.lab import Lab
from console.lab.microsoft_identity import LAB_MS_CREDENTIALS
from console.lab.smtp import LAB_PASSWORD, LAB_USER
from console.postmaster.credentials import lab_credentials
from console.send.gmail_api import send_gmail_api
from console.send.guard import SendGuard
from console.send.microsoft_oauth import load_microsoft_credentials, microsoft_token
from console.send.smtp import send_smtp, send_smtp_batch

SEED = "seed@good.test"


def make_messages(count: int) -> list[bytes]:
    messages = []
    for index in range(count):
        message = EmailMessage()
        message["From"] = LAB_USER
        message["To"] = SEED
        message["Subject"] = f"mailscope bench {index}"
        message["Message-ID"] = f"<bench-{index}@good.test>"
        message.set_content("A benchmark message.\n" * 20)
        messages.append(message.as_bytes())
    return messages


SMTP_OPTIONS = {
    "envelope_from": LAB_USER,
    "recipients": [SEED],
    "host": "smtp.good.test",
    "port": 587,
    "security": "starttls",
    "username": LAB_USER,
    "password": LAB_PASSWORD,
    "timeout": 10.0,
    "confirmed": True,
}


async def one_connection(lab: Lab, messages: list[bytes]) -> tuple[float, int]:
    ctx = lab.resolver(timeout=2.0)
    started = time.perf_counter()
    try:
        results = await send_smtp_batch(
            ctx, messages, guard=SendGuard(limit=len(messages)), **SMTP_OPTIONS
        )
    finally:
        ctx.close()
    return time.perf_counter() - started, sum(result.accepted for result in results)


async def one_connection_xoauth2(lab: Lab, messages: list[bytes]) -> tuple[float, int]:
    """As one_connection, logging in with XOAUTH2: a Microsoft 365 app token from the
    lab's identity endpoint (one TLS POST through the lab DNS), asked for once."""
    ctx = lab.resolver(timeout=2.0)
    options = {k: v for k, v in SMTP_OPTIONS.items() if k != "password"}
    started = time.perf_counter()
    try:
        answer = await microsoft_token(ctx, load_microsoft_credentials(LAB_MS_CREDENTIALS))
        TOKEN_SECONDS.append(time.perf_counter() - started)
        results = await send_smtp_batch(
            ctx,
            messages,
            guard=SendGuard(limit=len(messages)),
            oauth_token=answer.access_token,
            **options,
        )
    finally:
        ctx.close()
    return time.perf_counter() - started, sum(result.accepted for result in results)


TOKEN_SECONDS: list[float] = []


async def connection_each(lab: Lab, messages: list[bytes]) -> tuple[float, int]:
    ctx = lab.resolver(timeout=2.0)
    guard = SendGuard(limit=len(messages))
    accepted = 0
    started = time.perf_counter()
    try:
        for message in messages:
            result = await send_smtp(ctx, message, guard=guard, **SMTP_OPTIONS)
            accepted += result.accepted
    finally:
        ctx.close()
    return time.perf_counter() - started, accepted


async def gmail_api(lab: Lab, messages: list[bytes]) -> tuple[float, int]:
    credentials = lab_credentials()
    accepted = 0
    started = time.perf_counter()
    for message in messages:
        result = await send_gmail_api(
            message, credentials=credentials, endpoint=lab.gmail_endpoint, timeout=10.0
        )
        accepted += result.accepted
    return time.perf_counter() - started, accepted


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=100)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    messages = make_messages(args.messages)
    ways = (
        ("SMTP, one connection", one_connection),
        ("SMTP, a connection per message", connection_each),
        ("SMTP XOAUTH2 (M365 token), one", one_connection_xoauth2),
        ("Gmail API (lab emulator)", gmail_api),
    )
    medians: dict[str, float] = {}
    with Lab() as lab:
        assert lab.gmail is not None
        # The emulator charges Google's per-user quota (about 140 sends a minute); the
        # bench measures the path, not the quota.
        lab.gmail.quota_per_minute = 10**9
        print(f"== {args.messages} messages to {SEED}, median of {args.runs} runs")
        for name, way in ways:
            seconds = []
            for _ in range(args.runs):
                elapsed, accepted = asyncio.run(way(lab, messages))
                if accepted != len(messages):
                    raise SystemExit(f"{name}: only {accepted} of {len(messages)} accepted")
                seconds.append(elapsed)
            median = statistics.median(seconds)
            medians[name] = median
            print(
                f"{name:32} {median:7.2f} s  {median / len(messages) * 1000:7.1f} ms/message  "
                f"{len(messages) / median:7.1f} messages/s  (runs: "
                + ", ".join(f"{s:.2f}" for s in seconds)
                + ")"
            )
    one, each = medians[ways[0][0]], medians[ways[1][0]]
    print(f"a connection per message costs {each / one:.1f}x one shared connection")
    token_ms = statistics.median(TOKEN_SECONDS) * 1000
    print(f"the Microsoft token request (DNS, TLS, POST) took {token_ms:.0f} ms (median)")


if __name__ == "__main__":
    main()

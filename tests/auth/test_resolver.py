"""The resolver context's own wire handling: one shared socket, answers matched right."""

from __future__ import annotations

import asyncio
import random
import socket

import dns.message
import dns.rdtypes.ANY.TXT
from dns.rdataclass import IN
from dns.rdatatype import MX, TXT
from hypothesis import given
from hypothesis import strategies as st

from console.auth.resolver import Lookup, Outcome, ResolverContext
from console.lab import Lab


async def test_many_concurrent_questions_each_get_their_own_answer(lab: Lab) -> None:
    ctx = lab.resolver(timeout=2.0, concurrency=300)
    names = [f"mx{n}.good.test" for n in (1, 2)] * 50 + ["no-such.good.test"] * 20
    # Distinct contexts per question: the cache must not be what makes this pass.
    lookups = await asyncio.gather(*(ctx.for_audit().query(name, "A") for name in names))
    ctx.close()
    for name, lookup in zip(names, lookups, strict=True):
        if name.startswith("mx1"):
            assert lookup.addresses() == ["127.0.1.1"]
        elif name.startswith("mx2"):
            assert lookup.addresses() == ["127.0.1.2"]
        else:
            assert lookup.outcome is Outcome.NXDOMAIN


async def test_a_forged_reply_from_elsewhere_is_ignored(lab: Lab) -> None:
    ctx = lab.resolver(timeout=1.0, retries=0)
    assert ctx._shared is not None
    channel = await ctx._shared.channel(ctx.nameservers[0])  # the socket the query will use
    ask = asyncio.ensure_future(ctx.query("good.test", "TXT"))
    await asyncio.sleep(0)
    local_port = channel.transport.get_extra_info("sockname")[1]  # type: ignore[union-attr]
    forged = dns.message.make_query("good.test", "TXT")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as attacker:
        for query_id in range(0, 65536, 4096):  # spray ids from a port that is not the server
            forged.id = query_id
            attacker.sendto(dns.message.make_response(forged).to_wire(), ("127.0.0.1", local_port))
    lookup = await ask
    ctx.close()
    assert lookup.ok
    assert lookup.texts()[0].startswith("v=spf1")


def test_a_context_reused_under_a_new_event_loop_still_answers(lab: Lab) -> None:
    ctx = lab.resolver(timeout=2.0)

    async def ask_and_close(context: ResolverContext) -> Lookup:
        try:
            return await context.query("good.test", "MX")
        finally:
            context.close()

    first = asyncio.run(ask_and_close(ctx))
    second = asyncio.run(ask_and_close(ctx.for_audit()))
    assert first.ok
    assert second.ok


@given(
    st.lists(st.lists(st.binary(min_size=1, max_size=20), min_size=1, max_size=3), max_size=5).map(
        lambda records: [tuple(strings) for strings in records]
    ),
    st.randoms(use_true_random=False),
)
def test_txt_records_read_the_same_in_any_answer_order(
    records: list[tuple[bytes, ...]], rng: random.Random
) -> None:
    def lookup(order: list[tuple[bytes, ...]]) -> Lookup:
        rdatas = tuple(dns.rdtypes.ANY.TXT.TXT(IN, TXT, list(strings)) for strings in order)
        return Lookup("good.test", "TXT", Outcome.ANSWER, records=rdatas)

    shuffled = list(records)
    rng.shuffle(shuffled)
    first, second = lookup(records), lookup(shuffled)
    assert first.texts() == second.texts()
    assert first.txt_strings() == second.txt_strings()
    # texts() pairs with txt_strings(): callers zip them to find a record's strings.
    for strings, text in zip(first.txt_strings(), first.texts(), strict=True):
        assert text == b"".join(strings).decode("utf-8", "replace")


@given(st.permutations(range(12)))
def test_mx_hosts_are_most_preferred_first_whatever_the_answer_order(order: list[int]) -> None:
    import dns.name
    import dns.rdtypes.ANY.MX

    records = [
        dns.rdtypes.ANY.MX.MX(IN, MX, 10 + n // 2, dns.name.from_text(f"m{n}.good.test"))
        for n in range(11)
    ]
    records.append(dns.rdtypes.ANY.MX.MX(IN, MX, 0, dns.name.root))  # a null MX is no host
    shuffled = tuple(records[i] for i in order)
    hosts = Lookup("good.test", "MX", Outcome.ANSWER, records=shuffled).mx_hosts()
    assert hosts == [f"m{n}.good.test" for n in range(11)]

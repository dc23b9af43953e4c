"""The embedded lab: real protocol servers on loopback with demo data.

Nothing in the tests, the demo or the benchmarks touches the internet; they all talk
to this lab. `Lab` starts every server in a background thread with its own event
loop, so the same lab serves a synchronous CLI, a Textual app and pytest alike.
"""

from console.lab.runner import DEMO_DOMAINS, Lab

__all__ = ["DEMO_DOMAINS", "Lab"]

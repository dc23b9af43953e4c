"""The layering of design.md, checked at import time: engines never pull in Textual."""

from __future__ import annotations

import subprocess
import sys

ENGINE_MODULES = [
    "console.bounce.model",
    "console.bounce.parse",
    "console.bounce.classify",
    "console.bounce.reader",
    "console.bounce.campaign",
    "console.bounce.command",
    "console.bounce.aggregate",
    "console.bounce.aggregate_input",
    "console.bounce.aggregate_command",
    "console.send.command",
    "console.send.compare",
    "console.send.gmail_api",
    "console.send.imap",
    "console.lab.imap",
    "console.lab.gmail_api",
    "console.google_http",
    "console.cli",
    "console.model",
    "console.output",
    "console.auth.audit",
    "console.auth.spf",
    "console.auth.spf_eval",
    "console.auth.dmarc",
    "console.auth.dkim",
    "console.auth.mx",
    "console.auth.mta_sts",
    "console.auth.tls_rpt",
    "console.auth.bimi",
    "console.auth.dnssec",
    "console.auth.fcrdns",
    "console.auth.blocklists",
    "console.lab",
    "console.config",
    "console.history",
    "console.export",
    "console.auth.authoritative",
    "console.ports.model",
    "console.ports.targets",
    "console.ports.tlsinfo",
    "console.ports.probe",
    "console.ports.runner",
    "console.lab.smtp",
    "console.postmaster.client",
    "console.postmaster.credentials",
    "console.postmaster.stats",
    "console.postmaster.history",
    "console.postmaster.model",
    "console.postmaster.snds",
    "console.lab.postmaster_api",
    "console.send.compose",
    "console.send.lint",
    "console.send.dkim_sign",
    "console.send.smtp",
    "console.send.guard",
]


def test_engines_and_headless_commands_never_import_textual() -> None:
    code = (
        "import importlib, sys\n"
        f"for name in {ENGINE_MODULES!r}: importlib.import_module(name)\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('textual', 'widgets'))\n"
        "print(','.join(bad))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == ""


def test_check_help_imports_neither_engines_nor_rich() -> None:
    code = (
        "import sys\n"
        "from console.cli import main\n"
        "try:\n    main(['check', '--help'])\nexcept SystemExit:\n    pass\n"
        "loaded = [m for m in ('rich', 'textual', 'dns.asyncresolver') if m in sys.modules]\n"
        "print(','.join(loaded), file=sys.stderr)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stderr.strip() == ""

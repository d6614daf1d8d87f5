"""Text from Events, made safe to print: control characters become visible escapes.

Whoever may create Events writes their reason, message and names. Printed raw, an ESC
sequence there sets a terminal's window title, clears the screen, or hides a link behind
innocent text (OSC 8); a newline forges a log line; a bidi override (U+202E) shows text in
another order than it reads. Every place where Event text reaches a terminal, a log line or a
metric label passes it through :func:`printable` (the console sink, ``explain``, the log
formatters, /metrics); the OTLP and HTML outputs carry it as data, escaped by their encoders.

Escapes look like Python's (``\\x1b``, ``\\n``, ``\\u202e``): what was there stays readable and
greppable. Backslashes are left alone, so an escaped text escapes to itself.
"""

from __future__ import annotations

import re

_SHORT = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
_BEYOND_C0 = (
    "\x7f-\x9f"  # DEL, C1 (0x9b is CSI on 8-bit terminals)
    "\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069"  # bidi marks, embeddings, overrides, isolates
    "\u2028\u2029"  # line and paragraph separators: new lines to some viewers
    "\ud800-\udfff"  # lone surrogates (from surrogateescape): no encoder writes them
)
_ANY = re.compile(f"[\x00-\x1f{_BEYOND_C0}]")
_ANY_BUT_NEWLINE = re.compile(f"[\x00-\x09\x0b-\x1f{_BEYOND_C0}]")


def _escape(found: re.Match[str]) -> str:
    char = found.group()
    short = _SHORT.get(char)
    if short is not None:
        return short
    code = ord(char)
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def printable(text: str, *, keep_newlines: bool = False) -> str:
    """``text`` with every control character, bidi control and lone surrogate escaped.

    ``keep_newlines``: leave ``\\n`` as it is (a traceback's lines), escape the rest."""
    pattern = _ANY_BUT_NEWLINE if keep_newlines else _ANY
    return pattern.sub(_escape, text)

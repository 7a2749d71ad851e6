"""Shell text that reaches the payload byte for byte (pure functions).

    quote_state(text, state="") -> "" | "'" | '"'
        The quoting a POSIX shell is in after reading `text` (outside quotes, inside
        single or double quotes), starting from `state`.
    quote_value(value, state) -> str
        `value` written so that the shell reads exactly its bytes at a spot in that state.
    encode_words(command, max_word=1000) -> list[str]
        The command as makeflow-proof words; `decode_words` (and the job wrapper) undo it.

Why the encoding: makeflow's parser treats `\\` as an escape even inside single quotes
(`\\.` arrives as `.`) and cannot read a quote inside a quoted string (`'"'"'` is "Missing
'"). So a rule never carries the command's own bytes: every byte outside
[A-Za-z0-9_@+=:,./-] becomes `%ooo` (octal), and the wrapper turns them back with
`printf %b`. Spaces stay spaces between words, so the Makeflow file remains readable;
a run of spaces keeps all but the first as `%040`. Makeflow limits one token to 1,024
characters, so a long word is cut, and a piece that continues the previous word starts
with `%_` (never an escape, which is `%` and three octal digits).
"""

from __future__ import annotations

import re
import shlex

# What makeflow and the shell both pass through untouched; `%` is the escape character.
_PLAIN = re.compile(r"[A-Za-z0-9_@+=:,./-]+")
_PLAIN_BYTES = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_@+=:,./-")
_SHELL_SAFE = re.compile(r"[\w@%+=:,./-]+", re.ASCII)
_DOUBLE_SPECIAL = re.compile(r'([\\"$`])')
_ESCAPE = re.compile(r"%([0-7]{3})")
GLUE = "%_"


def quote_state(text: str, state: str = "") -> str:
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if state == "'":
            if c == "'":
                state = ""
        elif c == "\\":
            i += 1  # the next character is escaped (outside quotes, or \" \\ \$ in double quotes)
        elif c == '"':
            state = "" if state == '"' else '"'
        elif c == "'" and not state:
            state = "'"
        i += 1
    return state


def quote_value(value: str, state: str = "") -> str:
    if state == "'":
        return value.replace("'", "'\\''")        # close, a quoted quote, reopen
    if state == '"':
        return _DOUBLE_SPECIAL.sub(r"\\\1", value)
    if value and _SHELL_SAFE.fullmatch(value):
        return value
    return shlex.quote(value)


def _encode(text: str) -> str:
    if _PLAIN.fullmatch(text):
        return text
    return "".join(chr(b) if b in _PLAIN_BYTES else f"%{b:03o}" for b in text.encode())


def encode_words(command: str, max_word: int = 1000) -> list[str]:
    """Split at each space that is followed by a non-space (so no word is empty), encode
    each word, and cut words longer than `max_word` into glued pieces."""
    words = []
    for word in re.split(r" (?=[^ ])", command):
        encoded = _encode(word)
        first = True
        while encoded:
            size = max_word if first else max_word - len(GLUE)
            cut = size if len(encoded) > size else len(encoded)
            # never cut inside an escape: back up to its '%'
            percent = encoded.rfind("%", max(0, cut - 3), cut)
            if percent >= 0 and cut < len(encoded) and percent > cut - 4:
                cut = percent
            words.append(encoded[:cut] if first else GLUE + encoded[:cut])
            encoded = encoded[cut:]
            first = False
    return words


def decode_words(words: list[str]) -> str:
    """What the job wrapper does, in Python (for tests and tools)."""
    joined = ""
    for i, word in enumerate(words):
        if word.startswith(GLUE):
            joined += word[len(GLUE):]
        else:
            joined += (" " if i else "") + word
    return _ESCAPE.sub(lambda m: chr(int(m.group(1), 8)), joined).encode("latin-1").decode()

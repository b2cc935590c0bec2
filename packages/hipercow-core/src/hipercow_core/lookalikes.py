"""Characters that look like a space (or like nothing) but are not one, in commands.

Text pasted from documents, chat and web pages often carries a no-break space
where a space was meant: `echo<NBSP>hi` is one word to the shell, so the task
fails with "command 'echo hi' not found", which looks impossible. A command
whose program name holds one is refused at creation; one in any other word
(where it may be meant, inside text) gets a warning.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

from hipercow_core.errors import HipercowWarning, InvalidInputError

#: Code point -> what people call it.
LOOKALIKES = {
    "\u00a0": "no-break space",
    "\u1680": "ogham space mark",
    **{chr(c): "typographic space" for c in range(0x2000, 0x200B)},
    "\u200b": "zero-width space",
    "\u200c": "zero-width non-joiner",
    "\u200d": "zero-width joiner",
    "\u2028": "line separator",
    "\u2029": "paragraph separator",
    "\u202f": "narrow no-break space",
    "\u205f": "medium mathematical space",
    "\u2060": "word joiner",
    "\u3000": "ideographic space",
    "\ufeff": "zero-width no-break space (byte order mark)",
}


def find_lookalike(text: str) -> tuple[int, str] | None:
    """The position and name of the first look-alike character in `text`, if any."""
    for index, char in enumerate(text):
        if char in LOOKALIKES:
            return index, LOOKALIKES[char]
    return None


def _described(word: str, index: int, name: str) -> str:
    shown = "".join(f"\\u{ord(c):04x}" if c in LOOKALIKES else c for c in word)
    after = f" after '{word[:index]}'" if index else " at its start"
    return f"'{shown}' holds a {name} (U+{ord(word[index]):04X}){after}"


def check_command(command: Sequence[str]) -> None:
    """Refuse a program name with a look-alike character; warn about one in an argument."""
    program, *arguments = command
    found = find_lookalike(program)
    if found is not None:
        raise InvalidInputError(
            f"the command {_described(program, *found)}, which looks like a space but is not one",
            "Retype it with ordinary spaces (it often comes from text pasted from a document).",
        )
    for word in arguments:
        found = find_lookalike(word)
        if found is not None:
            warnings.warn(
                HipercowWarning(
                    f"the argument {_described(word, *found)}; "
                    "retype it with ordinary spaces unless you meant it"
                ),
                stacklevel=3,
            )

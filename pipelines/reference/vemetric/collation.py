"""String ordering as Vemetric's server sorts: JavaScript ``localeCompare`` (ICU root collation).

Vemetric sorts filter values and analytics rows with ``a.localeCompare(b)`` in Bun, which
collates with ICU's root order. :func:`collation_key` approximates it with the three ICU levels:

1. primary: whitespace and punctuation (in ICU's order) < digits < letters, letters compared
   without case or accents;
2. secondary: accents (``e`` < ``é``);
3. tertiary: lowercase before uppercase (``a`` < ``A`` < ``b``).

It is exact for ASCII letters, digits, spaces and punctuation, and deterministic for the rest.
"""

from __future__ import annotations

import functools
import unicodedata

# ICU root order of the ASCII whitespace, punctuation and symbols (all before digits).
_ICU_PUNCTUATION = "\t\n\v\f\r _-,;:!?.'\"()[]{}@*/\\&#%`^+<=>|~$"
_PUNCTUATION_RANK = {ch: rank for rank, ch in enumerate(_ICU_PUNCTUATION)}

_PUNCTUATION, _DIGIT, _LETTER, _OTHER = 0, 1, 2, 3


def _primary(base: str) -> tuple[int, int]:
    if base in _PUNCTUATION_RANK:
        return (_PUNCTUATION, _PUNCTUATION_RANK[base])
    if base.isdigit():
        return (_DIGIT, ord(base))
    if base.isalpha():
        return (_LETTER, ord(base.casefold()[0]))
    if base.isspace():
        return (_PUNCTUATION, -1)
    return (_OTHER, ord(base))


@functools.lru_cache(maxsize=65536)
def collation_key(text: str) -> tuple:
    """A sort key such that ``sorted(values, key=collation_key)`` orders like ``localeCompare``."""
    primary: list[tuple[int, int]] = []
    secondary: list[str] = []
    tertiary: list[int] = []
    for ch in text:
        decomposed = unicodedata.normalize("NFD", ch)
        base, accents = decomposed[0], decomposed[1:]
        primary.append(_primary(base))
        secondary.append(accents)
        tertiary.append(1 if base.isupper() else 0)
    # The raw text last makes distinct strings with equal ICU weights still order one way.
    return (tuple(primary), tuple(secondary), tuple(tertiary), text)


def locale_compare(a: str, b: str) -> int:
    """-1, 0 or 1, as ``a.localeCompare(b)`` (sign only)."""
    ka, kb = collation_key(a), collation_key(b)
    return (ka > kb) - (ka < kb)

"""SPARQL and Turtle text split into tokens by one regular expression, in linear time: the
scans that run before a parser (:mod:`provml.endpoint.limits`) and the rewrite of an update's
dataset (:mod:`provml.store.update_dataset`).

A tokenizer's pattern holds ``{long}`` where the long-string forms (``'''…'''``,
``\"\"\"…\"\"\"``) go, a group named ``bad`` for a quote that opens no string, and a group for
strings. Two things kept it from linear time (regex audit, 18th session; an 80 KB query took
13 s, 1 MB would take half an hour):

- a quote that opened no string was read on to its line's end, and then the next one: a
  ``bad`` quote is refused at once (a syntax error in SPARQL and Turtle alike);
- a ``'''`` with no end was read on to the text's end, and then each later one: once one has no
  end, no later one has either (the failed scan read each later quote as part of it), so the
  long form of that quote is dropped from the pattern from there on.

>>> lexer = Lexer(r"(?P<str>{long}'[^'\\n]*+')|(?P<bad>')|(?P<other>[^'\\s]+)", "str")
>>> [m.group() for m in lexer.tokens("a '''b''' 'c'", ValueError)]
['a', "'''b'''", "'c'"]
>>> list(lexer.tokens("a 'b", ValueError))
Traceback (most recent call last):
ValueError: the text has a string with no closing quote (at character 2): close it on its line
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

__all__ = ["Lexer"]

#: the long strings, single- and double-quoted: possessive (a backtracking point a character
#: took a 5 MB literal to 650 MB)
LONG_STRINGS = (r"'''(?:[^'\\]|\\.|'(?!''))*+'''", r'"""(?:[^"\\]|\\.|"(?!""))*+"""')


class Lexer:
    """One tokenizer: ``template`` (a verbose pattern, ``{long}`` where the long strings go,
    ``{name}`` where ``parts[name]`` goes, every other brace doubled) and the name of its
    strings' group."""

    def __init__(self, template: str, string_group: str, **parts: str) -> None:
        self.template = template
        self.parts = parts
        self.string_group = string_group
        self._patterns: dict[tuple[bool, bool], re.Pattern[str]] = {}
        self.pattern = self._pattern(True, True)

    def _pattern(self, long_single: bool, long_double: bool) -> re.Pattern[str]:
        key = (long_single, long_double)
        if key not in self._patterns:
            long = "".join(f"{s}|" for s, on in zip(LONG_STRINGS, key, strict=True) if on)
            self._patterns[key] = re.compile(self.template.format(long=long, **self.parts),
                                             re.VERBOSE | re.DOTALL)
        return self._patterns[key]

    def tokens(self, text: str, refuse: Callable[[str], Exception]) -> Iterator[re.Match[str]]:
        """The tokens of ``text``, as ``self.pattern.finditer`` gives them, in linear time.

        :raises Exception: ``refuse(message)`` at a quote that opens no string.
        """
        long_single = long_double = True
        pos = 0
        while True:
            for match in self._pattern(long_single, long_double).finditer(text, pos):
                if match.lastgroup == "bad":
                    raise refuse(f"the text has a string with no closing quote (at character "
                                 f"{match.start():,}): close it on its line")
                yield match
                if match.lastgroup == self.string_group and match.end() - match.start() == 2:
                    quote = text[match.start()]
                    if text.startswith(quote, match.end()) and (
                            long_single if quote == "'" else long_double):
                        # ''' (or """) was no long string: it has no end, nor has a later one
                        long_single = long_single and quote != "'"
                        long_double = long_double and quote != '"'
                        pos = match.end()
                        break
            else:
                return

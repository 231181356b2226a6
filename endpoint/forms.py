"""Form bodies (``application/x-www-form-urlencoded``) decoded in bounded memory.

Werkzeug decodes such a body with ``urllib.parse.parse_qsl`` on the whole text, whose
percent-decoding splits it at every ``%``: one object an escape. Measured (Python 3.11): 16 MiB
of ``%01`` peaked at 1.3 GB, and a 23 MiB ``INSERT DATA`` form as SPARQLWrapper sends it at
1.1 GB; a token holder's 64 MiB form took gigabytes. Here each field is percent-decoded with the
same function (``urllib.parse.unquote_to_bytes``) a slice of :data:`SLICE` bytes at a time,
never cutting an escape, into one buffer: a form costs a few times its size. A form with more
than :data:`MAX_FIELDS` fields is refused (413): each field is an object or two, and the
SPARQL protocol's forms have a handful (the dataset parameters at most
:data:`~provml.endpoint.sparql.protocol.MAX_GRAPH_PARAMS` each). A field that is not UTF-8
once decoded is refused (400) rather than changed.

>>> decode_form(b"query=ASK+%7B%7D&default-graph-uri=http%3A%2F%2Fe.org%2Fg&empty")
[('query', 'ASK {}'), ('default-graph-uri', 'http://e.org/g'), ('empty', '')]
"""

from __future__ import annotations

import re
from typing import IO, Any
from urllib.parse import unquote_to_bytes

from flask import Request
from werkzeug.datastructures import MultiDict
from werkzeug.formparser import FormDataParser
from werkzeug.utils import cached_property

from provml.endpoint.errors import ApiError

__all__ = ["MAX_FIELDS", "SLICE", "BoundedFormParser", "BoundedRequest", "decode_form"]

#: bytes percent-decoded at a time (``unquote_to_bytes`` makes an object an escape: a 64 KiB slice
#: of escapes ≈ 5 MB; 1 MiB slices took 78 MB each)
SLICE = 1 << 16
#: the most fields a form may have
MAX_FIELDS = 10_000

_FORM = "application/x-www-form-urlencoded"
#: a non-empty name=value pair (runs of "&" are passed over in C: a Python loop over 64 MiB of
#: "&" took 10 s)
_PAIR = re.compile(rb"[^&]+")


def decode_form(data: bytes) -> list[tuple[str, str]]:
    """The fields of a form body, as ``parse_qsl(keep_blank_values=True)`` gives them.

    :raises ApiError: 413 for more than :data:`MAX_FIELDS` fields; 400 for a name or value
        that is not UTF-8 once decoded.
    """
    fields: list[tuple[str, str]] = []
    for pair in _PAIR.finditer(data):  # (empty pairs are skipped, as parse_qsl skips them)
        start, stop = pair.span()
        if len(fields) == MAX_FIELDS:
            raise ApiError(413, f"the form has more than {MAX_FIELDS} fields; send fewer "
                                "(or the operation as its own body)")
        equals = data.find(b"=", start, stop)
        if equals < 0:
            equals = stop
        name = _unquote(data, start, equals)
        fields.append((name, _unquote(data, equals + 1, stop, name) if equals < stop else ""))
    return fields


def _unquote(data: bytes, start: int, stop: int, field: str | None = None) -> str:
    """``data[start:stop]`` with ``+`` as a space and its escapes decoded, a slice at a time."""
    decoded: bytes | bytearray
    if stop - start <= SLICE:  # (most fields: one slice, and most of those without an escape)
        piece = data[start:stop]
        escaped = b"%" in piece or b"+" in piece
        decoded = unquote_to_bytes(piece.replace(b"+", b" ")) if escaped else piece
    else:
        buffer = bytearray()
        while start < stop:
            cut = min(start + SLICE, stop)
            if cut < stop:  # never between a "%" and its two digits
                escape = data.rfind(b"%", cut - 2, cut)
                if escape > start:
                    cut = escape
            buffer += unquote_to_bytes(data[start:cut].replace(b"+", b" "))
            start = cut
        decoded = buffer
    try:
        return decoded.decode("utf-8")
    except UnicodeDecodeError as exc:
        what = f"the parameter {field[:100]!r}" if field is not None else "a parameter's name"
        raise ApiError(400, f"{what} is not UTF-8 once percent-decoded (byte {exc.start}); "
                            "percent-encode its UTF-8 bytes") from None


class BoundedFormParser(FormDataParser):
    """Werkzeug's form parser with url-encoded bodies decoded by :func:`decode_form`
    (multipart bodies as Werkzeug parses them: a stream, each field's memory capped)."""

    def parse(self, stream: IO[bytes], mimetype: str, content_length: int | None,
              options: dict[str, str] | None = None) -> Any:
        if mimetype != _FORM:
            return super().parse(stream, mimetype, content_length, options)
        return stream, self.cls(decode_form(stream.read())), self.cls()


class BoundedRequest(Request):
    """The endpoint's request: forms through :class:`BoundedFormParser`, and the URL's query
    string decoded as a form is (:func:`decode_form`): a parameter that is not UTF-8 is refused
    (400), as in a body, where Werkzeug replaced its bad bytes with U+FFFD and a query asked
    for something else than what was sent (a hostile probe, twentieth session)."""

    form_data_parser_class = BoundedFormParser

    @cached_property
    def args(self) -> MultiDict[str, str]:  # type: ignore[override]
        return self.parameter_storage_class(
            decode_form(self.environ.get("QUERY_STRING", "").encode("latin-1")))

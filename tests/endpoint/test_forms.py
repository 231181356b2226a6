"""Form bodies decoded a slice at a time (``provml.endpoint.forms``): the same fields as
``urllib.parse.parse_qsl`` (what Werkzeug decodes them with), wherever a slice ends; too many
fields and bytes that are not UTF-8 refused in the one error shape. (Its memory, over a real
socket: ``test_hostile.py``.)"""

from __future__ import annotations

import random
from urllib.parse import parse_qsl

import pytest
from flask.testing import FlaskClient

from provml.endpoint import forms

PIECES = ["a", "b", "%", "+", "=", "&", "%41", "%2B", "%26", "%3D", "%zz", "%C3%A9", "é", "4",
          "1", "C3", "%%", "query"]


@pytest.mark.parametrize("slice_bytes", [3, 4, 5, 7, 1 << 20])
def test_fields_are_parse_qsls_wherever_a_slice_ends(monkeypatch: pytest.MonkeyPatch,
                                                     slice_bytes: int) -> None:
    monkeypatch.setattr(forms, "SLICE", slice_bytes)
    rnd = random.Random(slice_bytes)
    for _ in range(4_000):
        data = "".join(rnd.choice(PIECES) for _ in range(rnd.randint(0, 40))).encode()
        try:
            expected: object = parse_qsl(data.decode(), keep_blank_values=True, errors="strict")
        except UnicodeDecodeError:
            expected = "not UTF-8"
        try:
            got: object = forms.decode_form(data)
        except forms.ApiError:
            got = "not UTF-8"
        assert got == expected, data


def test_a_form_is_read_by_the_endpoint_and_its_limits_answer_in_the_error_shape(
        client: FlaskClient) -> None:
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    answer = client.post("/sparql", data=b"query=ASK+%7B+%7D", headers=form)
    assert answer.status_code == 200 and answer.get_json()["boolean"] is True
    many = b"&".join(b"x=%d" % i for i in range(forms.MAX_FIELDS + 1))
    answer = client.post("/sparql", data=b"query=ASK+%7B%7D&" + many, headers=form)
    assert answer.status_code == 413
    assert answer.get_json()["ok"] is False and "more than 10000 fields" in answer.get_json()["error"]
    answer = client.post("/sparql", data=b"query=ASK+%7B%7D%FF", headers=form)
    assert answer.status_code == 400
    assert "'query' is not UTF-8" in answer.get_json()["error"]


def test_a_url_parameter_that_is_not_utf8_is_refused_as_in_a_body(client: FlaskClient) -> None:
    """The URL's query string was decoded by Werkzeug, its bad bytes replaced with U+FFFD: a
    GET answered 200 for another query than the one sent, where the same bytes in a body got
    a 400 (a hostile probe, 20th session)."""
    for path in ("/sparql?query=ASK+%7B%7D%FF", "/sparql?query=SELECT+*+%7B+%3Fs+%3Fp+%22%C3%28%22+%7D",
                 "/api/queries/q4?training_set=%FF"):
        answer = client.get(path)
        assert answer.status_code == 400, path
        assert "is not UTF-8" in answer.get_json()["error"]
    assert client.get("/sparql?query=ASK+%7B%7D").get_json()["boolean"] is True
    assert client.get("/sparql?query=ASK%20%7B%20%3Fs%20%3Fp%20%22caf%C3%A9%22%20%7D").status_code == 200

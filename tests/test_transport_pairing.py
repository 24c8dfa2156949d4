"""Pairing codes: enough entropy, easy to type, typos caught, never shown by accident."""

from __future__ import annotations

import math
import pickle
import re

import pytest

from blindmatch.errors import UsageError
from blindmatch.protocol import seeded_rng
from blindmatch.transport import PairingCode
from blindmatch.transport.pairing import CODE_DIGITS, damm_check_digit

FORMAT = re.compile(r"^\d{5}-\d{5}-\d{5}$")


def test_generated_codes_have_the_documented_shape_and_entropy() -> None:
    codes = [PairingCode.generate() for _ in range(200)]
    assert all(FORMAT.match(c.reveal()) for c in codes)
    assert len({c.reveal() for c in codes}) == 200
    assert math.log2(10 ** (CODE_DIGITS - 1)) >= 40


def test_damm_check_digit_matches_the_published_example() -> None:
    assert damm_check_digit("572") == "4"  # Damm's and Wikipedia's example
    assert damm_check_digit("5724") == "0"


def test_a_seeded_rng_gives_a_reproducible_code() -> None:
    assert PairingCode.generate(seeded_rng(b"x")) == PairingCode.generate(seeded_rng(b"x"))


@pytest.mark.parametrize(
    "typed",
    [
        "{a}-{b}-{c}",
        "{a}{b}{c}",
        "  {a} {b} {c}  ",
        "{a}.{b}/{c}\n",
        "{a}-{b}-{c}".translate(str.maketrans("0123456789", "０１２３４５６７８９")),
    ],
)
def test_parse_normalizes_what_people_type(typed: str) -> None:
    code = PairingCode.generate(seeded_rng(b"normalize"))
    a, b, c = code.reveal().split("-")
    assert PairingCode.parse(typed.format(a=a, b=b, c=c)) == code


def test_letters_that_look_like_digits_are_read_as_digits() -> None:
    body = "01010101010101"
    code = PairingCode.parse(body + damm_check_digit(body))
    assert PairingCode.parse("oIoLoio1o1O1O1" + damm_check_digit(body)) == code


def test_every_single_typo_and_adjacent_swap_is_caught() -> None:
    digits = PairingCode.generate(seeded_rng(b"typos")).reveal().replace("-", "")
    variants = set()
    for i in range(len(digits)):
        for d in "0123456789":
            variants.add(digits[:i] + d + digits[i + 1 :])
        if i + 1 < len(digits):
            variants.add(digits[:i] + digits[i + 1] + digits[i] + digits[i + 2 :])
    variants.discard(digits)
    for variant in variants:
        with pytest.raises(UsageError, match="typo") as info:
            PairingCode.parse(variant)
        assert variant not in str(info.value)


@pytest.mark.parametrize(
    ("typed", "message"),
    [("12345-67890", "has 10 digits"), ("12345-67890-1234x", "only digits"), ("", "has 0")],
)
def test_bad_input_is_refused_without_echoing_it(typed: str, message: str) -> None:
    with pytest.raises(UsageError, match=message) as info:
        PairingCode.parse(typed)
    assert not typed or typed not in str(info.value)


def test_the_code_never_shows_except_through_reveal() -> None:
    code = PairingCode.generate()
    digits = code.reveal().replace("-", "")
    for text in (
        repr(code),
        str(code),
        f"{code}",
        format(code),
        repr([code]),
        repr({"c": code}),
    ):
        assert digits[:5] not in text
        assert "hidden" in text
    with pytest.raises(TypeError):
        pickle.dumps(code)
    with pytest.raises(TypeError):
        hash(code)
    assert code.secret() == digits.encode()

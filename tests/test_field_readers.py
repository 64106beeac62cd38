"""The shared readers of times (epoch numbers, RFC 3339) and Kubernetes resource quantities."""

import random
import time
from datetime import UTC, datetime, timedelta
from fractions import Fraction

import pytest

from exporter.backends.kit.fields import parse_epoch, parse_quantity, parse_time

DEC_6 = 1796526245  # 2026-12-06T03:04:05Z


@pytest.mark.parametrize(
    ("raw", "seconds"),
    [
        ("2026-12-06T03:04:05Z", DEC_6),
        ("2026-12-06T03:04:05z", DEC_6),
        ("2026-12-06t03:04:05Z", DEC_6),
        ("2026-12-06 03:04:05Z", DEC_6),
        (" 2026-12-06T03:04:05Z\n", DEC_6),
        ("2026-12-06T03:04:05+00:00", DEC_6),
        ("2026-12-06T03:04:05-00:00", DEC_6),
        ("2026-12-06T11:04:05+08:00", DEC_6),
        ("2026-12-06T11:04:05+0800", DEC_6),
        ("2026-12-05T23:34:05-03:30", DEC_6),
        ("2026-12-06T03:04:05.123+08:00", DEC_6 - 8 * 3600 + 0.123),
        ("2026-12-06T03:04:05.5Z", DEC_6 + 0.5),
        ("2026-12-06T03:04:05.000000001Z", DEC_6 + 1e-9),
        ("2026-12-06T03:04:05.1234567891234Z", (DEC_6 * 10**9 + 123456789) / 10**9),
        ("2016-12-31T23:59:60Z", 1483228800),  # a leap second: the next one, as epoch time has it
        ("1970-01-01T00:00:00.5Z", 0.5),
        ("9999-12-31T23:59:59Z", 253402300799),
        ("9999-12-31T23:59:59+23:59", 253402300799 - 23 * 3600 - 59 * 60),
        # epoch numbers: parse_epoch's rules
        (1755484077, 1755484077),
        (1755484077123, 1755484077.123),
        ("1755484077", 1755484077),
        (" 1755484077 ", 1755484077),
        (1755484077.5, 1755484077.5),
    ],
)
def test_times_read(raw: object, seconds: float) -> None:
    assert parse_time(raw) == seconds


@pytest.mark.parametrize(
    "raw",
    [
        "2026-12-06T03:04:05",  # naive: refused, not guessed to be UTC
        "2026-12-06T03:04:05.123",
        "2026-12-06",
        "03:04:05Z",
        "2026-12-06T03:04Z",
        "2026-12-06T03:04:05+08",
        "2026-12-06T03:04:05+8:00",
        "2026-12-06T03:04:05+24:00",
        "2026-12-06T03:04:05+08:60",
        "2026-12-06T03:04:05.Z",
        "2026-12-06T03:04:05ZZ",
        "2026-12-06T03:04:05Z trailing",
        "2026-13-06T03:04:05Z",
        "2026-02-30T03:04:05Z",
        "2026-12-06T24:00:00Z",
        "2026-12-06T03:60:05Z",
        "2026-12-06T03:04:61Z",
        "0000-01-01T00:00:00Z",  # out of range years
        "1969-12-31T23:59:59Z",
        "1970-01-01T00:00:00Z",
        "10000-01-01T00:00:00Z",
        "9999-12-31T23:59:59-00:01",
        "+2026-12-06T03:04:05Z",
        "2026-W49-7T03:04:05Z",
        "20261206T030405Z",
        "٢٠٢٦-12-06T03:04:05Z",  # digits of another script
        "2026-12-06T03:04:05" + "." + "1" * 100 + "Z",
        "",
        "soon",
        "NaN",
        "inf",
        True,
        False,
        None,
        float("nan"),
        float("inf"),
        -5,
        0,
        [],
        ["2026-12-06T03:04:05Z"],
        {"time": "2026-12-06T03:04:05Z"},
        b"2026-12-06T03:04:05Z",
        253402300800000,
    ],
)
def test_unreadable_times_are_unset(raw: object) -> None:
    assert parse_time(raw) is None


@pytest.mark.parametrize(
    "raw",
    [1755484077, 1755484077.5, 1755484077123, " 1755484077 ", "1e300", "9" * 5000, 0, -5, None],
)
def test_epoch_numbers_read_as_parse_epoch_reads_them(raw: object) -> None:
    assert parse_time(raw) == parse_epoch(raw)


def test_hostile_time_strings_cost_nothing() -> None:
    started = time.perf_counter()
    for raw in ("9" * 10_000_000, "2026-12-06T03:04:05Z" * 500_000, "-" * 10_000_000):
        assert parse_time(raw) is None
    assert time.perf_counter() - started < 1.0


@pytest.mark.parametrize(
    ("raw", "amount"),
    [
        # the examples of the task and of Kubernetes' documentation
        ("500m", 0.5),
        ("4Gi", 4 * 2**30),
        ("1.5", 1.5),
        ("2e3", 2000),
        ("128974848", 128974848),
        ("129e6", 129e6),
        ("123Mi", 128974848),
        ("1k", 1000),
        ("0.1", 0.1),
        ("100m", 0.1),
        ("1.5Gi", 1536 * 2**20),
        # every suffix (apimachinery's quantity_test.go)
        ("0", 0),
        ("0n", 0),
        ("0Ki", 0),
        ("5n", 5e-9),
        ("4u", 4e-6),
        ("3m", 0.003),
        ("8k", 8000),
        ("7M", 7e6),
        ("6G", 6e9),
        ("5T", 5e12),
        ("2P", 2e15),
        ("1E", 1e18),
        ("8Ki", 8 * 2**10),
        ("7Mi", 7 * 2**20),
        ("6Gi", 6 * 2**30),
        ("5Ti", 5 * 2**40),
        ("4Pi", 4 * 2**50),
        ("3Ei", 3 * 2**60),
        ("1E-3", 0.001),
        ("1e3", 1000),
        ("1E18", 1e18),
        ("1.3E+6", 1.3e6),
        ("0.5e-2", 0.005),
        ("100.035k", 100035),
        ("0.0005k", 0.5),
        ("10.035M", 10035000),
        ("8.1k", 8100),
        ("0.025Ti", 0.025 * 2**40),
        ("-1.025Ti", -1.025 * 2**40),
        # signs, and the number forms of the grammar
        ("+1k", 1000),
        ("-500m", -0.5),
        ("5.", 5),
        (".5", 0.5),
        ("1.G", 1e9),
        (".5Ki", 512),
        ("007", 7),
        ("1n", 1e-9),
        ("1e-400", 0),
        # spaces around, as Kubernetes' JSON decoding trims them
        (" 4Gi ", 4 * 2**30),
        ("\t1\n", 1),
        # numbers as JSON sends them
        (4, 4),
        (1.5, 1.5),
        (-2, -2),
    ],
)
def test_quantities_read(raw: object, amount: float) -> None:
    assert parse_quantity(raw) == amount


@pytest.mark.parametrize(
    "raw",
    [
        # apimachinery's invalid examples
        "1.1.M",
        "1+1.0M",
        "0.1mi",
        "0.1am",
        "aoeu",
        ".5i",
        "1i",
        "-3.01i",
        "-3.01e-",
        # neither suffix nor exponent, or both
        "1e",
        "1E+",
        "1e3k",
        "1ki",
        "1K",
        "1KB",
        "1Gb",
        "4 Gi",
        "1e1.5",
        "1kk",
        "Gi",
        "",
        " ",
        ".",
        "+",
        "-",
        "-.",
        "+-1",
        "1_000",
        "١٢٣",  # digits of another script
        "\uff11\uff12",  # full-width digits
        "nan",
        "inf",
        "Infinity",
        "0x10",
        # beyond a signed 64-bit integer
        "9223372036854775808",
        "8Ei",
        "9.3E",
        "1e19",
        "1e999999999999",
        "-8Ei",
        "1" + "0" * 80,
        # not a quantity's type
        True,
        False,
        None,
        float("nan"),
        float("inf"),
        2**63,
        [],
        ["1k"],
        {"memory": "4Gi"},
        b"4Gi",
    ],
)
def test_unreadable_quantities_are_unset(raw: object) -> None:
    assert parse_quantity(raw) is None


def test_hostile_quantity_strings_cost_nothing() -> None:
    started = time.perf_counter()
    for raw in ("1" * 10_000_000, "1." + "0" * 10_000_000 + "Gi", "1e" + "9" * 10_000_000):
        assert parse_quantity(raw) is None
    assert time.perf_counter() - started < 1.0


def _offset(rng: random.Random) -> tuple[str, timedelta]:
    """A random offset (sometimes ``Z``) as text and as the time it adds to UTC."""
    if rng.random() < 0.2:
        return rng.choice("Zz"), timedelta()
    minutes = rng.randint(-(24 * 60 - 1), 24 * 60 - 1)
    sign = "-" if minutes < 0 or (minutes == 0 and rng.random() < 0.5) else "+"
    hours, rest = divmod(abs(minutes), 60)
    return f"{sign}{hours:02}{rng.choice([':', ''])}{rest:02}", timedelta(minutes=minutes)


@pytest.mark.parametrize("seed", range(4))
def test_any_time_formatted_with_any_offset_reads_back_as_its_instant(seed: int) -> None:
    rng = random.Random(seed)
    for _ in range(2500):
        whole = rng.randint(2 * 86400, 253402300799 - 2 * 86400)
        digits = rng.randint(0, 9)
        fraction = rng.randrange(10**digits) if digits else 0
        offset_text, offset = _offset(rng)
        local = datetime.fromtimestamp(whole, UTC).replace(tzinfo=None) + offset
        text = local.isoformat(sep=rng.choice("Tt ")) + (f".{fraction:0{digits}}" if digits else "")
        expected = float(Fraction(whole) + Fraction(fraction, 10**digits))
        assert parse_time(text + offset_text) == expected, text + offset_text


_FACTORS = {
    **{
        suffix: Fraction(10) ** power
        for suffix, power in {
            "": 0,
            "n": -9,
            "u": -6,
            "m": -3,
            "k": 3,
            "M": 6,
            "G": 9,
            "T": 12,
            "P": 15,
            "E": 18,
        }.items()
    },
    **{
        suffix: Fraction(2) ** power
        for suffix, power in {"Ki": 10, "Mi": 20, "Gi": 30, "Ti": 40, "Pi": 50, "Ei": 60}.items()
    },
    **{f"e{power}": Fraction(10) ** power for power in range(-12, 13)},
    **{f"E+{power}": Fraction(10) ** power for power in range(0, 13)},
}


def _amount(rng: random.Random) -> tuple[str, Fraction]:
    """A random decimal number, as its text and its exact value."""
    places = rng.choice([0, 0, 1, 3, 6])
    scaled = rng.randint(-(10**12), 10**12)
    if not places:
        return str(scaled), Fraction(scaled)
    sign = "-" if scaled < 0 else ""
    whole, rest = divmod(abs(scaled), 10**places)
    return f"{sign}{whole}.{rest:0{places}}", Fraction(scaled, 10**places)


@pytest.mark.parametrize("seed", range(4))
def test_a_number_with_a_suffix_reads_as_the_number_times_its_factor(seed: int) -> None:
    rng = random.Random(seed)
    for _ in range(2500):
        text, exact = _amount(rng)
        suffix = rng.choice(list(_FACTORS))
        value = exact * _FACTORS[suffix]
        expected = float(value) if abs(float(value)) < 2**63 else None
        assert parse_quantity(text + suffix) == expected, text + suffix

"""The fast exposition parser gives prometheus_client's output on the same inputs, or the library's own error."""

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bench.scrape import dcgm_exposition
from telemetry.collectors.prometheus import _fast_samples, _OutsideSubset, parse_samples, parse_samples_library

FIXTURES = sorted((Path(__file__).parents[2] / "fixtures" / "prometheus").glob("*.prom"))


def comparable(samples):
    # NaN != NaN: compare floats by their repr so that two NaNs are equal and -0.0 differs from 0.0.
    return [(s.name, s.labels, repr(s.value), s.timestamp) for s in samples]


def outcome(parser, text):
    try:
        return "ok", comparable(parser(text))
    except ValueError as exc:  # the library's way of saying "malformed"
        return "error", type(exc).__name__


@pytest.mark.parametrize("path", FIXTURES, ids=lambda p: p.name)
def test_fixtures_are_read_by_the_fast_path_and_equal_the_library(path):
    text = path.read_text()
    assert comparable(_fast_samples(text)) == comparable(parse_samples_library(text))


def test_large_dcgm_exposition_equals_the_library():
    text = dcgm_exposition(64, seed=3)
    fast = _fast_samples(text)
    assert len(fast) == 64 * 29
    assert comparable(fast) == comparable(parse_samples_library(text))


def test_lines_outside_the_subset_are_left_to_the_library():
    text = 'x{a = "1"} 1\n'  # spaces around '=': legal for the library, not in the fast subset
    with pytest.raises(_OutsideSubset):
        _fast_samples(text)
    assert comparable(parse_samples(text)) == comparable(parse_samples_library(text))


def test_garbage_is_rejected_like_the_library_does():
    for text in ('DCGM_FI_DEV_GPU_TEMP{gpu="0" 5\n', "<html>oops</html>\n", 'x{__name__="y"} 1\n', "x 1 2 3 4\n"):
        assert outcome(parse_samples, text) == outcome(parse_samples_library, text), text


names = st.sampled_from(["DCGM_FI_DEV_GPU_UTIL", "node_load1", "x_total", "a:b", "_x", "9bad", "x-y", "ipmi_up"])
label_names = st.sampled_from(["gpu", "UUID", "Hostname", "hostname", "le", "__r", "a1", "1a", "x y"])
label_values = st.lists(st.sampled_from(list('aZ09 ,={}"\\\t#-.') + ["\\\\", '\\"', "\\n", "é"]), max_size=6).map(
    "".join
)
values = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.sampled_from(["NaN", "+Inf", "-Inf", "1e3", "1_0", "", "0x10", "9223372036854775794", "1.5.2", "٣"]),
)
separators = st.sampled_from([",", ", ", " ,", ",,", ""])


@st.composite
def sample_line(draw):
    name = draw(names)
    if draw(st.booleans()):
        pairs = [f'{draw(label_names)}="{draw(label_values)}"' for _ in range(draw(st.integers(0, 3)))]
        labels = "{" + draw(separators).join(pairs) + draw(st.sampled_from(["", ","])) + "}"
    else:
        labels = ""
    line = f"{name}{labels}{draw(st.sampled_from([' ', '  ', chr(9), '']))}{draw(values)}"
    if draw(st.booleans()):
        line += " " + draw(st.sampled_from(["1718000000000", "-5", "1.5", "x", "1 2"]))
    return line


comment_lines = st.sampled_from(
    [
        "# HELP x Some help",
        "# TYPE x counter",
        "# TYPE x_total counter",
        "# TYPE x gauge",
        "# TYPE x",
        "# HELP",
        "# a comment",
        "#TYPE x gauge",
        "# TYPE x histogram",
        "# HELP x  two  spaces",
        "",
        "   ",
    ]
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.one_of(sample_line(), comment_lines), max_size=12))
def test_generated_expositions_give_the_same_samples_or_the_same_error(lines):
    text = "\n".join(lines) + "\n"
    assert outcome(parse_samples, text) == outcome(parse_samples_library, text)


escaped_values = st.lists(st.sampled_from(list("aZ09 ,={}#-.\t") + ["\\\\", '\\"', "\\n", "\\t", "é"]), max_size=6).map(
    "".join
)


@st.composite
def subset_line(draw):
    # Lines inside the fast subset (what exporters print), so the fast path itself is what gets compared.
    pairs = [
        f'{draw(st.sampled_from(["gpu", "UUID", "Hostname", "le"]))}{i}="{draw(escaped_values)}"'
        for i in range(draw(st.integers(0, 4)))
    ]
    labels = "{" + draw(st.sampled_from([",", ", "])).join(pairs) + "}" if pairs or draw(st.booleans()) else ""
    value = draw(st.one_of(st.integers(-(2**66), 2**66).map(str), st.floats().map(repr)))
    return f"{draw(names.filter(lambda n: n[0] != '9' and '-' not in n))}{labels} {value}"


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(subset_line(), comment_lines.filter(lambda c: c not in ("# TYPE x", "# HELP"))), max_size=12))
def test_generated_exporter_output_takes_the_fast_path_and_equals_the_library(lines):
    text = "\n".join(lines) + "\n"
    assert comparable(_fast_samples(text)) == comparable(parse_samples_library(text))

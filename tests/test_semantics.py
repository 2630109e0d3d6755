"""The Semantics record: validated, frozen, serialisable, described."""

from __future__ import annotations

import dataclasses
import json
import math

import pytest

import spikecore as sc
from spikecore import semantics as S

ALL_FIELDS = {"integrator": S.INTEGRATORS, "reset": S.RESETS,
              "input_meaning": S.INPUT_MEANINGS, "update_order": S.UPDATE_ORDERS}


def test_defaults():
    s = sc.Semantics(dt=1e-3)
    assert (s.integrator, s.reset, s.input_meaning, s.update_order, s.spike_condition) == (
        "euler", "to_value", "current", "current_first", "v > v_threshold")


@pytest.mark.parametrize("field, allowed", list(ALL_FIELDS.items()))
def test_every_allowed_value_accepted(field, allowed):
    for value in allowed:
        assert getattr(sc.Semantics(dt=1e-3, **{field: value}), field) == value


@pytest.mark.parametrize("field, allowed", list(ALL_FIELDS.items()))
def test_invalid_choice_lists_allowed(field, allowed):
    with pytest.raises(sc.GraphError) as info:
        sc.Semantics(dt=1e-3, **{field: "bogus"})
    msg = str(info.value)
    assert f"{field}='bogus'" in msg
    for value in allowed:
        assert repr(value) in msg


def test_spike_condition_is_fixed():
    with pytest.raises(sc.GraphError, match="spike_condition"):
        sc.Semantics(dt=1e-3, spike_condition="v >= v_threshold")


@pytest.mark.parametrize("dt", [0, -1e-3, math.nan, math.inf, "fast", None])
def test_bad_dt(dt):
    with pytest.raises(sc.GraphError, match="dt="):
        sc.Semantics(dt=dt)


def test_several_problems_listed_together():
    with pytest.raises(sc.GraphError) as info:
        sc.Semantics(dt=-1.0, integrator="rk4", reset="zero")
    assert len(info.value.problems) == 3


def test_frozen():
    s = sc.Semantics(dt=1e-3)
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.dt = 2e-3
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.reset = "subtract"


def test_replace_validates_and_copies():
    s = sc.Semantics(dt=1e-3)
    t = s.replace(reset="subtract", dt=5e-4)
    assert (t.reset, t.dt, s.reset, s.dt) == ("subtract", 5e-4, "to_value", 1e-3)
    with pytest.raises(sc.GraphError, match="reset="):
        s.replace(reset="hard")


def test_equality_and_hash():
    a = sc.Semantics(dt=1e-3, integrator="exact")
    assert a == sc.Semantics(dt=1e-3, integrator="exact")
    assert a != a.replace(integrator="euler")
    assert len({a, sc.Semantics(dt=1e-3, integrator="exact")}) == 1


def test_dict_round_trip_every_combination():
    for integ in S.INTEGRATORS:
        for reset in S.RESETS:
            for meaning in S.INPUT_MEANINGS:
                for order in S.UPDATE_ORDERS:
                    s = sc.Semantics(dt=2.5e-4, integrator=integ, reset=reset,
                                     input_meaning=meaning, update_order=order)
                    d = s.to_dict()
                    assert json.loads(json.dumps(d)) == d  # JSON-safe
                    assert sc.Semantics.from_dict(d) == s
                    assert type(d["dt"]) is float


def test_to_dict_makes_numpy_dt_plain():
    import numpy as np

    s = sc.Semantics(dt=np.float32(1e-3))
    assert type(s.to_dict()["dt"]) is float


def test_from_dict_ignores_unknown_keys_and_needs_dt():
    s = sc.Semantics.from_dict({"dt": 1e-3, "reset": "subtract", "comment": "x"})
    assert s == sc.Semantics(dt=1e-3, reset="subtract")
    with pytest.raises(sc.GraphError, match="no 'dt'"):
        sc.Semantics.from_dict({"reset": "subtract"})


def test_describe_states_every_choice():
    s = sc.Semantics(dt=1e-4, integrator="exact", reset="subtract", input_meaning="increment",
                     update_order="voltage_first")
    text = s.describe()
    for fragment in ("dt=0.0001 s", "integrator=exact", "reset=subtract", "input=increment",
                     "order=voltage_first", "v > v_threshold"):
        assert fragment in text


def test_brian2_time_quantities_are_accepted_as_seconds():
    """``dt=0.1*ms`` (Semantics, replace, read) is stored as float seconds; a quantity of
    another dimension, or an array of times, is refused naming it; strings and bools stay
    refused."""
    b2 = pytest.importorskip("brian2")
    s = sc.Semantics(dt=0.1 * b2.ms)
    assert s.dt == pytest.approx(1e-4) and type(s.dt) is float
    assert s.replace(dt=2 * b2.ms).dt == pytest.approx(2e-3)
    assert json.loads(json.dumps(s.to_dict()))["dt"] == pytest.approx(1e-4)
    for bad, says in ((0.1 * b2.mV, "not a time"), (3 * b2.ms * b2.ms, "not a time"),
                      (b2.Quantity(3.0), "dimensionless"), ([1.0, 2.0] * b2.ms, "one step length"),
                      (-1 * b2.ms, "positive finite")):
        with pytest.raises(sc.GraphError) as info:
            sc.Semantics(dt=bad)
        assert says in str(info.value) and "dt=" in str(info.value)
    for bad in ("1e-3", True):
        with pytest.raises(sc.GraphError, match="expected a positive number of seconds"):
            sc.Semantics(dt=bad)


def test_read_accepts_a_brian2_dt():
    b2 = pytest.importorskip("brian2")
    from importlib.resources import files

    path = files("spikecore") / "data" / "lif_norse.nir"
    g = sc.read(path, dialect="norse", dt=0.1 * b2.ms)
    assert g.semantics.dt == pytest.approx(1e-4)
    assert sc.read(path, dialect="norse", dt=1e-4).semantics == g.semantics
    with pytest.raises(sc.GraphError, match="not a time"):
        sc.read(path, dialect="norse", dt=1 * b2.volt)

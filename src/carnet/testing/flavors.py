"""A conformance check for model flavors: run :func:`check_flavor` on your plugin in its tests.

Example::

    from carnet.testing import check_flavor

    def test_my_flavor() -> None:
        model = MyModel().fit(X, y)
        report = check_flavor(MyFlavor(), model, X)
        assert report["round_trip"]
"""

from __future__ import annotations

import io
import pickle
import zipfile
from typing import Any

from carnet.errors import ArtifactCorrupted, InvalidInput, PermissionDenied
from carnet.plugins.api import Flavor
from carnet.plugins.loader import PLUGIN_KINDS, protocol_members

__all__ = ["check_flavor"]

#: errors ``loads`` may raise for bytes it cannot use
LOAD_ERRORS = (InvalidInput, ArtifactCorrupted, PermissionDenied)

_TRIPPED: list[str] = []


def _tripwire(label: str) -> None:
    """Called only if a flavor unpickles the payload below: records that code ran."""
    _TRIPPED.append(label)


class _Payload:
    """Pickles into a call of :func:`_tripwire` (harmless, but detectable)."""

    def __reduce__(self) -> tuple[Any, tuple[str]]:
        return (_tripwire, ("pickle payload executed",))


def _zip_of_nonsense() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("schema.json", "{not json")
        zf.writestr("carnet.json", '{"format": "nonsense", "format_version": 1}')
        zf.writestr("model.txt", "tree\nnonsense")
    return buf.getvalue()


def _garbage() -> dict[str, bytes]:
    return {
        "empty": b"",
        "text": b"this is not a model file\n",
        "binary": bytes(range(256)) * 8,
        "zip": _zip_of_nonsense(),
    }


def _fail(flavor: Any, message: str) -> AssertionError:
    return AssertionError(f"flavor {getattr(flavor, 'name', flavor)!r}: {message}")


def _difference(expected: Any, got: Any, tolerance: float | None) -> str | None:
    """Why ``got`` does not match ``expected`` (None when it does)."""
    import numpy as np

    a, b = np.asarray(expected), np.asarray(got)
    if a.shape != b.shape:
        return f"shape {b.shape} instead of {a.shape}"
    if a.dtype.kind in "biuf" and b.dtype.kind in "biuf":
        tol = float(tolerance or 0.0)
        mask = ~np.isclose(a, b, rtol=tol, atol=tol, equal_nan=True)
    else:
        mask = np.asarray(a != b, dtype=bool)
    if not mask.any():
        return None
    where = tuple(int(i) for i in np.argwhere(mask.reshape(a.shape))[0])
    return f"{int(mask.sum())} value(s) differ, first at {where}: expected {a[where]!r}, got {b[where]!r}"


def _check_tripwire(flavor: Any, before: int) -> None:
    if len(_TRIPPED) != before:
        raise _fail(flavor, "loads ran code from a pickle payload (without allow_pickle=True)")


def _expect_load_error(flavor: Any, data: bytes, label: str, *, allow_pickle: bool) -> str:
    """The name of the carnet error ``loads(data)`` raises; AssertionError for anything else."""
    before = len(_TRIPPED)
    try:
        flavor.loads(data, trusted=(), allow_pickle=allow_pickle)
    except LOAD_ERRORS as exc:
        _check_tripwire(flavor, before)
        return type(exc).__name__
    except Exception as exc:  # noqa: BLE001 - the point: any other exception is a violation
        _check_tripwire(flavor, before)
        raise _fail(
            flavor,
            f"loads({label} bytes) raised {type(exc).__module__}.{type(exc).__name__} ({exc}); "
            "raise InvalidInput (or PermissionDenied / ArtifactCorrupted) from carnet.errors instead",
        ) from exc
    _check_tripwire(flavor, before)
    raise _fail(flavor, f"loads({label} bytes) returned a model instead of raising InvalidInput")


def check_flavor(flavor: Any, model: Any, X: Any, *, allow_pickle: bool = False) -> dict[str, Any]:
    """Check that ``flavor`` honours the :class:`~carnet.flavors.Flavor` contract on ``model``.

    Checks: the protocol members, ``can_save(model)``, ``dumps`` returning bytes, a round trip
    predicting what ``model`` predicts on ``X`` (exactly, or within the flavor's ``tolerance``;
    ``predict_proba`` too when the model has it), garbage and pickle-payload bytes refused with
    a carnet error and without running code, and for ``requires_opt_in`` flavors a
    PermissionDenied without ``allow_pickle``.

    Args:
        flavor: the flavor instance under test.
        model: a fitted model the flavor should store.
        X: inputs to compare predictions on.
        allow_pickle: pass True to let an opt-in (pickle) flavor load for the round trip.

    Returns:
        A small report: name, size in bytes, whether two dumps are byte-identical, which
        methods were compared, and the error each kind of bad input raised.

    Raises:
        AssertionError: naming the first violation.
    """
    missing = [m for m in protocol_members(PLUGIN_KINDS["flavor"].protocol) if not hasattr(flavor, m)]
    if missing or not isinstance(flavor, Flavor):
        raise _fail(flavor, f"does not implement the Flavor protocol: missing {', '.join(missing) or '?'}")
    for attr in ("name", "file_name"):
        value = getattr(flavor, attr)
        if not isinstance(value, str) or not value.strip():
            raise _fail(flavor, f"{attr} must be a non-empty string, got {value!r}")
    if not isinstance(flavor.requires_opt_in, bool):
        raise _fail(flavor, f"requires_opt_in must be a bool, got {flavor.requires_opt_in!r}")
    tolerance = getattr(flavor, "tolerance", None)
    if tolerance is not None and (not isinstance(tolerance, int | float) or tolerance < 0):
        raise _fail(flavor, f"tolerance must be a non-negative number, got {tolerance!r}")
    if flavor.can_save(model) is not True:
        raise _fail(flavor, f"can_save({type(model).__name__}) is not True")
    try:
        data = flavor.dumps(model)
    except Exception as exc:  # noqa: BLE001 - reported as a violation
        raise _fail(flavor, f"dumps(model) failed although can_save(model) is True: {exc!r}") from exc
    if not isinstance(data, bytes) or not data:
        raise _fail(flavor, f"dumps must return non-empty bytes, got {type(data).__name__}")
    report: dict[str, Any] = {
        "flavor": flavor.name,
        "file_name": flavor.file_name,
        "bytes": len(data),
        "deterministic": flavor.dumps(model) == data,
        "tolerance": tolerance,
        "compared": [],
        "round_trip": False,
    }
    payload = pickle.dumps(_Payload(), protocol=5)
    if flavor.requires_opt_in:
        for label, blob in (("its own", data), ("a pickle payload", payload)):
            before = len(_TRIPPED)
            try:
                flavor.loads(blob, trusted=(), allow_pickle=False)
            except PermissionDenied as exc:
                _check_tripwire(flavor, before)
                if "allow_pickle" not in str(exc) or "\n" in str(exc):
                    raise _fail(
                        flavor, f"the refusal must be one line naming allow_pickle=True: {exc}"
                    ) from exc
            except Exception as exc:  # noqa: BLE001 - anything but PermissionDenied is a violation
                raise _fail(flavor, f"loads({label} bytes) without allow_pickle raised {exc!r}") from exc
            else:
                raise _fail(flavor, "requires_opt_in is True but loads worked without allow_pickle=True")
    if not flavor.requires_opt_in or allow_pickle:
        try:
            loaded = flavor.loads(data, trusted=(), allow_pickle=allow_pickle)
        except Exception as exc:  # noqa: BLE001 - reported as a violation
            raise _fail(flavor, f"loads(dumps(model)) failed: {exc!r}") from exc
        for method in ("predict", "predict_proba"):
            if not callable(getattr(model, method, None)):
                continue
            if not callable(getattr(loaded, method, None)):
                raise _fail(flavor, f"the loaded model has no {method}, the original has")
            why = _difference(getattr(model, method)(X), getattr(loaded, method)(X), tolerance)
            if why is not None:
                raise _fail(flavor, f"loads(dumps(model)).{method}(X) differs from model.{method}(X): {why}")
            report["compared"].append(method)
        report["round_trip"] = True
    errors = {
        label: _expect_load_error(flavor, blob, label, allow_pickle=allow_pickle)
        for label, blob in _garbage().items()
    }
    errors["pickle"] = _expect_load_error(flavor, payload, "pickle payload", allow_pickle=False)
    report["load_errors"] = errors
    return report

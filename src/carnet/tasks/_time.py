"""Time stamps of series: parsing, frequency and season length, and step arithmetic.

A time column holds datetimes (or strings parseable as such) or integer periods. Everything
here works on 1-D numpy arrays of ``datetime64[ns]`` or ``int64``.
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Any, cast

from carnet.errors import InvalidInput

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np

__all__ = [
    "future_times",
    "infer_freq",
    "locate",
    "parse_time",
    "season_length_for",
    "time_values",
]

#: season length by the base of a pandas offset alias
_SEASONS = {
    "MS": 12, "ME": 12, "M": 12, "BMS": 12, "BME": 12, "BM": 12, "SMS": 24, "SME": 24,
    "QS": 4, "QE": 4, "Q": 4, "BQS": 4, "BQE": 4, "BQ": 4,
    "W": 52, "D": 7, "B": 5, "C": 5, "h": 24, "H": 24, "bh": 8, "BH": 8,
}  # fmt: skip


def parse_time(values: Any, column: str = "time", field: str = "time_column") -> np.ndarray:
    """Time stamps as ``datetime64[ns]`` (naive, UTC for aware input) or ``int64`` periods.

    Raises:
        InvalidInput: (field ``field``) values that are neither datetimes nor integers, or missing.
    """
    import numpy as np
    import pandas as pd

    series = values if isinstance(values, pd.Series) else pd.Series(np.asarray(values))
    missing = int(series.isna().sum())
    if missing:
        raise InvalidInput(f"time column {column!r} has {missing} missing value(s)", field=field)
    dtype = series.dtype
    if isinstance(dtype, pd.PeriodDtype):
        series = series.dt.to_timestamp()
        dtype = series.dtype
    if isinstance(dtype, pd.DatetimeTZDtype):
        series = series.dt.tz_convert("UTC").dt.tz_localize(None)
        dtype = series.dtype
    if pd.api.types.is_datetime64_dtype(dtype):
        return np.asarray(series.to_numpy(dtype="datetime64[ns]"))
    if pd.api.types.is_bool_dtype(dtype):
        raise InvalidInput(
            f"time column {column!r} is boolean; use datetimes or integer periods", field=field
        )
    if pd.api.types.is_integer_dtype(dtype):
        return np.asarray(series.to_numpy(dtype="int64"))
    if pd.api.types.is_float_dtype(dtype):
        arr = series.to_numpy(dtype=float)
        if np.all(np.isfinite(arr)) and np.all(arr == np.round(arr)):
            return cast("np.ndarray", arr.astype("int64"))
        raise InvalidInput(
            f"time column {column!r} holds fractional numbers; use datetimes or integer periods",
            field=field,
        )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            parsed = pd.to_datetime(series, errors="raise")
    except (ValueError, TypeError, OverflowError) as exc:
        example = series.iloc[0]
        raise InvalidInput(
            f"time column {column!r} cannot be parsed as datetimes (e.g. {example!r}): {exc}",
            field=field,
        ) from None
    if isinstance(parsed.dtype, pd.DatetimeTZDtype):
        parsed = parsed.dt.tz_convert("UTC").dt.tz_localize(None)
    return np.asarray(parsed.to_numpy(dtype="datetime64[ns]"))


def time_values(X: Any) -> np.ndarray:
    """Time stamps from a forecaster's ``X``: a DataFrame (first column), Series, index or array."""
    import pandas as pd

    if isinstance(X, pd.DataFrame):
        if X.shape[1] == 0:
            raise ValueError("X has no columns; pass the time stamps as its first column")
        return parse_time(X.iloc[:, 0], str(X.columns[0]))
    if isinstance(X, pd.Index):
        return parse_time(pd.Series(X), "index")
    if hasattr(X, "ndim") and X.ndim == 2:
        return parse_time(X[:, 0])
    return parse_time(X)


def infer_freq(times: np.ndarray) -> str | int:
    """The step between consecutive sorted stamps: a pandas offset alias, or an int for periods."""
    import numpy as np
    import pandas as pd

    if times.dtype.kind in "iu":
        diffs = np.diff(times)
        diffs = diffs[diffs > 0]
        if diffs.size == 0:
            return 1
        values, counts = np.unique(diffs, return_counts=True)
        return int(values[np.argmax(counts)])
    index = pd.DatetimeIndex(times)
    freq: Any = None
    if len(index) >= 3:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            freq = pd.infer_freq(index)
    if freq is not None:
        return str(getattr(freq, "freqstr", freq))
    diffs = np.diff(times)
    diffs = diffs[diffs > np.timedelta64(0, "ns")]
    if diffs.size == 0:
        return "D"
    values, counts = np.unique(diffs, return_counts=True)
    return str(pd.tseries.frequencies.to_offset(pd.Timedelta(values[np.argmax(counts)])).freqstr)


def season_length_for(freq: str | int) -> int:
    """Season implied by a frequency: 12 monthly, 4 quarterly, 52 weekly, 7 daily, 24 hourly, else 1."""
    import pandas as pd

    if isinstance(freq, int):
        return 1
    try:
        offset = pd.tseries.frequencies.to_offset(freq)
    except ValueError:
        return 1
    base = offset.rule_code.split("-")[0]
    season = _SEASONS.get(base, 1)
    n = abs(int(offset.n)) or 1
    if n == 1:
        return season
    return season // n if season % n == 0 else 1


def future_times(last: Any, freq: str | int, h: int) -> np.ndarray:
    """The ``h`` stamps after ``last`` at frequency ``freq``."""
    import numpy as np
    import pandas as pd

    if isinstance(freq, int):
        return np.asarray(int(last) + freq * np.arange(1, h + 1), dtype="int64")
    grid = pd.date_range(start=pd.Timestamp(last), periods=h + 1, freq=freq)
    return np.asarray(grid[1:].to_numpy(dtype="datetime64[ns]"))


def locate(times: np.ndarray, train_times: np.ndarray, freq: str | int) -> tuple[np.ndarray, np.ndarray]:
    """For each stamp: (steps after the training end, position in the training stamps).

    ``steps`` is >= 1 for future stamps (stamps between grid points count as the next one)
    and 0 for stamps inside the training range, whose position is then given (-1 when the
    stamp is not one of the training stamps).
    """
    import numpy as np
    import pandas as pd

    last = train_times[-1]
    steps = np.zeros(len(times), dtype=np.int64)
    future = times > last
    if future.any():
        t = times[future]
        if isinstance(freq, int):
            steps[future] = np.ceil((t - last) / freq).astype(np.int64)
        else:
            offset = pd.tseries.frequencies.to_offset(freq)
            one = pd.Timestamp(last) + offset - pd.Timestamp(last)
            span = (pd.Timestamp(t.max()) - pd.Timestamp(last)) / one
            horizon = max(8, int(np.ceil(span * 1.25)) + 2)
            grid = future_times(last, freq, horizon)
            while grid[-1] < t.max():  # irregular offsets (business days, month ends): grow the grid
                horizon *= 2
                grid = future_times(last, freq, horizon)
            steps[future] = np.searchsorted(grid, t, side="left") + 1
    positions = np.full(len(times), -1, dtype=np.int64)
    past = ~future
    if past.any():
        idx = np.searchsorted(train_times, times[past])
        idx = np.clip(idx, 0, len(train_times) - 1)
        hit = train_times[idx] == times[past]
        positions[past] = np.where(hit, idx, -1)
    return steps, positions

"""Write the example's data: data/churn.csv (training rows) and data/holdout.csv (the evaluation set
the policy pins as churn-holdout@1). In a real repository these files (or the step that fetches them)
are yours; this script only makes the example self-contained.

    python make_data.py [FOLDER]        # default: data
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd


def customers(rows: int, seed: int) -> pd.DataFrame:
    """Synthetic telecom customers: who churns depends on charges, tenure, support calls and plan."""
    rng = np.random.default_rng(seed)
    region = rng.choice(["north", "south", "east", "west"], size=rows)
    plan = rng.choice(["basic", "plus", "pro"], size=rows, p=[0.5, 0.3, 0.2])
    tenure = rng.integers(1, 72, size=rows)
    charges = rng.normal(60, 20, size=rows).round(2)
    calls = rng.poisson(1.5, size=rows)
    logit = -0.8 + 0.05 * (charges - 60) - 0.06 * (tenure - 36) + 0.6 * calls + 0.8 * (plan == "basic")
    churned = (rng.random(rows) < 1 / (1 + np.exp(-logit))).astype(int)
    return pd.DataFrame(
        {
            "region": region,
            "plan": plan,
            "tenure": tenure,
            "monthly_charges": charges,
            "support_calls": calls,
            "churned": churned,
        }
    )


def main() -> None:
    folder = Path(sys.argv[1] if len(sys.argv) > 1 else "data")
    folder.mkdir(parents=True, exist_ok=True)
    customers(800, seed=1).to_csv(folder / "churn.csv", index=False)
    customers(600, seed=2).to_csv(folder / "holdout.csv", index=False)


if __name__ == "__main__":
    main()

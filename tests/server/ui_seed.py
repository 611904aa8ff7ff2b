"""What the web UI tests run on: a workspace with runs, datasets, a model behind an approval policy,
a deployment and a monitor (and the prediction-log traffic that makes it alert), with an XSS corpus
in names, params, tags, columns and descriptions."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from carnet.services import Services

XSS = [
    "<script>alert(1)</script>",
    '"><img src=x onerror=alert(2)>',
    "javascript:alert(3)",
    "'><svg/onload=alert(4)>",
    "{{7*7}}",
]
MODEL = "clf"


@dataclass
class Seeded:
    runs: list[str]
    spike_run: str
    hostile_run: str


def _models(s: Services, project: str) -> None:
    from sklearn.linear_model import LogisticRegression

    frame = pd.DataFrame({"x": [0.0, 1.0, 2.0, 3.0] * 10})
    y = [0, 0, 1, 1] * 10
    for c in (1.0, 0.5):
        s.registry.register_object(
            LogisticRegression(C=c).fit(frame, y), MODEL, frame, project=project, task="binary",
            description=XSS[1],
        )  # fmt: skip
    s.registry.set_alias(MODEL, "production", 1)
    s.promotion.set_policy({"name": "sign-off", "gates": [{"type": "approval", "required": 1}]}, model=MODEL)


def seed(s: Services, tmp: Path, project: str = "demo") -> Seeded:
    """Runs (a grouped dozen, a hostile one, one with 100,000 steps), two dataset versions, a model
    with two versions behind an approval policy, a deployment and a monitor."""
    t = s.tracking
    data = tmp / "table.csv"
    pd.DataFrame({"x": np.arange(200) % 7, XSS[0]: [XSS[4]] * 200, "label": np.arange(200) % 2}).to_csv(
        data, index=False
    )
    s.datasets.add(data, "table", project=project)
    data2 = tmp / "table2.csv"
    pd.DataFrame({"x": np.arange(300) % 9, "label": np.arange(300) % 2}).to_csv(data2, index=False)
    s.datasets.add(data2, "table", project=project)
    runs = []
    for i in range(12):
        model = ("forest", "logreg", "boost")[i % 3]
        run = t.create_run(
            project, f"run-{i}", params={"model": model, "seed": str(i // 3)}, tags={"team": "a"}
        )
        t.log_batch(run.id, [t.make_metric("auc", 0.5 + i / 100, 0, 1.0)], None)
        if i == 0:
            t.log_inputs(run.id, ["table@1"], "training")
        t.end_run(run.id, "finished")
        runs.append(run.id)
    hostile = t.create_run(project, XSS[0], params={XSS[1]: XSS[2]}, tags={"note": XSS[3]})
    t.log_batch(hostile.id, [t.make_metric("auc", 0.9, 0, 1.0)], None)
    spike = t.create_run(project, "long", params={"model": "forest"})
    values = np.sin(np.arange(100_000) / 1000.0)
    values[54_321] = 50.0  # one spike among 100,000 steps
    metrics = [t.make_metric("loss", float(v), i, 1.0 + i) for i, v in enumerate(values)]
    t.log_batch(spike.id, metrics, None)
    t.end_run(spike.id, "finished")
    _models(s, project)
    s.deployments.set({"endpoint": "web", "routes": [{"model": f"{MODEL}@production", "weight": 100}]})
    reference = tmp / "ref.csv"
    reference.write_text("x,target\n" + "".join(f"{i % 4}.0,{int(i % 4 > 1)}\n" for i in range(40)))
    s.datasets.add(reference, "ref", project=project)
    s.monitoring.create(
        {"name": "mon", "model": f"{MODEL}@production", "reference": "ref@1", "window": "50rows",
         "rules": ["drift.share_drifted > 0.5"]}
    )  # fmt: skip
    return Seeded(runs, spike.id, hostile.id)


def traffic(s: Services, xs: list[float]) -> None:
    """Rows answered by the production version, logged as the inference server logs them."""
    import time
    import uuid

    from carnet.inference.outputs import model_outputs
    from carnet.inference.predlog import PredictionLog, PredictionRecord

    version = s.registry.resolve(f"{MODEL}@production")
    model, _ = s.registry.load(f"{MODEL}@production")
    log = PredictionLog(s.deployments.prediction_sink())
    start = time.time()
    try:
        for i, x in enumerate(xs):
            part = pd.DataFrame({"x": [x]})
            outputs = model_outputs(model, part, "classification", [0, 1])
            record = PredictionRecord(
                uuid.uuid4().hex, start + i * 0.01, "web", MODEL, version.version, 1.0, part, outputs
            )
            log.append(record)
    finally:
        log.close()

"""Charts of the unsupervised, forecasting and recommendation families (see :mod:`.plots`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from carnet.domain.evaluation import Plot
from carnet.evaluation.plots import COLORS, figure, render, sample, short

if TYPE_CHECKING:
    from carnet.evaluation.metrics_ranking import RankingData
    from carnet.evaluation.metrics_regression import ForecastData
    from carnet.evaluation.metrics_unsupervised import AnomalyData, ClusteringData, DimReductionData

__all__ = ["anomaly_plots", "clustering_plots", "dim_plots", "forecast_plots", "recommendation_plots"]


def _scatter_colors(codes: np.ndarray) -> list[str]:
    return [COLORS[int(c) % len(COLORS)] if c >= 0 else "#bbbbbb" for c in codes]


def clustering_plots(data: ClusteringData, details: dict[str, Any]) -> list[Plot]:
    """Cluster sizes, and a 2-D PCA scatter coloured by cluster when ``X`` is known."""
    sizes = details["cluster_sizes"][:30]
    names = [short(r["cluster"], 10) for r in sizes]
    fig, (ax,) = figure(width=max(4.0, 0.3 * len(sizes) + 2))
    ax.bar(range(len(sizes)), [r["size"] for r in sizes], color=COLORS[0])
    ax.set_xticks(range(len(sizes)), names, rotation=45 if len(sizes) > 6 else 0)
    ax.set(xlabel="cluster", ylabel="rows", title="Cluster sizes")
    out = [
        Plot(
            "cluster_sizes",
            "Cluster sizes",
            render(fig),
            {"cluster": [r["cluster"] for r in sizes], "size": [r["size"] for r in sizes]},
        )
    ]
    if data.X is None or data.X.shape[1] < 1:
        return out
    from sklearn.decomposition import PCA

    rows = sample(data.n, data.seed)
    X = data.X[rows]
    comps = min(2, X.shape[1], X.shape[0])
    xy = PCA(n_components=comps, random_state=data.seed).fit_transform(X)
    if xy.shape[1] == 1:
        xy = np.column_stack([xy[:, 0], np.zeros(len(xy))])
    is_noise = data.labels[rows] == -1
    codes = np.where(is_noise, -1, data.codes[rows])
    fig, (ax,) = figure(width=4.4, height=3.8)
    ax.scatter(xy[:, 0], xy[:, 1], s=6, c=_scatter_colors(codes), alpha=0.7)
    ax.set(xlabel="PC1", ylabel="PC2", title="Clusters on the first two principal components")
    payload = {"x": xy[:, 0].tolist(), "y": xy[:, 1].tolist(), "cluster": data.labels[rows].tolist()}
    out.append(Plot("pca_scatter", "Clusters (2-D PCA)", render(fig), payload))
    return out


def anomaly_plots(data: AnomalyData) -> list[Plot]:
    """Histogram of anomaly scores, split by label when labels exist."""
    if data.score is None:
        return []
    edges = np.histogram_bin_edges(data.score, bins=40)
    fig, (ax,) = figure(width=5.0)
    payload: dict[str, Any] = {"edges": edges.tolist()}
    if data.truth_codes is None:
        counts, _ = np.histogram(data.score, bins=edges)
        ax.hist(edges[:-1], bins=edges.tolist(), weights=counts, color=COLORS[0])
        payload["counts"] = counts.tolist()
    else:
        for code, name, color in ((0, "normal", COLORS[0]), (1, "anomaly", COLORS[3])):
            counts, _ = np.histogram(data.score[data.truth_codes == code], bins=edges)
            ax.hist(edges[:-1], bins=edges.tolist(), weights=counts, color=color, alpha=0.6, label=name)
            payload[f"counts_{name}"] = counts.tolist()
        ax.legend()
    if data.flags is not None and data.flags.any():
        cut = float(data.score[data.flags == 1].min())
        ax.axvline(cut, ls="--", color="black", lw=1, label="lowest flagged score")
        payload["lowest_flagged_score"] = cut
    ax.set(xlabel="anomaly score (higher = more anomalous)", ylabel="rows", title="Anomaly scores")
    return [Plot("score_histogram", "Anomaly score distribution", render(fig), payload)]


def dim_plots(data: DimReductionData) -> list[Plot]:
    """Scatter of the first two embedding components (index vs component for 1-D)."""
    rows = sample(data.n, data.seed)
    emb = data.embedding[rows]
    x, y = (emb[:, 0], emb[:, 1]) if emb.shape[1] >= 2 else (rows.astype(float), emb[:, 0])
    fig, (ax,) = figure(width=4.4, height=3.8)
    ax.scatter(x, y, s=6, alpha=0.6, color=COLORS[0])
    labels = ("component 1", "component 2") if emb.shape[1] >= 2 else ("row", "component 1")
    ax.set(xlabel=labels[0], ylabel=labels[1], title="Embedding")
    payload = {"x": x.tolist(), "y": y.tolist(), "sampled": bool(rows.size < data.n)}
    return [Plot("embedding_scatter", "2-D embedding", render(fig), payload)]


def _positions(index: list[Any] | None, n: int, start: int = 0) -> tuple[Any, list[Any]]:
    """x values for plotting (datetimes kept) and their JSON labels."""
    if index is None:
        xs = np.arange(start, start + n)
        return xs, xs.tolist()
    values = np.asarray(index)
    if np.issubdtype(values.dtype, np.datetime64) or np.issubdtype(values.dtype, np.number):
        return values, [str(v) for v in index]
    try:
        import pandas as pd

        converted = pd.to_datetime(pd.Index(index)).to_numpy()
        return converted, [str(v) for v in index]
    except (ValueError, TypeError):
        xs = np.arange(start, start + n)
        return xs, [str(v) for v in index]


def forecast_plots(data: ForecastData) -> list[Plot]:
    """Actual vs forecast vs seasonal naive over the horizon, after the tail of the training series."""
    from carnet.evaluation.metrics_regression import seasonal_naive

    fig, (ax,) = figure(width=6.4)
    payload: dict[str, Any] = {}
    have_index = data.index is not None and (data.y_train is None or data.train_index is not None)
    if data.y_train is not None and len(data.y_train):
        tail = min(len(data.y_train), max(3 * data.n, 2 * data.season))
        train_idx = data.train_index[-tail:] if have_index and data.train_index else None
        tx, tlabels = _positions(train_idx, tail, start=-tail)
        ax.plot(tx, data.y_train[-tail:], color="grey", lw=1, label="history")
        payload["history"] = {"x": tlabels, "y": data.y_train[-tail:].tolist()}
    x, labels = _positions(data.index if have_index else None, data.n)
    ax.plot(x, data.y, color="black", lw=1.4, label="actual")
    ax.plot(x, data.y_hat, color=COLORS[0], lw=1.4, label="forecast")
    payload.update({"x": labels, "actual": data.y.tolist(), "forecast": data.y_hat.tolist()})
    if data.y_train is not None and len(data.y_train):
        naive = seasonal_naive(data.y_train, data.season, data.n)
        ax.plot(x, naive, color=COLORS[1], lw=1, ls="--", label=f"seasonal naive (m={data.season})")
        payload["seasonal_naive"] = naive.tolist()
    ax.set(xlabel="time", ylabel="value", title="Forecast vs actual")
    ax.legend(loc="upper left", fontsize=8)
    for label in ax.get_xticklabels():
        label.set_rotation(30)
    return [Plot("forecast", "Actual vs forecast vs seasonal naive", render(fig), payload)]


def recommendation_plots(data: RankingData, details: dict[str, Any]) -> list[Plot]:
    """Precision, recall and nDCG at every cut-off k = 1..K."""
    rows = details["at_k"]
    ks = [r["k"] for r in rows]
    fig, (ax,) = figure()
    payload: dict[str, Any] = {"k": ks}
    for i, key in enumerate(("precision_at_k", "recall_at_k", "ndcg_at_k")):
        payload[key] = [r[key] for r in rows]
        ax.plot(ks, payload[key], marker="o", ms=3, color=COLORS[i], label=key.replace("_at_k", "@k"))
    ax.set(xlabel="k", ylabel="mean over users", title="Ranking metrics at k", ylim=(0, 1.02))
    ax.legend(loc="upper left", fontsize=8)
    return [Plot("metrics_at_k", "Ranking metrics at k", render(fig), payload)]

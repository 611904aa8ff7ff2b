"""Neural networks on the CPU with PyTorch (extra ``torch``), behind the scikit-learn API.

:class:`TorchMLPClassifier` and :class:`TorchMLPRegressor` are multilayer perceptrons over the
pipeline's preprocessed matrix (numbers, one-hot categories, text embeddings): trained with AdamW
in mini-batches, seeded, with a validation split for early stopping (the best epoch's weights are
kept) and a learning rate halved when the validation loss stalls. ``history_`` holds each epoch's
loss, validation loss, validation metric and learning rate; a training run logs it per epoch.

Stored without pickle: the network is a JSON architecture plus ``torch.save(state_dict)`` bytes,
read back with ``torch.load(..., weights_only=True)``; the estimator itself goes into the model
file like any scikit-learn step. A registered network can be continued on new rows
(``model.reuse``): ``finetune`` trains every layer from the parent's weights, ``frozen_features``
trains the output layer only. Saved models refer to these classes by import path: keep it stable.
"""

from __future__ import annotations

import copy
import io
import itertools
import json
import math
from collections.abc import Callable
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin

from carnet.errors import InvalidInput

__all__ = ["SKOPS_TYPES", "TorchMLPClassifier", "TorchMLPRegressor"]

SKOPS_TYPES = (
    "carnet.training.torch_models.TorchMLPClassifier",
    "carnet.training.torch_models.TorchMLPRegressor",
)
_TRAINING = ("epochs", "learning_rate", "batch_size", "weight_decay", "patience", "validation_fraction")


def _torch() -> Any:
    try:
        import torch
    except ImportError as exc:
        raise InvalidInput(
            "the torch models need PyTorch: pip install 'carnet[torch]' (a CPU build, torch==2.13.0)",
            field="model.name",
        ) from exc
    return torch


def _network(architecture: dict[str, Any]) -> Any:
    """The ``torch.nn.Sequential`` an architecture describes (Linear, ReLU and Dropout layers)."""
    torch = _torch()
    layers: list[Any] = []
    sizes = [int(architecture["inputs"]), *map(int, architecture["hidden"])]
    for a, b in itertools.pairwise(sizes):
        layers += [torch.nn.Linear(a, b), torch.nn.ReLU()]
        if float(architecture["dropout"]) > 0:
            layers.append(torch.nn.Dropout(float(architecture["dropout"])))
    layers.append(torch.nn.Linear(sizes[-1], int(architecture["outputs"])))
    return torch.nn.Sequential(*layers)


class _TorchMLP(BaseEstimator):
    """Shared training loop of the classifier and the regressor."""

    def __init__(
        self,
        hidden: tuple[int, ...] | list[int] = (64, 32),
        dropout: float = 0.1,
        epochs: int = 100,
        learning_rate: float = 1e-3,
        batch_size: int = 64,
        weight_decay: float = 1e-4,
        patience: int = 10,
        validation_fraction: float = 0.1,
        random_state: int = 0,
    ) -> None:
        self.hidden = hidden
        self.dropout = dropout
        self.epochs = epochs
        self.learning_rate = learning_rate
        self.batch_size = batch_size
        self.weight_decay = weight_decay
        self.patience = patience
        self.validation_fraction = validation_fraction
        self.random_state = random_state

    @staticmethod
    def carnet_check_installed() -> None:
        """InvalidInput with the install command when PyTorch is missing (checked before a run)."""
        _torch()

    # -- subclasses ---------------------------------------------------------------------------------
    def _targets(self, y: Any) -> tuple[Any, int]:
        raise NotImplementedError

    def _loss(self) -> Any:
        raise NotImplementedError

    def _metric(self, out: Any, target: Any) -> tuple[str, float]:
        raise NotImplementedError

    # -- training -----------------------------------------------------------------------------------
    def _check(self) -> None:
        hidden = list(self.hidden)
        if not hidden or not all(isinstance(h, int) and 1 <= h <= 4096 for h in hidden):
            raise InvalidInput(
                "hidden must list layer sizes from 1 to 4096, e.g. [64, 32]", field="model.params.hidden"
            )
        checks = (
            ("dropout", 0.0 <= float(self.dropout) < 1.0),
            ("epochs", isinstance(self.epochs, int) and 1 <= self.epochs <= 100_000),
            ("learning_rate", 0.0 < float(self.learning_rate) < 10.0),
            ("batch_size", isinstance(self.batch_size, int) and 1 <= self.batch_size <= 1_000_000),
            ("patience", isinstance(self.patience, int) and self.patience >= 1),
            ("validation_fraction", 0.0 <= float(self.validation_fraction) < 0.9),
        )
        for name, ok in checks:
            if not ok:
                raise InvalidInput(
                    f"model.params.{name} is out of range: {getattr(self, name)!r}",
                    field=f"model.params.{name}",
                )

    def fit(self, X: Any, y: Any) -> _TorchMLP:
        """Train a new network on ``X`` (a float matrix) and ``y``."""
        self._check()
        torch = _torch()
        torch.manual_seed(int(self.random_state))
        data = np.asarray(X, dtype=np.float32)
        targets, outputs = self._targets(y)
        self.architecture_ = {
            "inputs": int(data.shape[1]),
            "hidden": [int(h) for h in self.hidden],
            "dropout": float(self.dropout),
            "outputs": int(outputs),
        }
        self.net_ = _network(self.architecture_)
        self.n_features_in_ = int(data.shape[1])
        self.history_: list[dict[str, float]] = []
        self._train(data, targets)
        return self

    def _train(self, data: np.ndarray, targets: np.ndarray) -> None:
        torch = _torch()
        generator = torch.Generator().manual_seed(int(self.random_state))
        n = len(data)
        order = np.random.default_rng(int(self.random_state)).permutation(n)
        held = round(n * float(self.validation_fraction)) if n >= 20 else 0
        val_idx, train_idx = order[:held], order[held:]
        Xt, yt = torch.from_numpy(data[train_idx]), torch.from_numpy(targets[train_idx])
        Xv, yv = torch.from_numpy(data[val_idx]), torch.from_numpy(targets[val_idx])
        trainable = [p for p in self.net_.parameters() if p.requires_grad]
        optimizer = torch.optim.AdamW(
            trainable, lr=float(self.learning_rate), weight_decay=float(self.weight_decay)
        )
        scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
            optimizer, factor=0.5, patience=max(1, self.patience // 2)
        )
        loss_fn = self._loss()
        best, best_state, stale = math.inf, copy.deepcopy(self.net_.state_dict()), 0
        start = len(self.history_)
        for epoch in range(start + 1, start + int(self.epochs) + 1):
            self.net_.train()
            total = 0.0
            for batch in torch.randperm(len(Xt), generator=generator).split(int(self.batch_size)):
                optimizer.zero_grad()
                loss = loss_fn(self.net_(Xt[batch]), yt[batch])
                loss.backward()
                optimizer.step()
                total += float(loss.detach()) * len(batch)
            record = {
                "epoch": float(epoch),
                "loss": total / max(len(Xt), 1),
                "lr": float(optimizer.param_groups[0]["lr"]),
            }
            watched = record["loss"]
            if held:
                self.net_.eval()
                with torch.no_grad():
                    out = self.net_(Xv)
                    record["val_loss"] = float(loss_fn(out, yv))
                    name, value = self._metric(out, yv)
                    record[f"val_{name}"] = value
                watched = record["val_loss"]
            self.history_.append(record)
            scheduler.step(watched)
            if watched < best - 1e-7:
                best, best_state, stale = watched, copy.deepcopy(self.net_.state_dict()), 0
            else:
                stale += 1
                if stale >= int(self.patience):
                    break
        self.net_.load_state_dict(best_state)
        self.net_.eval()
        self.best_epoch_ = int(
            min(self.history_[start:], key=lambda r: r.get("val_loss", r["loss"]))["epoch"]
        )

    def _raw(self, X: Any) -> np.ndarray:
        torch = _torch()
        data = torch.from_numpy(np.asarray(X, dtype=np.float32))
        self.net_.eval()
        with torch.no_grad():
            return np.asarray(self.net_(data).numpy(), dtype=np.float64)

    # -- reuse (carnet.training.reuse) -------------------------------------------------------------
    def carnet_reuse_modes(self) -> dict[str, str]:
        """How a fitted network continues on new rows."""
        return {
            "finetune": "train every layer from the parent's weights on the new rows (epochs, learning_rate)",
            "frozen_features": "freeze the hidden layers; train only the output layer on the new rows",
        }

    def carnet_continue(self, X: Any, y: Any, mode: str, params: dict[str, Any]) -> _TorchMLP:
        """A copy of this network trained further on ``X``, ``y`` by ``mode``; training ``params``
        (epochs, learning_rate, ...) apply to the continuation."""
        unknown = [k for k in params if k not in _TRAINING]
        if unknown:
            raise InvalidInput(
                f"model.params.{unknown[0]} cannot change when continuing a network; "
                f"settable: {', '.join(_TRAINING)}",
                field=f"model.params.{unknown[0]}",
            )
        new = copy.deepcopy(self)
        new.set_params(**params)
        new._check()
        targets = new._continued_targets(y)
        last = [m for m in new.net_ if hasattr(m, "weight")][-1]
        for parameter in new.net_.parameters():
            parameter.requires_grad = mode != "frozen_features"
        for parameter in last.parameters():
            parameter.requires_grad = True
        new._train(np.asarray(X, dtype=np.float32), targets)
        for parameter in new.net_.parameters():
            parameter.requires_grad = True
        return new

    def _continued_targets(self, y: Any) -> np.ndarray:
        raise NotImplementedError

    # -- storage: JSON architecture + torch.save(state_dict), loaded with weights_only=True --------
    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        net = state.pop("net_", None)
        if net is not None:
            torch = _torch()
            buffer = io.BytesIO()
            torch.save(net.state_dict(), buffer)
            state["weights_"] = buffer.getvalue()
            state["architecture_json_"] = json.dumps(state.pop("architecture_"))
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        state = dict(state)
        weights = state.pop("weights_", None)
        if weights is not None:
            torch = _torch()
            architecture = json.loads(state.pop("architecture_json_"))
            net = _network(architecture)
            net.load_state_dict(torch.load(io.BytesIO(bytes(weights)), weights_only=True))
            net.eval()
            state["architecture_"] = architecture
            state["net_"] = net
        self.__dict__.update(state)


def softmax(raw: np.ndarray) -> np.ndarray:
    """Row-wise probabilities of raw network outputs."""
    shifted = raw - raw.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    return np.asarray(exp / exp.sum(axis=1, keepdims=True))


class ClassOutputs:
    """The output side of a classifier network (shared by the MLP and the text network): labels
    encoded 0..k-1, cross-entropy, softmax probabilities; the network gives ``_raw(X)``."""

    classes_: Any

    _raw: Callable[[Any], np.ndarray]  # the network's raw outputs (given by the estimator class)

    def _targets(self, y: Any) -> tuple[Any, int]:
        self.classes_, encoded = np.unique(np.asarray(y), return_inverse=True)
        if len(self.classes_) < 2:
            raise InvalidInput("a classifier needs at least two classes in the target", field="target")
        return encoded.astype(np.int64), len(self.classes_)

    def _continued_targets(self, y: Any) -> np.ndarray:
        values = np.asarray(y)
        unknown = sorted({str(v) for v in np.unique(values)} - {str(c) for c in self.classes_})
        if unknown:
            raise InvalidInput(
                f"the new rows have classes the parent never saw: {', '.join(unknown[:10])}", field="target"
            )
        return np.searchsorted(self.classes_, values).astype(np.int64)

    def _loss(self) -> Any:
        return _torch().nn.CrossEntropyLoss()

    def _metric(self, out: Any, target: Any) -> tuple[str, float]:
        return "accuracy", float((out.argmax(dim=1) == target).float().mean())

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities, one column per entry of ``classes_``."""
        return softmax(self._raw(X))

    def predict(self, X: Any) -> np.ndarray:
        """The most probable class."""
        return np.asarray(self.classes_[self._raw(X).argmax(axis=1)])


class ValueOutputs:
    """The output side of a regressor network: mean squared error on the standardised target,
    predictions back in the target's units."""

    y_mean_: float
    y_scale_: float

    _raw: Callable[[Any], np.ndarray]  # the network's raw outputs (given by the estimator class)

    def _targets(self, y: Any) -> tuple[Any, int]:
        values = np.asarray(y, dtype=np.float64)
        self.y_mean_, self.y_scale_ = float(values.mean()), float(values.std() or 1.0)
        return self._continued_targets(values), 1

    def _continued_targets(self, y: Any) -> np.ndarray:
        values = np.asarray(y, dtype=np.float64)
        return ((values - self.y_mean_) / self.y_scale_).astype(np.float32).reshape(-1, 1)

    def _loss(self) -> Any:
        return _torch().nn.MSELoss()

    def _metric(self, out: Any, target: Any) -> tuple[str, float]:
        return "rmse", float(((out - target) ** 2).mean().sqrt()) * self.y_scale_

    def predict(self, X: Any) -> np.ndarray:
        """Predicted values in the target's units."""
        return np.asarray(self._raw(X)[:, 0] * self.y_scale_ + self.y_mean_)


class TorchMLPClassifier(ClassifierMixin, ClassOutputs, _TorchMLP):
    """A multilayer perceptron classifier (cross-entropy; ``predict_proba`` by softmax)."""


class TorchMLPRegressor(RegressorMixin, ValueOutputs, _TorchMLP):
    """A multilayer perceptron regressor (mean squared error on the standardised target)."""


class _Trunk:
    """Builds the multitask network: a shared trunk, then one linear head per target."""

    @staticmethod
    def build(architecture: dict[str, Any]) -> Any:
        torch = _torch()
        trunk = _network({**architecture, "outputs": architecture["hidden"][-1]})
        layers = list(trunk)[:-1]  # drop the trunk's own output layer: the heads replace it
        heads = torch.nn.ModuleList(
            torch.nn.Linear(int(architecture["hidden"][-1]), int(n)) for n in architecture["heads"]
        )
        return torch.nn.ModuleDict({"trunk": torch.nn.Sequential(*layers), "heads": heads})


class TorchMultiTaskMLP(_TorchMLP):
    """A shared trunk with one head per target (classes or values), trained on the sum of the
    targets' losses (cross-entropy, mean squared error on standardised values)."""

    def __init__(
        self,
        hidden: tuple[int, ...] | list[int] = (64, 32),
        dropout: float = 0.1,
        epochs: int = 100,
        learning_rate: float = 1e-3,
        batch_size: int = 64,
        weight_decay: float = 1e-4,
        patience: int = 10,
        validation_fraction: float = 0.1,
        random_state: int = 0,
        target_types: dict[str, str] | None = None,
    ) -> None:
        super().__init__(
            hidden,
            dropout,
            epochs,
            learning_rate,
            batch_size,
            weight_decay,
            patience,
            validation_fraction,
            random_state,
        )
        self.target_types = target_types

    def fit(self, X: Any, Y: Any) -> TorchMultiTaskMLP:
        """Train on ``X`` and the target frame ``Y``."""
        self._check()
        torch = _torch()
        torch.manual_seed(int(self.random_state))
        kinds = dict(self.target_types or {})
        self.targets_ = [str(c) for c in Y.columns]
        self.target_types_ = {t: kinds.get(t, "regression") for t in self.targets_}
        self.classes_: dict[str, Any] = {}
        self.scales_: dict[str, tuple[float, float]] = {}
        columns, heads = [], []
        for target in self.targets_:
            values = Y[target].to_numpy()
            if self.target_types_[target] == "classification":
                classes, encoded = np.unique(
                    values.astype(str) if values.dtype == object else values, return_inverse=True
                )
                self.classes_[target] = classes
                columns.append(encoded.astype(np.float32))
                heads.append(len(classes))
            else:
                numbers = values.astype(np.float64)
                mean, scale = float(numbers.mean()), float(numbers.std() or 1.0)
                self.scales_[target] = (mean, scale)
                columns.append(((numbers - mean) / scale).astype(np.float32))
                heads.append(1)
        data = np.asarray(X, dtype=np.float32)
        self.architecture_ = {
            "inputs": int(data.shape[1]),
            "hidden": [int(h) for h in self.hidden],
            "dropout": float(self.dropout),
            "outputs": 0,
            "heads": heads,
        }
        self.net_ = _MultiHead(self.architecture_)
        self.n_features_in_ = int(data.shape[1])
        self.history_ = []
        self._train(data, np.stack(columns, axis=1))
        return self

    def _loss(self) -> Any:
        torch = _torch()
        kinds = [self.target_types_[t] for t in self.targets_]

        def loss(outputs: list[Any], targets: Any) -> Any:
            total = 0
            for i, (out, kind) in enumerate(zip(outputs, kinds, strict=True)):
                if kind == "classification":
                    total = total + torch.nn.functional.cross_entropy(out, targets[:, i].long())
                else:
                    total = total + torch.nn.functional.mse_loss(out[:, 0], targets[:, i])
            return total

        return loss

    def _metric(self, out: Any, target: Any) -> tuple[str, float]:
        return "loss_per_target", float(self._loss()(out, target)) / max(len(self.targets_), 1)

    def carnet_reuse_modes(self) -> dict[str, str]:
        """How a fitted multitask network continues on new rows."""
        return {
            "finetune": "train the trunk and every head from the parent's weights on the new rows",
            "frozen_features": "freeze the shared trunk; train only the heads on the new rows",
        }

    def carnet_continue(self, X: Any, y: Any, mode: str, params: dict[str, Any]) -> TorchMultiTaskMLP:
        """A copy trained further on ``X`` and the target frame ``y``."""
        new = copy.deepcopy(self)
        new.set_params(**{k: v for k, v in params.items() if k in _TRAINING})
        for parameter in new.net_["trunk"].parameters():
            parameter.requires_grad = mode != "frozen_features"
        columns = []
        for target in new.targets_:
            values = y[target].to_numpy()
            if new.target_types_[target] == "classification":
                columns.append(np.searchsorted(new.classes_[target], values).astype(np.float32))
            else:
                mean, scale = new.scales_[target]
                columns.append(((values.astype(np.float64) - mean) / scale).astype(np.float32))
        new._train(np.asarray(X, dtype=np.float32), np.stack(columns, axis=1))
        for parameter in new.net_.parameters():
            parameter.requires_grad = True
        return new

    def _outputs(self, X: Any) -> list[np.ndarray]:
        torch = _torch()
        self.net_.eval()
        with torch.no_grad():
            return [
                o.numpy().astype(np.float64)
                for o in self.net_(torch.from_numpy(np.asarray(X, dtype=np.float32)))
            ]

    def predict_target(self, X: Any, target: str) -> np.ndarray:
        """One target's labels or values."""
        out = self._outputs(X)[self.targets_.index(target)]
        if self.target_types_[target] == "classification":
            return np.asarray(self.classes_[target][out.argmax(axis=1)])
        mean, scale = self.scales_[target]
        return np.asarray(out[:, 0] * scale + mean)

    def predict_proba_target(self, X: Any, target: str) -> np.ndarray | None:
        """One classification target's probabilities."""
        if self.target_types_[target] != "classification":
            return None
        return softmax(self._outputs(X)[self.targets_.index(target)])

    def predict(self, X: Any) -> Any:
        """One column per target."""
        import pandas as pd

        return pd.DataFrame({t: self.predict_target(X, t) for t in self.targets_})

    def __setstate__(self, state: dict[str, Any]) -> None:
        state = dict(state)
        weights = state.pop("weights_", None)
        if weights is not None:
            torch = _torch()
            architecture = json.loads(state.pop("architecture_json_"))
            net = _MultiHead(architecture)
            net.load_state_dict(torch.load(io.BytesIO(bytes(weights)), weights_only=True))
            net.eval()
            state["architecture_"] = architecture
            state["net_"] = net
        self.__dict__.update(state)


def _MultiHead(architecture: dict[str, Any]) -> Any:  # noqa: N802 - builds a module, reads as a class
    """The multitask module: ``forward(x)`` is the list of every head's output on the shared trunk."""
    torch = _torch()
    parts = _Trunk.build(architecture)

    class MultiHead(torch.nn.Module):  # type: ignore[name-defined]
        def __init__(self) -> None:
            super().__init__()
            self.trunk = parts["trunk"]
            self.heads = parts["heads"]

        def forward(self, x: Any) -> list[Any]:
            shared = self.trunk(x)
            return [head(shared) for head in self.heads]

        def __getitem__(self, key: str) -> Any:
            return getattr(self, key)

    return MultiHead()

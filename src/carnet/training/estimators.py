"""Model resolution: a short name or class path plus params -> an unfitted estimator.

Names resolve in this order: the task's own models (``task.models()``, e.g. forecasters),
carnet's short names for the task's family (below), then a class path
(``package.module.Class`` or ``package.module:Class``) of a class with ``get_params``.

Params are checked against ``estimator.get_params()``: an unknown one is an
:class:`~carnet.errors.InvalidInput` naming ``model.params.<name>`` with a suggestion.
Estimators that take free ``**kwargs`` (LightGBM, XGBoost) also accept native
parameter names (LightGBM's own names and aliases; for XGBoost any name that is not a
near-miss of a known one). The seed goes to ``random_state`` (or ``seed``) unless set,
and parallel ensembles default to ``n_jobs=1``: carnet parallelises across folds and
trials, and single-threaded models are reproducible and do not oversubscribe small machines.
"""

from __future__ import annotations

import importlib
import inspect
import re
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from carnet.errors import InvalidInput
from carnet.training._checks import close_matches

if TYPE_CHECKING:  # pragma: no cover
    from carnet.plugins.api import Task

__all__ = [
    "MODELS",
    "SERVER_MODEL_MODULES",
    "check_model_path",
    "invalid_params",
    "known_models",
    "resolve_model",
]

#: modules a class path may come from in a spec sent to a carnet server (besides the installed
#: carnet plugins and the server's ``allowed_model_modules``)
SERVER_MODEL_MODULES = ("sklearn", "lightgbm", "xgboost")

_ONE_JOB = {"n_jobs": 1}
_LGBM = {"n_jobs": 1, "verbose": -1}

#: carnet's short model names per task family: name -> ("module:Class", default params)
MODELS: dict[str, dict[str, tuple[str, dict[str, Any]]]] = {
    "classification": {
        "hist_gradient_boosting": ("sklearn.ensemble:HistGradientBoostingClassifier", {}),
        "random_forest": ("sklearn.ensemble:RandomForestClassifier", _ONE_JOB),
        "extra_trees": ("sklearn.ensemble:ExtraTreesClassifier", _ONE_JOB),
        "logistic_regression": ("sklearn.linear_model:LogisticRegression", {"max_iter": 1000}),
        "gradient_boosting": ("sklearn.ensemble:GradientBoostingClassifier", {}),
        "knn": ("sklearn.neighbors:KNeighborsClassifier", {}),
        "svc": ("sklearn.svm:SVC", {}),
        "decision_tree": ("sklearn.tree:DecisionTreeClassifier", {}),
        "dummy": ("sklearn.dummy:DummyClassifier", {}),
        "sgd": ("sklearn.linear_model:SGDClassifier", {"loss": "log_loss"}),
        "mlp": ("sklearn.neural_network:MLPClassifier", {"max_iter": 500}),
        "naive_bayes": ("sklearn.naive_bayes:GaussianNB", {}),
        "torch_mlp": ("carnet.training.torch_models:TorchMLPClassifier", {}),
        "text_net": ("carnet.training.torch_text:TextNetClassifier", {}),
        "lightgbm": ("lightgbm:LGBMClassifier", _LGBM),
        "xgboost": ("xgboost:XGBClassifier", _ONE_JOB),
    },
    "regression": {
        "hist_gradient_boosting": ("sklearn.ensemble:HistGradientBoostingRegressor", {}),
        "random_forest": ("sklearn.ensemble:RandomForestRegressor", _ONE_JOB),
        "extra_trees": ("sklearn.ensemble:ExtraTreesRegressor", _ONE_JOB),
        "ridge": ("sklearn.linear_model:Ridge", {}),
        "lasso": ("sklearn.linear_model:Lasso", {}),
        "elastic_net": ("sklearn.linear_model:ElasticNet", {}),
        "linear_regression": ("sklearn.linear_model:LinearRegression", {}),
        "gradient_boosting": ("sklearn.ensemble:GradientBoostingRegressor", {}),
        "knn": ("sklearn.neighbors:KNeighborsRegressor", {}),
        "svr": ("sklearn.svm:SVR", {}),
        "decision_tree": ("sklearn.tree:DecisionTreeRegressor", {}),
        "dummy": ("sklearn.dummy:DummyRegressor", {}),
        "sgd": ("sklearn.linear_model:SGDRegressor", {}),
        "mlp": ("sklearn.neural_network:MLPRegressor", {"max_iter": 500}),
        "torch_mlp": ("carnet.training.torch_models:TorchMLPRegressor", {}),
        "text_net": ("carnet.training.torch_text:TextNetRegressor", {}),
        "lightgbm": ("lightgbm:LGBMRegressor", _LGBM),
        "xgboost": ("xgboost:XGBRegressor", _ONE_JOB),
    },
    "clustering": {
        "kmeans": ("sklearn.cluster:KMeans", {}),
        "minibatch_kmeans": ("sklearn.cluster:MiniBatchKMeans", {}),
        "gaussian_mixture": ("sklearn.mixture:GaussianMixture", {}),
        "agglomerative": ("sklearn.cluster:AgglomerativeClustering", {}),
        "dbscan": ("sklearn.cluster:DBSCAN", {}),
    },
    "anomaly": {
        "isolation_forest": ("sklearn.ensemble:IsolationForest", {}),
        "local_outlier_factor": ("sklearn.neighbors:LocalOutlierFactor", {"novelty": True}),
        "one_class_svm": ("sklearn.svm:OneClassSVM", {}),
        "elliptic_envelope": ("sklearn.covariance:EllipticEnvelope", {}),
    },
    "dim_reduction": {
        "pca": ("sklearn.decomposition:PCA", {}),
        "truncated_svd": ("sklearn.decomposition:TruncatedSVD", {}),
        "kernel_pca": ("sklearn.decomposition:KernelPCA", {}),
        "factor_analysis": ("sklearn.decomposition:FactorAnalysis", {}),
        "nmf": ("sklearn.decomposition:NMF", {}),
        "incremental_pca": ("sklearn.decomposition:IncrementalPCA", {}),
    },
}

_EXTRAS = {"lightgbm": "lightgbm", "xgboost": "xgboost"}
_PARAM_IN_MESSAGE = re.compile(r"The '([^']+)' parameter")


def _task_models(task: Task) -> dict[str, Callable[..., Any]]:
    models = getattr(task, "models", None)
    return dict(models() or {}) if callable(models) else {}


def known_models(task: Task) -> list[str]:
    """Model names ``task`` accepts: its own models first, then carnet's for its family."""
    names = list(_task_models(task))
    names += [n for n in MODELS.get(task.family, {}) if n not in names]
    return names


def _import_class(path: str, name: str) -> Any:
    """``package.module:Class`` or ``package.module.Class`` -> the class (InvalidInput if not one)."""
    module_name, sep, attr = path.partition(":")
    if not sep:
        module_name, _, attr = path.rpartition(".")
    if not module_name or not attr:
        raise InvalidInput(
            f"model {name!r} is not a class path like package.module.Class", field="model.name"
        )
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        extra = _EXTRAS.get(name) or _EXTRAS.get(module_name.split(".")[0])
        fix = f"pip install 'carnet[{extra}]'" if extra else "install the package that provides it"
        raise InvalidInput(
            f"model {name!r} needs module {module_name!r}, which cannot be imported ({exc.msg}): {fix}",
            field="model.name",
        ) from None
    cls = getattr(module, attr, None)
    if cls is None:
        raise InvalidInput(
            f"module {module_name!r} has no class {attr!r} (model {name!r})", field="model.name"
        )
    if not inspect.isclass(cls) or not hasattr(cls, "get_params"):
        raise InvalidInput(
            f"model {name!r} must name an estimator class with get_params (scikit-learn API)",
            field="model.name",
        )
    installed = getattr(cls, "carnet_check_installed", None)
    if callable(installed):  # a model whose library is an extra says so before anything runs
        installed()
    return cls


def _plugin_modules() -> set[str]:
    """Top-level packages of the installed carnet plugins (every carnet entry-point group).

    carnet's own entry points count for the packages that hold models (its tasks and
    transformers), not for the whole of carnet.
    """
    from importlib.metadata import entry_points

    from carnet.plugins.loader import PLUGIN_KINDS

    roots = {
        ep.value.split(":", 1)[0].split(".", 1)[0]
        for kind in PLUGIN_KINDS.values()
        for ep in entry_points(group=kind.group)
    }
    return (roots - {"carnet"}) | {"carnet.tasks", "carnet.training.transformers"}


def _under(module: str, prefixes: set[str]) -> bool:
    return any(module == p or module.startswith(p + ".") for p in prefixes)


def check_model_path(name: str, allowed: tuple[str, ...] = (), *, field: str = "model.name") -> None:
    """On a carnet server: a model that is a class path must come from an allowed module.

    A short name (``random_forest``) is always fine. A class path (``pkg.module:Class`` or
    ``pkg.module.Class``) must lie under scikit-learn, LightGBM, XGBoost, an installed carnet
    plugin's package or one of ``allowed``; this is decided on the text, **before** anything is
    imported, and once imported the class must also be *defined* there (not re-exported).

    Raises:
        InvalidInput: naming ``field`` and the setting that would allow it.
    """
    if ":" not in name and "." not in name:
        return
    module_name = name.partition(":")[0] if ":" in name else name.rpartition(".")[0]
    attr = name.partition(":")[2] if ":" in name else name.rpartition(".")[2]
    prefixes = {
        *SERVER_MODEL_MODULES,
        *(a.strip().rstrip(".") for a in allowed if a.strip()),
        *_plugin_modules(),
    }
    fix = (
        "on a carnet server a model class must come from scikit-learn, LightGBM, XGBoost or an "
        "installed carnet plugin; the server's operator may allow more modules with "
        "CARNET_ALLOWED_MODEL_MODULES (or allowed_model_modules in carnet.toml)"
    )
    parts = [*module_name.split("."), attr]
    if any(not p.isidentifier() or p.startswith("__") for p in parts):
        raise InvalidInput(
            f"{field}: {name!r} is not a class path like package.module:Class (no __dunder__ parts)",
            field=field,
        )
    if not _under(module_name, prefixes):
        raise InvalidInput(f"{field}: {name!r} is not allowed: {fix}", field=field)
    try:
        cls = getattr(importlib.import_module(module_name), attr, None)
    except ImportError:
        return  # the training reports the missing package, naming what to install
    except Exception as exc:  # noqa: BLE001 - an allowed module that fails at import: the spec's fault
        raise InvalidInput(
            f"{field}: module {module_name!r} fails to import ({type(exc).__name__}: {exc})", field=field
        ) from None
    defined = str(getattr(cls, "__module__", "") or module_name)
    if not _under(defined, prefixes):
        raise InvalidInput(
            f"{field}: {name!r} is a class defined in {defined!r}, which is not allowed: {fix}", field=field
        )


def _takes_kwargs(est: Any) -> bool:
    try:
        sig = inspect.signature(type(est).__init__)
    except (TypeError, ValueError):  # pragma: no cover - builtins
        return False
    return any(p.kind is inspect.Parameter.VAR_KEYWORD for p in sig.parameters.values())


def _native_names(est: Any) -> set[str]:
    """Native parameter names (and aliases) of libraries whose estimators take ``**kwargs``."""
    if type(est).__module__.startswith("lightgbm"):
        try:
            from lightgbm.basic import _ConfigAliases

            aliases = _ConfigAliases._get_all_param_aliases()
            return {a for names in aliases.values() for a in names} | set(aliases)
        except Exception:  # noqa: BLE001 - private API; fall back to the near-miss rule
            return set()
    return set()


def _check_params(est: Any, params: Mapping[str, Any], name: str, field: str) -> None:
    valid = list(est.get_params(deep=True))
    loose = _takes_kwargs(est)
    native = _native_names(est) if loose else set()
    for key in params:
        if key in valid or key in native:
            continue
        hint = close_matches(key, valid, n=1)
        if loose and not hint:
            continue  # a native parameter of the library, passed through
        cls = type(est).__name__
        tail = f"did you mean {hint[0]!r}?" if hint else f"valid params: {', '.join(sorted(valid))}"
        raise InvalidInput(
            f"unknown param {key!r} for model {name!r} ({cls}); {tail}", field=f"{field}.{key}"
        )


def invalid_params(
    exc: BaseException, name: str, params: Mapping[str, Any], field: str = "model.params"
) -> InvalidInput:
    """An estimator's own parameter error as a one-line InvalidInput naming the param when possible."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    found = _PARAM_IN_MESSAGE.search(text)
    key = (
        found.group(1)
        if found
        else next((k for k in params if re.search(rf"\b{re.escape(k)}\b", text)), None)
    )
    where = f"{field}.{key}" if key and key in params else field
    return InvalidInput(f"invalid params for model {name!r}: {text}", field=where)


def _validate_values(est: Any, name: str, params: Mapping[str, Any], field: str) -> None:
    """Run scikit-learn's constructor-param validation now rather than at fit time."""
    if not hasattr(type(est), "_parameter_constraints") or not hasattr(est, "_validate_params"):
        return
    try:
        est._validate_params()
    except (ValueError, TypeError) as exc:
        if type(exc).__name__ == "InvalidParameterError":
            raise invalid_params(exc, name, params, field) from None
    except Exception:  # noqa: BLE001 - private helper: never fail resolution because of it
        return


def resolve_model(
    name: str,
    task: Task,
    params: Mapping[str, Any],
    *,
    seed: int | None = None,
    field: str = "model.params",
) -> Any:
    """An unfitted estimator for model ``name`` of ``task`` with ``params``.

    Args:
        name: a task model, a carnet short name (:func:`known_models`) or a class path.
        task: the resolved task plugin.
        params: constructor params (nested ``step__param`` keys work for pipelines).
        seed: set as ``random_state`` / ``seed`` when the estimator has one and params do not.
        field: the spec path params come from (``search.space`` for HPO-sampled params).

    Raises:
        InvalidInput: unknown model (``model.name``, close names listed), missing optional
            package (``pip install 'carnet[lightgbm]'``), unknown or invalid param
            (``model.params.<param>``).
    """
    params = dict(params)
    defaults: dict[str, Any] = {}
    task_models = _task_models(task)
    family = MODELS.get(task.family, {})
    if name in task_models:
        factory: Callable[..., Any] = task_models[name]
    elif name in family:
        path, defaults = family[name]
        factory = _import_class(path, name)
    elif "." in name or ":" in name:
        factory = _import_class(name, name)
    else:
        known = known_models(task)
        hint = close_matches(name, known)
        tail = f"did you mean {' or '.join(repr(h) for h in hint)}? " if hint else ""
        raise InvalidInput(
            f"unknown model {name!r} for task {task.name!r}; {tail}known: {', '.join(known) or '(none)'}"
            " (or give a class path such as sklearn.svm.SVC)",
            field="model.name",
        )

    try:
        est = factory()
    except TypeError as exc:
        raise InvalidInput(
            f"model {name!r} cannot be built without arguments: {exc}", field="model.name"
        ) from None
    if not hasattr(est, "get_params") or not hasattr(est, "set_params"):
        try:  # a task's own non-scikit-learn model: its factory takes the params
            return factory(**params)
        except TypeError as exc:
            raise invalid_params(exc, name, params, field) from None

    _check_params(est, params, name, field)
    keys = est.get_params(deep=False)
    settings = {k: v for k, v in defaults.items() if k not in params}
    if seed is not None:
        seed_key = next((k for k in ("random_state", "seed") if k in keys), None)
        if seed_key is not None and seed_key not in params:
            settings[seed_key] = seed
    settings.update(params)
    try:
        est.set_params(**settings)
    except (ValueError, TypeError) as exc:
        raise invalid_params(exc, name, params, field) from None
    _validate_values(est, name, params, field)
    return est

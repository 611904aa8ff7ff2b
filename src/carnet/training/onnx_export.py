"""ONNX export of the pipelines carnet trains: skl2onnx converters for carnet's own transformers.

:class:`~carnet.training.transformers.CategoryStrings` becomes an identity on string tensors: an
ONNX graph receives categorical columns as strings, with a missing value written as the string
``"nan"`` (what :class:`~carnet.flavors.onnx.OnnxModel` feeds for NaN, None and ``pd.NA``). The
imputer that follows it in carnet's pipelines treats ``NaN`` as missing; in the exported copy it
treats ``"nan"`` as missing, with the same fitted statistics, so both give the same predictions.
Only skl2onnx's public registration API is used.
"""

from __future__ import annotations

import copy
import itertools
from typing import Any

from carnet.training.transformers import CategoryStrings

__all__ = ["MISSING_STRING", "onnx_ready", "register_converters"]

#: how a missing categorical value reaches an exported graph
MISSING_STRING = "nan"
_ALIAS = "CarnetCategoryStrings"
_registered = False


def _parse(scope: Any, model: Any, inputs: list[Any], custom_parsers: Any = None) -> list[Any]:
    """One operator whose output is a string tensor (the default parser would declare floats)."""
    from skl2onnx.common.data_types import StringTensorType

    operator = scope.declare_local_operator(_ALIAS, model)
    operator.inputs = inputs
    operator.outputs.append(scope.declare_local_variable("category_strings", StringTensorType()))
    return list(operator.outputs)


def _shape(operator: Any) -> None:
    """[N, C_1 + ... + C_n] strings: the input columns, unchanged."""
    from skl2onnx.common.data_types import StringTensorType

    width: int | None = 0
    for variable in operator.inputs:
        columns = variable.type.shape[1] if len(variable.type.shape) > 1 else None
        width = None if width is None or columns is None else width + columns
    operator.outputs[0].type = StringTensorType([operator.inputs[0].get_first_dimension(), width])


def _convert(scope: Any, operator: Any, container: Any) -> None:
    """Identity on one string input, a concatenation of several along the columns."""
    names = [variable.full_name for variable in operator.inputs]
    output = operator.outputs[0].full_name
    if len(names) == 1:
        container.add_node("Identity", names, [output], name=scope.get_unique_operator_name("Identity"))
    else:
        container.add_node("Concat", names, [output], axis=1, name=scope.get_unique_operator_name("Concat"))


def register_converters() -> None:
    """Make skl2onnx convert carnet's own transformers (once per process)."""
    global _registered
    if _registered:
        return
    from skl2onnx import update_registered_converter

    update_registered_converter(CategoryStrings, _ALIAS, _shape, _convert, parser=_parse)
    _registered = True


def onnx_ready(model: Any) -> Any:
    """``model`` ready for skl2onnx: converters registered and, in a copy, each imputer that follows
    a :class:`CategoryStrings` step told that ``"nan"`` is its missing value (``model`` is unchanged
    when it has no such step)."""
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline

    register_converters()

    def imputers(est: Any) -> list[SimpleImputer]:
        found: list[SimpleImputer] = []
        if isinstance(est, Pipeline):
            steps = [step for _, step in est.steps]
            for before, after in itertools.pairwise(steps):
                if isinstance(before, CategoryStrings) and isinstance(after, SimpleImputer):
                    found.append(after)
            for step in steps:
                found += imputers(step)
        for _, inner, *_rest in getattr(est, "transformers_", None) or []:
            if not isinstance(inner, str):
                found += imputers(inner)
        for _, inner in getattr(est, "transformer_list", None) or []:
            found += imputers(inner)
        return found

    if not imputers(model):
        return model
    ready = copy.deepcopy(model)
    for imputer in imputers(ready):
        if imputer.missing_values != imputer.missing_values:  # NaN: the strings step's missing value
            imputer.missing_values = MISSING_STRING
    return ready

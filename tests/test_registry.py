import pytest

from dsta.core import registry
from dsta.core.errors import DataError


def test_every_model_file_registers_itself_with_its_kind():
    import dsta.models  # noqa: F401  (imports every model file)

    assert registry.own_models() == ["dcpose", "dsta", "heatmap_single", "rle"] == list(registry.OWN_MODELS)
    assert {n: registry.model_target(n) for n in registry.own_models()} == {
        "dcpose": "heatmap",
        "dsta": "regression",
        "heatmap_single": "heatmap",
        "rle": "regression",
    }


def test_unknown_model_names_the_key():
    with pytest.raises(DataError, match="model.name: unknown model 'vitpose'"):
        registry.create_model("vitpose")
    with pytest.raises(DataError, match="model.name"):
        registry.model_target("vitpose")


def test_unknown_kind_is_refused():
    with pytest.raises(ValueError, match="kind"):
        registry.register_model("keypoints")

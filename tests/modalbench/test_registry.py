import pytest

from modalbench.datasets import dataset_names, get_dataset
from modalbench.errors import ModalbenchError, UnknownNameError
from modalbench.registry import Registry


def test_registry_rejects_duplicates_and_suggests():
    r: Registry[int] = Registry("widget")
    r.add("embracenet", 1)
    r.add("early", 2)
    with pytest.raises(ModalbenchError, match="already registered"):
        r.add("embracenet", 3)
    with pytest.raises(UnknownNameError) as e:
        r.get("embrasenet")
    assert "did you mean 'embracenet'" in str(e.value)
    assert r.names() == ["early", "embracenet"]


def test_builtin_datasets_register_and_describe_themselves():
    names = dataset_names()
    assert {"digits", "synthetic"} <= set(names)
    for name in names:
        b = get_dataset(name)
        params = b.default_params()
        mods = b.modalities(params)
        assert mods and len({m.name for m in mods}) == len(mods)
        assert b.tasks(params)[0].classes
        assert b.structure in ("windowed", "samples")


def test_unknown_dataset_suggests_close_names():
    with pytest.raises(UnknownNameError, match="did you mean 'digits'"):
        get_dataset("digit")

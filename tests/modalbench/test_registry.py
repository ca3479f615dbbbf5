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


def test_aliases_resolve_to_the_canonical_name():
    r: Registry[int] = Registry("method")
    r.add("cmp", 1, aliases=("compact-multilinear-pooling",))
    r.add("mul", 2)
    assert r.get("compact-multilinear-pooling") == 1 and r.canonical("compact-multilinear-pooling") == "cmp"
    assert "compact-multilinear-pooling" in r and r.names() == ["cmp", "mul"]
    assert r.aliases("cmp") == ["compact-multilinear-pooling"]
    with pytest.raises(ModalbenchError, match="already registered"):
        r.add("compact-multilinear-pooling", 3)
    with pytest.raises(UnknownNameError, match="did you mean 'compact-multilinear-pooling'"):
        r.get("compact-multilinear-pool")


def test_suggestion_helpers_are_shared():
    from modalbench.registry import did_you_mean, suggest_names

    assert suggest_names("adjpre", ["adj_pre", "adj_post", "embrace_dim"])[0] == "adj_pre"
    assert did_you_mean("zzz", ["adj_pre"]) == ""
    assert did_you_mean("skp", ["fill", "skip"]) == "; did you mean 'skip'?"

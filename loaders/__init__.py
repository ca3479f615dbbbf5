"""Dataset loaders: download and parse raw datasets. Importing this package registers every built-in dataset."""

from . import (  # noqa: F401
    avmnist,  # noqa: F401
    digits,
    fashion_halves,  # noqa: F401
    gas_sensor,
    higgs,  # noqa: F401
    mmimdb,  # noqa: F401
    mnist_halves,  # noqa: F401
    mudestreda,  # noqa: F401
    ntu,  # noqa: F401
    opportunity,
    synthetic,
)

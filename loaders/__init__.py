"""Dataset loaders: download and parse raw datasets. Importing this package registers every built-in dataset."""

from . import digits, gas_sensor, opportunity, synthetic  # noqa: F401
from . import higgs  # noqa: F401
from . import mudestreda  # noqa: F401
from . import mnist_halves  # noqa: F401
from . import fashion_halves  # noqa: F401
from . import avmnist  # noqa: F401

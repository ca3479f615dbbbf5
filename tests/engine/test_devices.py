"""Devices: every baseline's forward, a training step and the many-conditions fast path on CUDA (skipped without a
GPU), run the same way on the CPU; ``--device`` forms and ``--amp`` refused off CUDA in one line."""

from __future__ import annotations

import pytest
import torch

from modalbench.app.cli import main
from modalbench.baselines import baseline_names, create_baseline
from modalbench.engine.evaluation import evaluate_conditions
from modalbench.engine.trainer import fit, resolve_device
from modalbench.errors import ModalbenchError
from modalbench.meta import DatasetMeta, ModalitySpec

torch.set_num_threads(1)
NAMES = baseline_names()
META = DatasetMeta(
    "halves",
    (ModalitySpec("left", "image", (1, 8, 4)), ModalitySpec("right", "image", (1, 8, 4))),
    tuple(str(i) for i in range(10)),
)
NO_GPU = "no CUDA device: torch.cuda.is_available() is False on this machine"


def _data(n: int = 24) -> tuple[dict[str, torch.Tensor], torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    inputs = {m.name: torch.rand(n, *m.shape, generator=g) * 2 - 1 for m in META.modalities}
    return inputs, torch.ones(n, 2, dtype=torch.bool), torch.randint(0, 10, (n,), generator=g)


def _run_on(name: str, device: str) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Forward on ``device``, one training epoch of two steps there, then the many-conditions evaluation."""
    torch.manual_seed(0)
    model = create_baseline(name, META).to(device)
    inputs, avail, labels = _data()
    model.eval()
    with torch.no_grad():
        logits = model({k: v.to(device) for k, v in inputs.items()}, avail.to(device))
    assert logits.device.type == torch.device(device).type and logits.shape == (24, 10)

    def batches(epoch: int):
        for s in (0, 12):
            yield {k: v[s : s + 12] for k, v in inputs.items()}, avail[s : s + 12], labels[s : s + 12]

    res = fit(model, batches, lambda: batches(0), epochs=1, seed=0, device=device, progress=False, lr=1e-2)
    assert next(res.model.parameters()).device.type == torch.device(device).type
    conditions = torch.tensor([[True, True], [True, False], [False, True]])
    metrics = evaluate_conditions(res.model, inputs, avail, labels, conditions, device=device, batch_size=8)
    assert metrics["accuracy"].shape == (3,)
    return logits.detach().cpu(), metrics


@pytest.mark.parametrize("name", NAMES)
def test_forward_training_step_and_fast_path_on_the_cpu(name: str) -> None:
    _run_on(name, "cpu")


@pytest.mark.skipif(not torch.cuda.is_available(), reason=NO_GPU)
@pytest.mark.parametrize("name", NAMES)
def test_forward_training_step_and_fast_path_on_cuda(name: str) -> None:
    """On the GPU (fuse_conditions where the model has it), with the same forward logits as on the CPU."""
    cuda_logits, _ = _run_on(name, "cuda")
    cpu_logits, _ = _run_on(name, "cpu")
    assert torch.allclose(cuda_logits, cpu_logits, atol=1e-3, rtol=1e-3)


def test_device_forms_are_validated() -> None:
    assert resolve_device("cpu") == torch.device("cpu")
    with pytest.raises(ModalbenchError, match=r"--device 'gpu': expected auto, cpu, cuda, cuda:N or mps"):
        resolve_device("gpu")
    if not torch.cuda.is_available():
        assert resolve_device("auto") == torch.device("cpu")
        with pytest.raises(ModalbenchError, match=r"--device cuda:1: torch sees no CUDA device"):
            resolve_device("cuda:1")
    else:
        n = torch.cuda.device_count()
        with pytest.raises(ModalbenchError, match=rf"only {n} CUDA device"):
            resolve_device(f"cuda:{n}")
    if not torch.backends.mps.is_available():
        with pytest.raises(ModalbenchError, match=r"--device mps: torch sees no MPS device"):
            resolve_device("mps")


def test_bad_device_and_amp_off_cuda_are_one_line(capsys: pytest.CaptureFixture[str], tmp_path) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["train", "late", "--dataset", "digits", "--device", "tpu"])
    assert exc.value.code == 2
    assert "expected auto, cpu, cuda, cuda:N or mps, got 'tpu'" in capsys.readouterr().err
    code = main(["train", "late", "--dataset", "digits", "--device", "cpu", "--amp", "--root", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1
    assert "--amp: automatic mixed precision needs a CUDA device, got --device cpu" in err

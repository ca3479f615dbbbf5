"""Your own fusion model, evaluated by modalbench without touching its code. From this folder:

modalbench prepare digits && modalbench scenarios digits
modalbench evaluate --dataset digits --model my_model:make_model --seeds 0,1,2 --name my-mlp --out my.json
modalbench submit my.json && modalbench leaderboard --dataset digits
"""

import torch
from torch import nn

from modalbench.data import open_reader


class HalvesMLP(nn.Module):
    """Each modality flattened and zeroed when missing, concatenated with the availability flags, one hidden layer."""

    def __init__(self, meta):
        super().__init__()
        self.names = meta.modality_names
        width = sum(s.numel() for s in (torch.Size(m.shape) for m in meta.modalities)) + len(self.names)
        self.net = nn.Sequential(nn.Linear(width, 128), nn.ReLU(), nn.Linear(128, meta.n_classes))

    def forward(self, inputs, available):
        parts = [inputs[n].flatten(1) * available[:, i, None] for i, n in enumerate(self.names)]
        return self.net(torch.cat([*parts, available.float()], dim=1))


def make_model(meta, root=None):
    """Called by modalbench once per --seeds value, torch already seeded: train on the prepared train split."""
    inputs, _, labels = open_reader(root, meta.name, "train").read_all()
    x = {n: torch.from_numpy(v) for n, v in inputs.items()}
    y = torch.from_numpy(labels)
    model = HalvesMLP(meta)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(150):  # full-batch steps; each sample keeps at least one modality (modality dropout)
        available = torch.rand(len(y), len(meta.modality_names)) < 0.7
        available[~available.any(1), torch.randint(len(meta.modality_names), (1,))] = True
        loss = nn.functional.cross_entropy(model(x, available), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return model.eval()

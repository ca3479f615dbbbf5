"""The token encoder: picked for token modalities (a vocab_size), masked mean over non-pad positions, float ids
from the reader, and the fill of token modalities (the pad id, never an average)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from modalbench.baselines.encoders import MLPEncoder, TokenConvEncoder, make_encoder
from modalbench.meta import ModalitySpec
from modalbench.preprocess.normalise import token_stats
from modalbench.scenarios.fill import fill

TOKENS = ModalitySpec("text", "text", (6,), storage_dtype="int32", vocab_size=10)


def test_token_modalities_get_the_token_encoder_and_feature_text_an_mlp():
    assert isinstance(make_encoder(TOKENS, 8), TokenConvEncoder)
    assert isinstance(make_encoder(ModalitySpec("text", "text", (6,)), 8), MLPEncoder)
    with pytest.raises(ValueError, match="vocab_size"):
        TokenConvEncoder(ModalitySpec("text", "text", (6,)), 8)


def test_int32_storage_is_for_token_ids_only():
    with pytest.raises(ValueError, match="token ids"):
        ModalitySpec("x", "vector", (3,), storage_dtype="int32", vocab_size=10)
    spec = ModalitySpec.from_dict(TOKENS.to_dict())
    assert spec == TOKENS and TOKENS.to_dict()["vocab_size"] == 10
    assert "vocab_size" not in ModalitySpec("v", "vector", (3,)).to_dict()  # other stores keep their fingerprint


def test_pad_positions_do_not_change_the_encoding_and_float_ids_equal_integer_ids():
    torch.manual_seed(0)
    enc = TokenConvEncoder(TOKENS, 8, kernel=1).eval()
    ids = torch.tensor([[3, 4, 5, 0, 0, 0]])
    short = TokenConvEncoder(ModalitySpec("text", "text", (3,), storage_dtype="int32", vocab_size=10), 8, kernel=1)
    short.load_state_dict(enc.state_dict())
    with torch.no_grad():
        a = enc(ids.float())
        b = enc(ids)
        c = short.eval()(ids[:, :3].float())
        empty = enc(torch.zeros(1, 6))
    torch.testing.assert_close(a, b)
    torch.testing.assert_close(a, c)  # the mean runs over the 3 words, not the 6 positions
    torch.testing.assert_close(empty, torch.relu(enc.out.bias).reshape(1, -1))  # no words: zero features


def test_mean_fill_of_a_token_modality_writes_the_pad_id():
    stats = token_stats(TOKENS)
    assert stats["method"] == "tokens" and stats["scaled_mean"] == [0.0] * 6
    x = np.array([[3, 4, 5, 0, 0, 0], [7, 7, 2, 9, 0, 0]], dtype=np.float32)
    avail = np.array([[True], [False]])
    for strategy in ("mean", "zero", "ffill", "interpolate"):
        out = fill({"text": x}, avail, strategy, means={"text": stats["scaled_mean"]}, kinds={"text": "text"})
        np.testing.assert_array_equal(out["text"][0], x[0])
        np.testing.assert_array_equal(out["text"][1], np.zeros(6))

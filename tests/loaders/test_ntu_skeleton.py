"""The NTU ``.skeleton`` parser: the real file, generated files (empty frames, three bodies, truncated, wrong joint
count, non-numbers), body selection, resampling and centring against a per-line reference parser."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from helpers.ntu_fixture import random_sequence, reference_parse, reference_sample, skeleton_text
from modalbench.errors import ModalbenchError
from modalbench.loaders.ntu_skeleton import (
    JOINT_NAMES,
    SPINE_JOINT,
    parse_skeleton,
    read_skeleton,
    skeleton_sample,
    uniform_indices,
)

REAL = "formats/ntu/S001C001P001R001A001.skeleton"


def _real(shared_dir: Path) -> bytes:
    path = shared_dir / REAL
    if not path.is_file():
        pytest.skip(f"{path} not present")
    return path.read_bytes()


def test_real_file_parses_to_the_expected_shape_and_values(shared_dir: Path) -> None:
    data = _real(shared_dir)
    p = parse_skeleton(data, "real")
    assert p.n_frames == 103 and p.body_ids == ["72057594037931101"]
    assert p.xyz.shape == (1, 103, 25, 3) and p.present.all()
    lines = data.decode().splitlines()
    # 28 lines per frame (body count, body info, "25", 25 joints): joint j of frame f (0-based) is line 5 + 28 f + j
    assert p.xyz[0, 0, 0].tolist() == pytest.approx([0.2181153, 0.1725972, 3.785547])
    assert p.xyz[0, 0, 24].tolist() == pytest.approx([0.1268453, 0.2813963, 3.549525])
    for f, j in ((50, 7), (102, 3), (17, 20)):
        text = lines[4 + 28 * f + j].split()
        assert p.xyz[0, f, j].tolist() == pytest.approx([float(v) for v in text[:3]], rel=1e-6)
    s = skeleton_sample(p, frames=64, centre=False)
    assert s.xyz.shape == (64, 2, 25, 3) and s.n_frames == 103 and s.n_bodies == 1
    assert s.body_mask[:, 0].all() and not s.body_mask[:, 1].any() and not s.xyz[:, 1].any()
    np.testing.assert_array_equal(s.xyz[-1, 0], p.xyz[0, 102])  # uniform sampling ends on the last frame
    centred = read_skeleton(data, "real", frames=64)
    assert centred.xyz[0, 0, SPINE_JOINT].tolist() == [0.0, 0.0, 0.0]
    np.testing.assert_allclose(centred.xyz, reference_sample(data, 64), atol=1e-6)


def test_joint_names_and_spine() -> None:
    assert len(JOINT_NAMES) == 25 and JOINT_NAMES[SPINE_JOINT] == "spine_middle"


def test_frames_without_bodies_and_body_mask() -> None:
    a = np.full((25, 3), 1.0)
    text = skeleton_text([[], [("7", a)], [], [("7", a + 1.0)]])
    p = parse_skeleton(text.encode(), "gen")
    assert p.present.tolist() == [[False, True, False, True]]
    s = skeleton_sample(p, frames=4, centre=True)
    assert s.body_mask[:, 0].tolist() == [False, True, False, True]
    assert not s.xyz[0].any() and not s.xyz[2].any()  # absent frames stay zero
    # centred on the spine joint of the first tracked frame (frame 2): that frame is 0, frame 4 is 1
    assert np.allclose(s.xyz[1, 0], 0.0) and np.allclose(s.xyz[3, 0], 1.0)


def test_no_body_at_all_and_no_frame() -> None:
    s = read_skeleton(skeleton_text([[], [], []]).encode(), "gen", frames=5)
    assert s.xyz.shape == (5, 2, 25, 3) and not s.xyz.any() and not s.body_mask.any() and s.n_frames == 3
    s0 = read_skeleton(b"0\n", "gen", frames=5)
    assert s0.n_frames == 0 and s0.xyz.shape == (5, 2, 25, 3) and not s0.body_mask.any()


def test_three_bodies_keep_the_two_most_active() -> None:
    rng = np.random.default_rng(1)
    still = np.zeros((25, 3)) + 2.0
    frames = []
    for _ in range(6):
        frames.append(
            [
                ("100", still),  # never moves
                ("200", rng.normal(0, 1.0, (25, 3))),  # moves most
                ("300", rng.normal(0, 0.1, (25, 3))),  # moves a little
            ]
        )
    p = parse_skeleton(skeleton_text(frames).encode(), "gen")
    assert p.body_ids == ["100", "200", "300"] and p.xyz.shape == (3, 6, 25, 3)
    s = skeleton_sample(p, frames=6, centre=False)
    assert np.allclose(s.xyz[:, 0], p.xyz[1]) and np.allclose(s.xyz[:, 1], p.xyz[2])
    assert s.n_bodies == 3 and s.body_mask.all()


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda lines: lines[:20], r"gen line 21: file ends early inside the joints of frame 1"),
        (lambda lines: lines[:2], r"gen line 3: file ends early"),
        (lambda lines: [*lines[:3], "24", *lines[4:]], r"gen line 4: joint count 24, expected 25"),
        (lambda lines: [*lines[:5], lines[5].rsplit(" ", 1)[0], *lines[6:]], r"gen line 6: joint line has 11 fields"),
        (lambda lines: [*lines[:5], "x" + lines[5][1:], *lines[6:]], r"gen line 6: 'x\.\S*' is not a number"),
        (lambda lines: [*lines[:2], lines[2] + " 9", *lines[3:]], r"gen line 3: body info line has 11 fields"),
        (lambda lines: ["three", *lines[1:]], r"gen line 1: expected the frame count"),
        (lambda lines: [*lines, "1"], r"unexpected content after the 2 frames"),
    ],
)
def test_malformed_files_name_the_line(mutate, message) -> None:
    lines = random_sequence(np.random.default_rng(0), 2).splitlines()
    with pytest.raises(ModalbenchError, match=message):
        parse_skeleton(("\n".join(mutate(lines)) + "\n").encode(), "gen")


def test_matches_the_per_line_reference_on_generated_files() -> None:
    rng = np.random.default_rng(5)
    for n, bodies in ((1, 1), (7, 2), (90, 3), (130, 2)):
        data = random_sequence(rng, n, n_bodies=bodies).encode()
        p = parse_skeleton(data, "gen")
        ref_n, ref_xyz, ref_present = reference_parse(data)
        assert p.n_frames == ref_n and p.body_ids == list(ref_xyz)
        for k, body in enumerate(p.body_ids):
            np.testing.assert_array_equal(p.xyz[k], ref_xyz[body])
            np.testing.assert_array_equal(p.present[k], ref_present[body])
        np.testing.assert_allclose(read_skeleton(data, "gen", frames=16).xyz, reference_sample(data, 16), atol=1e-6)


def test_crlf_and_missing_final_newline() -> None:
    text = random_sequence(np.random.default_rng(2), 3)
    a = parse_skeleton(text.encode(), "gen")
    b = parse_skeleton(text.replace("\n", "\r\n").encode(), "gen")
    c = parse_skeleton(text.rstrip("\n").encode(), "gen")
    np.testing.assert_array_equal(a.xyz, b.xyz)
    np.testing.assert_array_equal(a.xyz, c.xyz)


def test_uniform_indices() -> None:
    assert uniform_indices(103, 4).tolist() == [0, 34, 68, 102]
    assert uniform_indices(3, 5).tolist() == [0, 0, 1, 2, 2]
    assert uniform_indices(0, 2).tolist() == [0, 0]
    with pytest.raises(ModalbenchError, match="frames must be >= 1"):
        skeleton_sample(parse_skeleton(b"0\n", "gen"), frames=0)

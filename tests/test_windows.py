"""The training-window sampler, by table: no video files."""

import numpy as np
import pytest

from lrcn.windows import Draw, draw_epoch, positions, rank_slices


def rng(seed=0):
    return np.random.default_rng(seed)


@pytest.mark.parametrize("length, num_frames, expected", [(5, 5, 1), (4, 5, 0), (0, 5, 0), (12, 5, 8), (7, 1, 7)])
def test_positions(length, num_frames, expected):
    assert positions(length, num_frames) == expected


def test_all_windows_of_every_item_once():
    draws = draw_epoch([7, 5, 3, 9], [1, 1, 1, 1], 5, None, rng())
    got = sorted((d.item, d.start) for d in draws)
    assert got == [(0, 0), (0, 1), (0, 2), (1, 0), (3, 0), (3, 1), (3, 2), (3, 3), (3, 4)]  # item 2 is too short


def test_windows_are_shuffled_across_items():
    draws = draw_epoch([30] * 4, [1] * 4, 5, None, rng())
    items = [d.item for d in draws]
    assert items != sorted(items)  # not item by item
    assert len(draws) == 4 * 26


@pytest.mark.parametrize("per_item, lengths, expected_counts", [
    (1, [10, 5, 20], [1, 1, 1]),     # the seed's one window per video
    (3, [10, 5, 20], [3, 1, 3]),     # a one-window item gives its one window
    (50, [10, 5, 20], [6, 1, 16]),   # more asked than exist: every window, none twice
])
def test_n_random_windows_per_item(per_item, lengths, expected_counts):
    draws = draw_epoch(lengths, [4] * len(lengths), 5, per_item, rng(3))
    counts = np.bincount([d.item for d in draws], minlength=len(lengths)).tolist()
    assert counts == expected_counts
    for i in range(len(lengths)):
        starts = [d.start for d in draws if d.item == i]
        assert len(set(starts)) == len(starts)  # distinct
        assert all(0 <= s <= lengths[i] - 5 for s in starts)


def test_views_drawn_within_each_items_views():
    draws = draw_epoch([40, 40], [4, 1], 5, None, rng(1))
    assert {d.view for d in draws if d.item == 0} == {0, 1, 2, 3}
    assert {d.view for d in draws if d.item == 1} == {0}


def test_a_function_of_the_generator_alone():
    a = draw_epoch([9, 14, 6], [4, 4, 4], 5, 2, rng(7))
    b = draw_epoch([9, 14, 6], [4, 4, 4], 5, 2, rng(7))
    c = draw_epoch([9, 14, 6], [4, 4, 4], 5, 2, rng(8))
    assert a == b and a != c


def test_bad_per_item_is_refused():
    with pytest.raises(ValueError):
        draw_epoch([9], [1], 5, 0, rng())


@pytest.mark.parametrize("total, batch, world", [(10, 4, 1), (10, 4, 2), (9, 2, 3), (1, 4, 2), (16, 4, 2)])
def test_rank_slices_partition_every_global_batch(total, batch, world):
    per_rank = [rank_slices(total, batch, r, world) for r in range(world)]
    assert len({len(p) for p in per_rank}) == 1  # every rank steps the same number of times
    covered = []
    for step in range(len(per_rank[0])):
        sizes = {p[step][1] for p in per_rank}
        assert len(sizes) == 1  # all ranks agree on the global batch's size
        parts = [range(p[step][0].start, p[step][0].stop) for p in per_rank]
        assert sum(map(len, parts)) == sizes.pop()
        covered += [i for part in parts for i in part]
    assert covered == list(range(total))


def test_one_process_batches_are_the_global_batches():
    assert [(s.start, s.stop, n) for s, n in rank_slices(10, 4, 0, 1)] == [(0, 4, 4), (4, 8, 4), (8, 10, 2)]
    # rank 1 of 2 has no share of the short last batch but still knows its size
    assert [(s.start, s.stop, n) for s, n in rank_slices(10, 4, 1, 2)] == [(4, 8, 8), (10, 10, 2)]


def test_draw_is_a_value():
    assert Draw(1, 2, 3) == Draw(1, 2, 3)


def _embedded(lengths, views=1, dim=3):
    from lrcn.datasets import VideoItem
    from lrcn.embedded import Embedded

    out = []
    for i, n in enumerate(lengths):
        e = np.zeros((views, n, dim), np.float16)
        e[:, :, 0] = np.arange(n)  # frame index
        e[:, :, 1] = i  # item
        e[:, :, 2] = np.arange(views)[:, None]  # view
        out.append(Embedded(VideoItem(f"c/v{i}.avi", i % 2, f"g{i}", "train"), e))
    return out


def test_batches_hold_the_drawn_windows_in_order_or_shuffled():
    from lrcn.embedded import train_batches

    data = _embedded([7, 5, 9], views=2)
    plain = list(train_batches(data, 5, 4, np.random.default_rng(0)))
    windows = [x for xs, _, _ in plain for x in xs.numpy()]
    assert len(windows) == 3 + 1 + 5 and [n for _, _, n in plain] == [4, 4, 1]
    for w in windows:
        assert np.array_equal(w[:, 0], np.arange(w[0, 0], w[0, 0] + 5))  # consecutive frames, in order
        assert len(set(w[:, 1])) == 1 and len(set(w[:, 2])) == 1  # one item, one view
    # augmentation is on: the windows come from every cached view, as drawn, not always the centre
    draws = __import__("lrcn.windows", fromlist=["draw_epoch"]).draw_epoch(
        [7, 5, 9], [2, 2, 2], 5, None, np.random.default_rng(0))
    assert [int(w[0, 2]) for w in windows] == [d.view for d in draws] and {int(w[0, 2]) for w in windows} == {0, 1}
    shuffled = [x for xs, _, _ in train_batches(data, 5, 4, np.random.default_rng(0), shuffle_frames=True)
                for x in xs.numpy()]
    assert any(not np.array_equal(a, b) for a, b in zip(windows, shuffled))
    for a, b in zip(windows, shuffled):  # the same windows, frames permuted within each
        assert sorted(a[:, 0]) == sorted(b[:, 0]) and a[0, 1] == b[0, 1]


def test_ddp_ranks_together_see_exactly_one_process_epoch():
    from lrcn.embedded import train_batches

    data = _embedded([8, 6, 11, 5, 7])
    one = [tuple(x[0, :2]) for xs, _, _ in train_batches(data, 5, 4, np.random.default_rng(3)) for x in xs.numpy()]
    ranks = [list(train_batches(data, 5, 2, np.random.default_rng(3), rank=r, world_size=2)) for r in range(2)]
    merged = []
    for step in range(len(ranks[0])):
        for r in range(2):
            merged += [tuple(x[0, :2]) for x in ranks[r][step][0].numpy()]
            assert ranks[r][step][2] == ranks[0][step][2]  # the same global batch size on both ranks
    assert merged == one

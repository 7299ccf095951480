import pytest
from hypothesis import given
from hypothesis import strategies as st

from lrcn.datasets import (VideoItem, group_of, load_dataset, load_folder, parse_class_index, parse_split_list,
                           split_train_val)
from lrcn.errors import SplitError

CLASSES = ["ApplyEyeMakeup", "Archery", "BabyCrawling"]


def write(path, text, encoding="utf-8"):
    path.write_bytes(text.encode(encoding))
    return path


def test_class_index_crlf_bom_trailing_blanks(tmp_path):
    p = write(tmp_path / "classInd.txt", "\ufeff1 ApplyEyeMakeup\r\n2 Archery\r\n3 BabyCrawling\r\n\r\n  \r\n")
    assert parse_class_index(p) == CLASSES


@pytest.mark.parametrize(
    "text,message",
    [
        ("1 A\n1 B\n", "class id 1 listed twice"),
        ("1 A\n2 A\n", "listed twice"),
        ("1 A\n3 B\n", "without gaps"),
        ("one A\n", ":1: expected"),
        ("", "no classes"),
    ],
)
def test_class_index_errors_name_file_and_line(tmp_path, text, message):
    p = write(tmp_path / "classInd.txt", text)
    with pytest.raises(SplitError, match=message) as err:
        parse_class_index(p)
    assert "classInd.txt" in str(err.value)


def test_split_list_train_and_test_forms(tmp_path):
    train = write(tmp_path / "trainlist01.txt",
                  "ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01.avi 1\r\nArchery/v_Archery_g09_c02.avi 2\r\n\r\n")
    test = write(tmp_path / "testlist01.txt", "BabyCrawling/v_BabyCrawling_g01_c01.avi\r\n")
    assert parse_split_list(train, CLASSES) == [("ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01.avi", 0),
                                                ("Archery/v_Archery_g09_c02.avi", 1)]
    assert parse_split_list(test, CLASSES) == [("BabyCrawling/v_BabyCrawling_g01_c01.avi", 2)]


@pytest.mark.parametrize(
    "line,message",
    [
        ("Nope/v_Nope_g01_c01.avi 1", "unknown class 'Nope'"),
        ("Archery/v_Archery_g01_c01.avi 7", "out of range"),
        ("Archery/v_Archery_g01_c01.avi 1", "disagrees"),
        ("Archery/v_Archery_g01_c01.avi x", "not a number"),
        ("v_Archery_g01_c01.avi", "no class"),
        ("Archery/a.avi 2\nArchery/a.avi 2", "already listed on line 2"),
        ("Archery/../../../outside/v.avi 2", "path leaves DATA_DIR"),
        ("/etc/Archery/v.avi 2", "path leaves DATA_DIR"),
        ("Archery\\..\\..\\v.avi 2", "path leaves DATA_DIR"),
    ],
)
def test_split_list_errors(tmp_path, line, message):
    p = write(tmp_path / "trainlist01.txt", "\n" + line + "\n")
    with pytest.raises(SplitError, match=message) as err:
        parse_split_list(p, CLASSES)
    assert "trainlist01.txt:2" in str(err.value) or "trainlist01.txt:3" in str(err.value)


def test_missing_split_file(tmp_path):
    with pytest.raises(SplitError, match="split file not found"):
        parse_split_list(tmp_path / "testlist01.txt", CLASSES)


@pytest.mark.parametrize("name,group", [("v_Archery_g08_c01.avi", "g08"), ("x_G3_y.mp4", "g03"), ("clip.mp4", "clip")])
def test_group_of(name, group):
    assert group_of(name) == group


def test_ucf_layout_and_number_of_classes(tiny_dataset):
    ds = load_dataset(tiny_dataset)
    assert ds.kind == "ucf101" and len(ds.classes) == 4
    assert {i.split for i in ds.items} == {"train", "test"}
    assert {i.group for i in ds.subset("test")} == {"g01", "g02", "g03"}
    two = load_dataset(tiny_dataset, number_of_classes=2)
    assert two.classes == ds.classes[:2] and {i.label for i in two.items} == {0, 1}
    with pytest.raises(SplitError, match="only 4 classes"):
        load_dataset(tiny_dataset, number_of_classes=9)


def test_folder_layout_is_deterministic(tmp_path, make_video):
    for c in ("walk", "run"):
        for k in range(6):
            make_video(f"root/{c}/clip{k}.avi", 3)
    a = load_folder(tmp_path / "root")
    b = load_folder(tmp_path / "root")
    assert a == b and a.classes == ("run", "walk") and len(a.items) == 12


def _items(groups_per_class, per_group):
    return [VideoItem(f"c{c}/v_g{g:02d}_{k}.avi", c, f"g{g:02d}", "train")
            for c in range(3) for g in range(groups_per_class) for k in range(per_group)]


def test_group_split_has_no_overlap_and_about_the_fraction():
    items = split_train_val(_items(20, 4), 0.2, seed=42)
    train_groups = {i.group for i in items if i.split == "train"}
    val_groups = {i.group for i in items if i.split == "val"}
    assert train_groups and val_groups and not (train_groups & val_groups)
    frac = sum(i.split == "val" for i in items) / len(items)
    assert 0.18 <= frac <= 0.3


@given(st.integers(2, 30), st.integers(1, 5), st.floats(0, 0.9), st.integers(0, 1000))
def test_group_split_properties(groups, per_group, fraction, seed):
    items = split_train_val(_items(groups, per_group), fraction, seed)
    train_groups = {i.group for i in items if i.split == "train"}
    val_groups = {i.group for i in items if i.split == "val"}
    assert not (train_groups & val_groups)
    assert train_groups  # never everything in validation
    assert split_train_val(_items(groups, per_group), fraction, seed) == items


def test_clips_are_read_only_at_the_rate_and_length_they_were_cut_at(tmp_path):
    from lrcn.config import Sampling
    from lrcn.datasets import Dataset
    from lrcn.errors import ConfigError

    clips = Dataset(tmp_path, ("A", "B"), (), "clips", sampling=Sampling(sampling_rate=10, reference_fps=25.0, num_frames=5))
    clips.check_sampling(2.5, 5, "lrcn train")  # the same: fine
    clips.check_sampling(2.5, 3, "lrcn train")  # shorter windows of the same clips: fine
    with pytest.raises(ConfigError, match=r"cut at 2.5 fps \(--sampling-rate 10 .*lrcn train samples at 5 fps"):
        clips.check_sampling(5.0, 5, "lrcn train")
    with pytest.raises(ConfigError, match="clips have 5 frames, the checkpoint needs windows of 8"):
        clips.check_sampling(2.5, 8, "the checkpoint")
    Dataset(tmp_path, ("A", "B"), (), "folder").check_sampling(5.0, 99, "lrcn train")  # raw videos: any rate

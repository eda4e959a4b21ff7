"""Sources: TFDS without TensorFlow on a dataset the test prepares, CSV, JSONL, text."""

import sys

import numpy as np
import pytest

from trax_rl import data


def _toy_builder():
    import tensorflow_datasets as tfds

    class ToyReviews(tfds.core.GeneratorBasedBuilder, skip_registration=True):
        VERSION = tfds.core.Version("1.0.0")
        url_infos = None

        def _info(self):
            return tfds.core.DatasetInfo(builder=self, features=tfds.features.FeaturesDict({
                "text": tfds.features.Text(), "label": tfds.features.ClassLabel(num_classes=2)}),
                supervised_keys=("text", "label"))

        def _split_generators(self, dl_manager):
            return {"train": self._generate_examples(20), "test": self._generate_examples(6)}

        def _generate_examples(self, n):
            for i in range(n):
                yield i, {"text": f"review {i}", "label": i % 2}

    return ToyReviews


def test_tfds_reads_an_array_record_dataset_without_tensorflow(tmp_path):
    import tensorflow_datasets as tfds

    builder = _toy_builder()(data_dir=str(tmp_path), file_format="array_record")
    builder.download_and_prepare(download_config=tfds.download.DownloadConfig())
    train = data.TFDS("toy_reviews", data_dir=str(tmp_path), keys=("text", "label"),
                      shuffle=False, repeat=False)()
    examples = list(train)
    assert len(examples) == 20
    # Stored order is tfds's shuffled-by-key order: match by content.
    assert sorted(int(t.split()[1]) for t, _ in examples) == list(range(20))
    assert all(int(t.split()[1]) % 2 == int(label) for t, label in examples)
    assert isinstance(examples[0][0], bytes) and examples[0][1].shape == ()
    test = list(data.TFDS("toy_reviews", data_dir=str(tmp_path), train=False, repeat=False)())
    assert len(test) == 6
    # Train shuffles per epoch by default, reproducibly.
    a = [next(s)[0] for s in [data.TFDS("toy_reviews", data_dir=str(tmp_path))()]
         for _ in range(40)]
    b = [next(s)[0] for s in [data.TFDS("toy_reviews", data_dir=str(tmp_path))()]
         for _ in range(40)]
    assert a == b and a[:20] != a[20:]
    assert "tensorflow" not in sys.modules


def test_tfds_missing_dataset_says_how_to_prepare(tmp_path):
    with pytest.raises(FileNotFoundError, match="not prepared .* never downloads"):
        data.TFDS("imdb_reviews", data_dir=str(tmp_path))
    with pytest.raises(FileNotFoundError, match="never downloads"):
        data.TFDS("no_such_dataset", data_dir=str(tmp_path))


def test_csv_jsonl_textlines(tmp_path):
    (tmp_path / "a.csv").write_text('text,label\n"hi, there",1\nbye,0\n')
    rows = list(data.CSV(str(tmp_path / "a.csv"), keys=["text", "label"], repeat=False)())
    assert rows[0][0] == "hi, there" and rows[0][1] == 1 and rows[1][1].dtype == np.int64
    with pytest.raises(KeyError, match="no column"):
        data.CSV(str(tmp_path / "a.csv"), keys=["nope"])
    (tmp_path / "a.jsonl").write_text('{"x": [1, 2], "y": "a"}\n{"x": [3], "y": "b"}\n')
    rows = list(data.JSONL(str(tmp_path / "a.jsonl"), keys=["x", "y"], repeat=False)())
    np.testing.assert_array_equal(rows[0][0], [1, 2])
    assert rows[1][1] == "b"
    (tmp_path / "t.txt").write_text("one\n\ntwo\n")
    stream = data.TextLines(str(tmp_path / "t.txt"))()
    assert [next(stream) for _ in range(3)] == ["one", "two", "one"]
    with pytest.raises(FileNotFoundError, match="does not exist"):
        data.TextLines(str(tmp_path / "missing.txt"))


def test_arrays_shuffles_each_epoch_reproducibly():
    stream = data.Arrays(np.arange(5), np.arange(5) * 2, shuffle=True, seed=0)()
    epochs = [[next(stream) for _ in range(5)] for _ in range(2)]
    assert all(int(y) == 2 * int(x) for e in epochs for x, y in e)
    assert sorted(int(x) for x, _ in epochs[0]) == list(range(5))
    assert [int(x) for x, _ in epochs[0]] != [int(x) for x, _ in epochs[1]]

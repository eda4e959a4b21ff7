"""experiments.translate on tiny catalogs the tests write (the real run is in README)."""

import hashlib
import json
import math
import os
import struct

import pytest

from experiments import translate

WORDS = [("open", "öffnen"), ("close", "schließen"), ("save", "speichern"),
         ("delete", "löschen"), ("print", "drucken"), ("copy", "kopieren")]
THINGS = [("file", "Datei"), ("window", "Fenster"), ("folder", "Ordner"),
          ("page", "Seite"), ("table", "Tabelle"), ("image", "Bild"),
          ("message", "Nachricht"), ("account", "Konto"), ("printer", "Drucker"),
          ("network", "Netzwerk")]


def write_mo(path, entries):
    """A GNU .mo file (little-endian, no hash table) of `{msgid: msgstr}` (bytes or str)."""
    entries = {**{"": "Content-Type: text/plain; charset=UTF-8\n"}, **entries}
    keys = sorted(entries, key=lambda k: k.encode() if isinstance(k, str) else k)
    ids = [k.encode() if isinstance(k, str) else k for k in keys]
    strs = [entries[k].encode() if isinstance(entries[k], str) else entries[k] for k in keys]
    n = len(keys)
    start = 7 * 4 + 16 * n  # header, then the two offset tables
    blob, table = b"", []
    for s in ids + strs:
        table.append((len(s), start + len(blob)))
        blob += s + b"\0"
    header = struct.pack("<7I", 0x950412DE, 0, n, 28, 28 + 8 * n, 0, 0)
    with open(path, "wb") as f:
        f.write(header + b"".join(struct.pack("<2I", *t) for t in table) + blob)


def sentence_pairs():
    return {f"{verb.capitalize()} the {thing}": f"{noun} {verb_de}"
            for verb, verb_de in WORDS for thing, noun in THINGS}


@pytest.fixture
def catalogs(tmp_path):
    folder = tmp_path / "de"
    folder.mkdir()
    write_mo(folder / "a.mo", {
        **sentence_pairs(),
        "Open the file": "Datei öffnen",
        "menu\x04Quit": "Beenden",             # msgctxt: the context is dropped
        "one file\x00%d files": "eine Datei\x00%d Dateien",  # plural: dropped
        "Untranslated": "",                    # empty: dropped
        "Two\nlines": "Zwei\nZeilen",          # multi-line: dropped
        "x" * 130: "y" * 130,                  # longer than max_chars: dropped
    })
    write_mo(folder / "b.mo", {"Open the file": "Die Datei öffnen", "Help": "Hilfe"})
    (folder / "c.mo").write_bytes(b"not a catalog")
    return folder


def test_read_catalogs_filters_and_keeps_the_first_translation(catalogs):
    pairs, unreadable = translate.read_catalogs(str(catalogs), max_chars=120)
    pairs = dict(pairs)
    assert pairs["Open the file"] == "Datei öffnen"  # a.mo sorts first
    assert pairs["Quit"] == "Beenden" and pairs["Help"] == "Hilfe"
    assert len(pairs) == len(sentence_pairs()) + 2
    assert not any("\n" in k or len(k) > 120 or "files" in k for k in pairs)
    assert unreadable == ["c.mo: OSError"]


def test_no_catalogs_is_a_one_line_error(tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        translate.text_common.main(translate.run, translate.Args,
                                   [f"--catalog_dir={tmp_path}", "--no_progress"])
    assert e.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: no .mo catalogs in") and "\n" not in err


def test_bad_model_shape_is_a_one_line_error(catalogs, capsys):
    with pytest.raises(SystemExit) as e:
        translate.text_common.main(translate.run, translate.Args,
                                   [f"--catalog_dir={catalogs}", "--d_model=10", "--n_heads=4"])
    assert e.value.code == 2
    assert capsys.readouterr().err.strip() == \
        "error: --d_model=10 must be divisible by --n_heads=4"


def test_held_out_split_is_a_fixed_hash_of_the_english():
    texts = [f"message number {i}" for i in range(4000)]
    held = [t for t in texts if translate.is_held_out(t)]
    expected = [t for t in texts
                if int.from_bytes(hashlib.sha256(t.encode()).digest(), "big") % 20 == 0]
    assert held == expected
    assert 0.04 < len(held) / len(texts) < 0.06
    pairs = [(t, t.upper()) for t in texts]
    train, held_out = translate.split_pairs(pairs[::-1])
    assert sorted(held_out) == sorted((t, t.upper()) for t in held)
    assert len(train) + len(held_out) == len(texts)


def test_bleu_report_against_hand_computed_bleu():
    # Precisions 5/6, 3/5, 2/4, 1/3; equal lengths, so no brevity penalty.
    report = translate.bleu_report(["the cat sat on a mat"], ["the cat sat on the mat"],
                                   ["the cat sat on a mat"])
    assert report["bleu"] == pytest.approx(100 * (5 / 6 * 3 / 5 * 2 / 4 * 1 / 3) ** 0.25,
                                           abs=1e-6)
    assert report["copy_input_bleu"] == pytest.approx(100.0)
    assert report["bleu_pairs"] == 1


def test_tiny_run_trains_translates_and_resumes(catalogs, tmp_path, capsys):
    argv = [f"--catalog_dir={catalogs}", f"--data_dir={tmp_path / 'data'}",
            f"--output_dir={tmp_path / 'run'}", "--n_steps=3", "--vocab_size=60",
            "--d_model=16", "--d_ff=32", "--n_heads=2", "--n_layers=1",
            "--n_warmup_steps=2", "--n_steps_per_checkpoint=3", "--n_eval_batches=1",
            "--no_progress", "--compilation_cache="]  # The session's cache (conftest.py).
    summary = translate.text_common.main(translate.run, translate.Args, argv)
    out = capsys.readouterr().out
    assert "the seed's five lines on 'The file could not be opened.':" in out
    assert summary["steps"] == 3 and summary["held_out_pairs"] >= 2
    assert isinstance(summary["translation"], str)
    assert math.isfinite(summary["bleu"]) and summary["bleu_pairs"] == summary["held_out_pairs"]
    assert summary["copy_input_bleu"] < 5  # English copied is no German
    with open(tmp_path / "run" / "summary.json") as f:
        assert json.load(f)["bleu"] == summary["bleu"]
    resumed = translate.text_common.main(translate.run, translate.Args,
                                         [a for a in argv if a != "--n_steps=3"]
                                         + ["--n_steps=5", "--resume"])
    assert resumed["steps"] == 5
    assert os.path.exists(tmp_path / "run" / "model.ckpt")


@pytest.mark.slow
def test_real_catalogs_translate_to_german(tmp_path):
    """The README's run: 16.4 BLEU after 1500 steps, where copying the input gets 17.9."""
    if not translate.glob.glob(os.path.join(translate.CATALOG_DIR, "*.mo")):
        pytest.skip(f"no German catalogs in {translate.CATALOG_DIR}")
    summary = translate.text_common.main(translate.run, translate.Args, [
        "--n_steps=1500", f"--output_dir={tmp_path / 'run'}",
        f"--data_dir={tmp_path / 'data'}", "--no_progress"])
    assert summary["bleu"] >= 12

"""Hostile bundles (issue 15): zips are bounded and leave nothing behind, a bundle cannot reach outside itself,
and every malformed manifest field is refused by `read_bundle`, `bundle inspect` and `Recognizer.from_bundle`
with the field named. Every bad input is generated here; no junk file is committed."""

import gc
import hashlib
import json
import os
import stat
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

import mujo_edge.bundle as bundle_module
from mujo_edge.bundle import (
    MANIFEST,
    MAX_ARCHIVE_ENTRIES,
    Artifact,
    BundleError,
    read_bundle,
    write_manifest,
    zip_bundle,
)
from mujo_edge.cli.runtime import bundle_app
from mujo_edge.runtime import Recognizer

CHANNELS = ("wrist_acc_x", "wrist_acc_y", "wrist_acc_z")
ONNX = "onnx-fp32"
TFLITE = "tflite-int8"

app = typer.Typer(pretty_exceptions_enable=False)
app.add_typer(bundle_app, name="bundle")
runner = CliRunner()


@pytest.fixture
def bundle(tmp_path, make_manifest) -> Path:
    """A bundle folder with placeholder model bytes (reading a bundle never runs its models)."""
    folder = tmp_path / "bundle"
    folder.mkdir()
    (folder / "model.onnx").write_bytes(b"onnx-bytes" * 100)
    (folder / "model.tflite").write_bytes(b"tflite-bytes" * 50)
    arts = [
        Artifact(ONNX, "onnx", "fp32", "model.onnx", "onnxruntime"),
        Artifact(
            TFLITE,
            "tflite",
            "int8",
            "model.tflite",
            "litert",
            input_dtype="int8",
            output_dtype="int8",
            input_quant=(0.05, 3),
            output_quant=(0.1, -2),
        ),
    ]
    write_manifest(folder, make_manifest(arts))
    return folder


@pytest.fixture
def private_tmp(tmp_path, monkeypatch) -> Path:
    """Where tempfile puts folders during the test, to see what an open leaves behind."""
    d = tmp_path / "tmp"
    d.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(d))
    return d


def _edit(folder: Path, change) -> None:
    path = folder / MANIFEST
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


def _refused_everywhere(folder: Path, field: str | None, match: str | None = None) -> BundleError:
    """read_bundle, `bundle inspect` and Recognizer.from_bundle each refuse `folder` with `field` named."""
    with pytest.raises(BundleError, match=match) as e:
        read_bundle(folder)
    assert e.value.field == field, str(e.value)
    assert "\n" not in str(e.value)
    r = runner.invoke(app, ["bundle", "inspect", str(folder)])
    assert r.exit_code != 0 and isinstance(r.exception, BundleError), r.output
    assert r.exception.field == field
    with pytest.raises(BundleError) as again:
        Recognizer.from_bundle(folder)
    assert again.value.field == field
    return e.value


# --- archives: bounded, and nothing left behind ---------------------------------------------------------------


def test_a_zip_leaves_nothing_behind_after_close_a_with_block_or_garbage_collection(bundle, tmp_path, private_tmp):
    z = zip_bundle(bundle, tmp_path / "b.zip")
    opened = read_bundle(z)
    assert opened.folder.parent == private_tmp and sorted(p.name for p in opened.folder.iterdir()) == sorted(
        [MANIFEST, "model.onnx", "model.tflite"]
    )
    opened.close()
    opened.close()  # twice is fine
    assert list(private_tmp.iterdir()) == []
    with read_bundle(z) as b:
        assert (b.folder / "model.onnx").is_file()
    assert list(private_tmp.iterdir()) == []
    read_bundle(z)  # dropped at once
    gc.collect()
    assert list(private_tmp.iterdir()) == []


def test_a_zip_that_fails_verification_leaves_nothing_behind(bundle, tmp_path, private_tmp):
    (bundle / "model.onnx").write_bytes(b"x" * 1000)  # same size, other content
    with zipfile.ZipFile(tmp_path / "b.zip", "w") as zf:
        for p in bundle.iterdir():
            zf.write(p, p.name)
    with pytest.raises(BundleError, match="sha256"):
        read_bundle(tmp_path / "b.zip")
    assert list(private_tmp.iterdir()) == []


def test_a_zip_is_removed_when_the_process_exits(bundle, tmp_path):
    z = zip_bundle(bundle, tmp_path / "b.zip")
    tmp = tmp_path / "proc-tmp"
    tmp.mkdir()
    code = f"from mujo_edge.bundle import read_bundle\nb = read_bundle({str(z)!r})\nprint(b.folder)"
    out = subprocess.run(
        [sys.executable, "-c", code], env={**os.environ, "TMPDIR": str(tmp)}, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().startswith(str(tmp)) and list(tmp.iterdir()) == []


def test_only_the_manifest_and_model_files_are_unpacked(bundle, tmp_path, private_tmp):
    z = tmp_path / "b.zip"
    with zipfile.ZipFile(z, "w") as zf:
        for p in bundle.iterdir():
            zf.write(p, f"inner/{p.name}")
        zf.writestr("inner/notes.txt", "not part of the bundle")
    with read_bundle(z) as b:
        assert sorted(p.name for p in b.folder.iterdir()) == sorted([MANIFEST, "model.onnx", "model.tflite"])


def test_an_archive_with_more_entries_than_a_bundle_can_have_is_refused(bundle, tmp_path, private_tmp):
    z = zip_bundle(bundle, tmp_path / "b.zip")
    with zipfile.ZipFile(z, "a") as zf:
        for i in range(MAX_ARCHIVE_ENTRIES):
            zf.writestr(f"junk/{i}.bin", b"")
    with pytest.raises(BundleError, match=f"{MAX_ARCHIVE_ENTRIES + 3} entries") as e:
        read_bundle(z)
    assert str(z) in str(e.value)
    assert list(private_tmp.iterdir()) == []


def test_a_zip_bomb_is_refused_before_anything_is_unpacked(bundle, tmp_path, private_tmp):
    big = b"\0" * (8 << 20)  # deflates about 1000x
    (bundle / "model.onnx").write_bytes(big)
    write_manifest(bundle, read_bundle(bundle, verify=False).manifest)
    z = tmp_path / "bomb.zip"
    with zipfile.ZipFile(z, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for p in bundle.iterdir():
            zf.write(p, p.name)
    with pytest.raises(BundleError, match="zip bomb") as e:
        read_bundle(z)
    assert "model.onnx" in str(e.value)
    assert list(private_tmp.iterdir()) == []


def test_an_archive_declaring_more_than_a_bundle_can_hold_is_refused(bundle, tmp_path, monkeypatch, private_tmp):
    z = zip_bundle(bundle, tmp_path / "b.zip")
    monkeypatch.setattr(bundle_module, "MAX_BUNDLE_BYTES", 1000)  # the real limit is hundreds of MB
    with pytest.raises(BundleError, match="unpacks to"):
        read_bundle(z)
    with pytest.raises(BundleError, match="more than a zipped bundle may hold"):
        zip_bundle(bundle, tmp_path / "c.zip")
    assert list(private_tmp.iterdir()) == []


def test_a_link_or_an_encrypted_entry_in_an_archive_is_refused(bundle, tmp_path, private_tmp):
    z = zip_bundle(bundle, tmp_path / "b.zip")
    link = zipfile.ZipInfo("extra")
    link.external_attr = (stat.S_IFLNK | 0o777) << 16
    with zipfile.ZipFile(z, "a") as zf:
        zf.writestr(link, "/etc/hostname")
    with pytest.raises(BundleError, match="symbolic link"):
        read_bundle(z)
    z2 = zip_bundle(bundle, tmp_path / "c.zip")
    raw = bytearray(z2.read_bytes())
    central = raw.index(b"PK\x01\x02")  # the first central directory entry (zipfile writes no encryption)
    raw[central + 8] |= 0x1  # general purpose flag bit 0: encrypted
    z2.write_bytes(bytes(raw))
    with pytest.raises(BundleError, match="encrypted"):
        read_bundle(z2)
    assert list(private_tmp.iterdir()) == []


@pytest.mark.parametrize("name", ["../evil", "/abs/evil", "a/../../evil", "C:evil", "\\evil"])
def test_an_unsafe_member_name_is_refused(bundle, tmp_path, name):
    z = zip_bundle(bundle, tmp_path / "b.zip")
    with zipfile.ZipFile(z, "a") as zf:
        zf.writestr(zipfile.ZipInfo(name), "x")
    with pytest.raises(BundleError, match="unsafe path"):
        read_bundle(z)


# --- a closed world ---------------------------------------------------------------------------------------------


def _point_at(folder: Path, name: str, target: Path) -> None:
    """Make artifact `name` claim `target` with its true size and sha256 (the hash-oracle set-up)."""
    data = target.read_bytes()

    def change(d):
        a = next(a for a in d["artifacts"] if a["name"] == name)
        a.update(file=str(target) if target.is_absolute() else target.name, bytes=len(data))
        a["sha256"] = hashlib.sha256(data).hexdigest()

    _edit(folder, change)


@pytest.mark.parametrize("file", ["{outside}", "../secret.txt", "sub/model.onnx", "..", "C:model.onnx", "a\\b"])
def test_an_artifact_file_must_be_a_plain_name_inside_the_bundle(bundle, tmp_path, file):
    secret = tmp_path / "secret.txt"
    secret.write_text("host secret\n")
    (bundle / "sub").mkdir()
    (bundle / "sub" / "model.onnx").write_bytes(b"onnx-bytes" * 100)
    _point_at(bundle, ONNX, secret)
    _edit(bundle, lambda d: d["artifacts"][0].update(file=file.format(outside=secret)))
    e = _refused_everywhere(bundle, f"artifacts.{ONNX}.file", "plain file name")
    assert hashlib.sha256(secret.read_bytes()).hexdigest() not in str(e)


def test_inspect_is_no_hash_oracle_for_host_files(bundle, tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("host secret\n")
    _point_at(bundle, ONNX, secret)
    r = runner.invoke(app, ["bundle", "inspect", str(bundle), "--json"])
    assert r.exit_code != 0 and isinstance(r.exception, BundleError)
    assert r.exception.field == f"artifacts.{ONNX}.file"
    assert hashlib.sha256(secret.read_bytes()).hexdigest()[:12] not in r.output


def test_a_zip_holding_only_a_manifest_cannot_run_a_model_from_elsewhere(bundle, tmp_path, private_tmp):
    elsewhere = bundle / "model.onnx"
    _point_at(bundle, ONNX, elsewhere.resolve())
    z = tmp_path / "only-manifest.zip"
    with zipfile.ZipFile(z, "w") as zf:
        zf.write(bundle / MANIFEST, MANIFEST)
    with pytest.raises(BundleError) as e:
        Recognizer.from_bundle(z, engine="onnxruntime")
    assert e.value.field == f"artifacts.{ONNX}.file"
    assert list(private_tmp.iterdir()) == []


def test_a_symlinked_model_file_is_refused(bundle, tmp_path):
    outside = tmp_path / "outside.bin"
    outside.write_bytes((bundle / "model.onnx").read_bytes())
    (bundle / "model.onnx").unlink()
    (bundle / "model.onnx").symlink_to(outside)  # same bytes, so size and sha256 would pass
    _refused_everywhere(bundle, f"artifacts.{ONNX}.file", "symbolic link")


def test_a_symlinked_manifest_or_a_model_that_is_not_a_file_is_refused(bundle, tmp_path):
    real = tmp_path / "elsewhere.json"
    (bundle / MANIFEST).rename(real)
    (bundle / MANIFEST).symlink_to(real)
    with pytest.raises(BundleError, match="symbolic link"):
        read_bundle(bundle)
    (bundle / MANIFEST).unlink()
    real.rename(bundle / MANIFEST)
    (bundle / "model.tflite").unlink()
    os.mkfifo(bundle / "model.tflite")  # reading it would block forever
    with pytest.raises(BundleError, match="not a regular file") as e:
        read_bundle(bundle)
    assert e.value.field == f"artifacts.{TFLITE}.file"


# --- the manifest: every field checked, named in the error ---------------------------------------------------


def _nested(depth: int) -> str:
    return "[" * depth + "]" * depth


@pytest.mark.parametrize("depth", [40, 200_000])
def test_deeply_nested_json_is_refused(bundle, depth):
    text = (bundle / MANIFEST).read_text()
    (bundle / MANIFEST).write_text(text.replace('"metrics": {}', f'"metrics": {{"x": {_nested(depth)}}}'))
    _refused_everywhere(bundle, None, "nested deeper")


def test_a_manifest_that_is_not_utf8_is_refused(bundle):
    raw = (bundle / MANIFEST).read_bytes().replace(b"activity a", b"activit\xe9 a")  # latin-1
    (bundle / MANIFEST).write_bytes(raw)
    _refused_everywhere(bundle, None, "not UTF-8")


def test_an_oversized_manifest_is_refused_unread(bundle):
    with open(bundle / MANIFEST, "ab") as f:
        f.write(b" " * (bundle_module.MAX_MANIFEST_BYTES + 1))
    _refused_everywhere(bundle, None, "at most")


def _set(path: str, value):
    """A change that sets `path` ("a.b" or "artifacts.NAME.key") in the manifest to `value`."""

    def change(d):
        keys = path.split(".")
        node = d
        if keys[0] == "artifacts" and len(keys) == 3:
            node = next(a for a in d["artifacts"] if a["name"] == keys[1])
            keys = keys[2:]
        for k in keys[:-1]:
            node = node[k]
        node[keys[-1]] = value

    return change


BAD_FIELDS = [
    # (what, field set to value, field named in the error)
    ("quant of one number", f"artifacts.{TFLITE}.input_quant", [0.05], f"artifacts.{TFLITE}.input_quant"),
    ("quant not a list", f"artifacts.{TFLITE}.input_quant", "0.05,3", f"artifacts.{TFLITE}.input_quant"),
    ("quant as an object", f"artifacts.{TFLITE}.output_quant", {"scale": 1}, f"artifacts.{TFLITE}.output_quant"),
    ("zero scale", f"artifacts.{TFLITE}.input_quant", [0.0, 3], f"artifacts.{TFLITE}.input_quant"),
    ("fractional zero point", f"artifacts.{TFLITE}.input_quant", [0.05, 3.5], f"artifacts.{TFLITE}.input_quant"),
    ("zero point beyond int8", f"artifacts.{TFLITE}.input_quant", [0.05, 4000], f"artifacts.{TFLITE}.input_quant"),
    ("unknown I/O dtype", f"artifacts.{ONNX}.input_dtype", "float64", f"artifacts.{ONNX}.input_dtype"),
    ("negative byte count", f"artifacts.{ONNX}.bytes", -5, f"artifacts.{ONNX}.bytes"),
    ("duplicate labels", "labels", ["a", "a"], "labels"),
    ("empty label", "labels", ["a", ""], "labels"),
    ("labels not strings", "labels", [1, 2], "labels"),
    ("shape with 4 channels", "input.shape", ["batch", 4, 100], "input.shape"),
    ("shape with another window", "input.shape", ["batch", 3, 50], "input.shape"),
    ("shape of two dimensions", "input.shape", [3, 100], "input.shape"),
    ("shape missing", "input.shape", None, "input.shape"),
    ("input dtype", "input.dtype", "int16", "input.dtype"),
    ("input not an object", "input", ["x"], "input"),
    ("window not an object", "window", 5, "window"),
    ("window length not whole", "window.length", 100.5, "window.length"),
    ("window step a string", "window.step", "50", "window.step"),
    ("artifacts not a list", "artifacts", {"a": 1}, "artifacts"),
    ("artifact not an object", "artifacts", ["model.onnx"], "artifacts"),
    ("label texts not strings", "label_texts", {"a": 5}, "label_texts"),
    ("unknown kind", "kind", "regressor", "kind"),
    ("normaliser not an object", "normaliser", [1, 2], "normaliser"),
]


@pytest.mark.parametrize(("what", "key", "value", "field"), BAD_FIELDS, ids=[b[0] for b in BAD_FIELDS])
def test_a_malformed_field_is_refused_naming_it(bundle, what, key, value, field):
    _edit(bundle, _set(key, value))
    _refused_everywhere(bundle, field)


def test_duplicate_channels_are_refused(bundle):
    twice = ["wrist_acc_x", "wrist_acc_x", "wrist_acc_z"]

    def change(d):
        d["input"]["channels"] = d["normaliser"]["channels"] = twice

    _edit(bundle, change)
    _refused_everywhere(bundle, "input.channels", "repeat")


@pytest.mark.parametrize(("rate", "gap"), [(1e9, 0.25), (1e5, 0.25), (0.5, 3.0), (0.01, 200.0)])
def test_a_rate_no_wearable_has_is_refused(bundle, rate, gap):
    def change(d):
        d["window"].update(rate_hz=rate, max_gap_s=gap)
        d["input"]["sample_rate_hz"] = rate

    _edit(bundle, change)
    _refused_everywhere(bundle, "window.rate_hz", "not a wearable's sample rate")


def test_a_window_longer_than_a_minute_is_refused(bundle):
    def change(d):
        d["window"]["length"] = 10**7
        d["input"]["shape"] = ["batch", 3, 10**7]

    _edit(bundle, change)
    _refused_everywhere(bundle, "window.length")


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_a_non_finite_number_is_refused(bundle, constant):
    text = (bundle / MANIFEST).read_text()
    (bundle / MANIFEST).write_text(text.replace('"mean": [\n      0.0', f'"mean": [\n      {constant}', 1))
    _refused_everywhere(bundle, None, "not a number")


def test_the_cli_prints_one_line_and_exits_1(bundle):
    (bundle / MANIFEST).write_bytes(b'{"schema": ' + b"[" * 100_000)
    out = subprocess.run(
        [sys.executable, "-m", "mujo_edge", "bundle", "inspect", str(bundle)], capture_output=True, text=True
    )
    assert out.returncode == 1 and "Traceback" not in out.stderr
    assert out.stderr.strip().startswith("error:") and MANIFEST in out.stderr


def test_the_shipped_and_a_written_bundle_still_load(bundle, tmp_path):
    from mujo_edge.default_model import bundle_path

    assert read_bundle(bundle_path()).manifest.labels
    assert read_bundle(bundle).manifest.artifact(TFLITE).input_quant == (0.05, 3)
    with read_bundle(zip_bundle(bundle, tmp_path / "b.zip")) as b:
        assert b.manifest == read_bundle(bundle).manifest

"""Batch settings files: TOML and YAML, defaults, and errors that name the key and the problem."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from vibmag.batch import BatchSettings, SettingsError, load_settings, parse_settings
from vibmag.batch.settings import WHOLE_FRAME
from vibmag.cli import main

DOC = Path(__file__).resolve().parents[2] / "docs" / "batch.md"

TOML = """
[input]
dataset = "/*/frames"
frame_rate = "2 kHz"

[analysis]
n_peaks = 3
deflection_shapes = true

[analysis.regions]
beam = [10, 0, 40, 48]
tip = [[0, 40], [20, 48], [0, 48]]
whole = "all"

[magnify]
alpha = 15
method = "lagrangian"
"""

YAML = """
input:
  dataset: /*/frames
  frame_rate: 2 kHz
analysis:
  n_peaks: 3
  deflection_shapes: true
  regions:
    beam: [10, 0, 40, 48]
    tip: [[0, 40], [20, 48], [0, 48]]
    whole: all
magnify:
  alpha: 15
  method: lagrangian
"""


def test_toml_and_yaml_give_the_same_validated_settings(tmp_path):
    (tmp_path / "batch.toml").write_text(TOML)
    (tmp_path / "batch.yaml").write_text(YAML)
    toml, yaml = load_settings(tmp_path / "batch.toml"), load_settings(tmp_path / "batch.yaml")
    assert toml == yaml
    assert toml.input.frame_rate == "2 kHz" and toml.analysis.n_peaks == 3 and toml.analysis.deflection_shapes
    assert toml.analysis.region_items() == (("beam", (10, 0, 40, 48)), ("tip", ((0.0, 40.0), (20.0, 48.0), (0.0, 48.0))), ("whole", None))
    # a [magnify] section means a clip is wanted; defaults fill the rest
    assert toml.magnify.enabled and toml.magnify.alpha == 15.0 and toml.magnify.relative_width == 0.25
    assert toml.parallel.tile_size == 256 and toml.output.plots is False


def test_defaults_analyse_the_whole_frame_without_a_clip():
    settings = parse_settings(None)
    assert settings == BatchSettings()
    assert settings.analysis.region_items() == ((WHOLE_FRAME, None),)
    assert not settings.magnify.enabled and settings.input.dataset is None


def test_settings_round_trip_through_their_dict_and_digest_ignores_retries():
    settings = parse_settings({"analysis": {"regions": {"tip": [[0, 1], [2, 3], [4, 5]]}}, "magnify": {"enabled": False}})
    assert parse_settings(settings.to_dict()) == settings
    assert settings.replace(parallel={"retries": 5}).digest() == settings.digest()
    assert settings.replace(analysis={"n_peaks": 2}).digest() != settings.digest()


def test_overrides_replace_keys_of_the_file(tmp_path):
    (tmp_path / "batch.toml").write_text(TOML)
    settings = load_settings(tmp_path / "batch.toml", input={"frame_rate": "3 kHz", "pixel_size": None})
    assert settings.input.frame_rate == "3 kHz" and settings.input.dataset == "/*/frames"
    assert not load_settings(None, magnify={"alpha": None}).magnify.enabled  # an unset override adds nothing


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"analysis": {"n_peaks": "five"}}, "analysis.n_peaks: expected an integer >= 1, got 'five'"),
        ({"analysis": {"n_peak": 3}}, "analysis.n_peak: unknown setting (did you mean 'n_peaks'?)"),
        ({"anlysis": {}}, "anlysis: unknown section (did you mean 'analysis'?)"),
        ({"input": {"frame_rate": 2000}}, "input.frame_rate: expected frequency with its unit as a string (e.g. '2 kHz'), got 2000"),
        ({"input": {"frame_rate": "2 mm"}}, "input.frame_rate: '2 mm' is not a frequency"),
        ({"input": {"pixel_size": "-1 mm"}}, "input.pixel_size: must be positive"),
        ({"input": {"dataset": "cam0/frames"}}, "input.dataset: expected an HDF5 path from the file's root"),
        ({"analysis": {"regions": {"beam": [40, 0, 10, 48]}}}, "analysis.regions: beam: a box [y0, x0, y1, x1] needs y0 < y1"),
        ({"analysis": {"regions": {"beam": [1, 2]}}}, 'analysis.regions: beam: expected "all", a box'),
        ({"analysis": {"deflection_shapes": "yes"}}, "analysis.deflection_shapes: expected true or false, got 'yes'"),
        ({"analysis": {"flow_method": "magic"}}, "analysis.flow_method: expected one of 'lucas-kanade'"),
        ({"magnify": {"method": "eulerian"}}, "magnify.method: expected one of 'flowmag', 'lagrangian', 'splat', 'linear', 'phase', got 'eulerian'"),
        ({"magnify": {"alpha": 0}}, "magnify.alpha: expected a number > 0, got 0"),
        ({"parallel": {"tile_size": 4}}, "parallel.tile_size: expected an integer >= 8, got 4"),
        ({"parallel": 3}, "parallel: expected a table of settings, got 3"),
    ],
)
def test_errors_name_the_key_and_the_problem(data, message):
    with pytest.raises(SettingsError, match="invalid settings") as info:
        parse_settings(data, source="batch.toml")
    assert message in str(info.value)
    assert str(info.value).startswith("batch.toml: ")


def test_every_problem_is_reported_at_once():
    with pytest.raises(SettingsError) as info:
        parse_settings({"analysis": {"n_peaks": 0, "deflection_shapes": 1}, "output": {"plot": True}})
    text = str(info.value)
    assert "analysis.n_peaks" in text and "analysis.deflection_shapes" in text and "output.plot: unknown setting (did you mean 'plots'?)" in text


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("bad.toml", "[input\n", "bad.toml: not valid TOML"),
        ("bad.yaml", "input: [", "bad.yaml: not valid YAML"),
        ("bad.json", "{}", "settings files are .toml, .yaml or .yml"),
        ("list.yaml", "- 1\n", "expected a table of sections"),
    ],
)
def test_unreadable_files_are_named(tmp_path, name, text, message):
    (tmp_path / name).write_text(text)
    with pytest.raises(SettingsError, match=message.replace(".", r"\.")):
        load_settings(tmp_path / name)


def test_a_missing_file_is_named(tmp_path):
    with pytest.raises(SettingsError, match="no such settings file"):
        load_settings(tmp_path / "missing.toml")


def test_bad_settings_exit_2_with_the_key_named(tmp_path, capsys, root_logging):
    (tmp_path / "batch.toml").write_text("[analysis]\nn_peaks = 0\n")
    (tmp_path / "a.h5").write_bytes(b"")
    assert main(["batch", str(tmp_path / "a.h5"), "-o", str(tmp_path / "r.h5"), "--settings", str(tmp_path / "batch.toml")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("vibmag batch: error:") and "analysis.n_peaks: expected an integer >= 1, got 0" in err
    assert not (tmp_path / "r.h5").exists()


def test_every_setting_is_documented():
    text = DOC.read_text()
    for section in dataclasses.fields(BatchSettings):
        if section.name == "source":
            continue
        for setting in dataclasses.fields(section.default_factory):
            assert f"| `{section.name}.{setting.name}` |" in text

"""report.html and quality.html say when the model or segmenter has random weights, and explain
the sanity verdicts."""
import json


def test_report_html_marks_random_weights_and_shows_examples_full_width(reference_report):
    page = (reference_report / "report.html").read_text()
    assert "random weights: labels mean nothing (model &#39;tiny&#39;, segmenter &#39;tiny&#39;)" in page
    assert ".examples figure{margin:0;max-width:100%}" in page


def test_trained_configs_carry_no_mark():
    from geoxai.report.html import random_weights_note

    assert random_weights_note({"model": "imagenet-lite0", "segmenter": "ade20k-hrnet"}) == ""
    assert random_weights_note({"model": "s2", "model_options": {"pretrained": False}}) == \
        "random weights: labels mean nothing (model 's2')"
    assert random_weights_note({"model": "tiny", "model_options": {"weights": "tiny.safetensors"}}) == ""
    assert random_weights_note(None) == ""


def test_quality_html_marks_random_weights_and_explains_partial(tmp_path):
    from geoxai.quality.outputs import SANITY_NOTE, _random_note, render_html

    (tmp_path / "config.json").write_text(json.dumps({"model": "tiny", "model_options": {}}))
    note = _random_note(tmp_path)
    assert note == "random weights: labels mean nothing (model 'tiny')"
    page = render_html(["explainer"], [["gradcam"]], {}, {}, random_note=note)
    assert "random weights: labels mean nothing (model &#x27;tiny&#x27;)" in page
    assert "<b>partial</b> = it changes only by the end of the cascade" in SANITY_NOTE and SANITY_NOTE in page
    (tmp_path / "config.json").write_text(json.dumps({"model": "imagenet-lite0"}))
    assert _random_note(tmp_path) == "" and _random_note(tmp_path / "missing") == ""

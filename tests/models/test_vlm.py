"""The vlm model against a fake OpenAI-compatible server: wordings, failures, retries, cache, explainers."""
from __future__ import annotations

import json
import threading

import numpy as np
import pytest
import torch
from _fake_openai import FakeServer, paris_east

from geoxai.blackbox import GeolocatorError, NoCoordinatesError
from geoxai.plugins import load_explainer, load_model
from geoxai.types import ImageBatch


@pytest.fixture
def server():
    fake = FakeServer()
    yield fake
    fake.close()


def views(count=2, size=32):
    pixels = torch.full((count, 3, size, size), 40, dtype=torch.uint8)
    for i in range(count):
        pixels[i, 0, : size // 2] = 100 + 50 * i
    return ImageBatch(pixels, [f"photo{i}.jpg" for i in range(count)])


def dms(value: float) -> str:
    degrees, rest = divmod(round(value * 360000), 360000)
    minutes, hundredths = divmod(rest, 6000)
    return f"{degrees}°{minutes}'{hundredths / 100:.2f}\""


def vlm(server, **options):
    return load_model("vlm", **{"url": server.url, "model": "fake-vl", "max_side": 32, "retries": 2, **options})


@pytest.mark.parametrize("wording", [
    lambda lat, lon: f"I think this is France. Coordinates: {lat}, {lon}",
    lambda lat, lon: f"{lat}° N, {lon}° E",
    lambda lat, lon: f"```json\n{json.dumps({'latitude': lat, 'longitude': lon})}\n```",
    lambda lat, lon: f"latitude: {lat}\nlongitude: {lon}",
    lambda lat, lon: f"Answer: {dms(lat)}N {dms(lon)}E",
])
def test_answer_wordings(server, wording):
    server.wording = wording
    answers = vlm(server).locate(views())
    for answer, image in zip(answers, views().to_numpy()):
        assert answer.ok and (answer.lat, answer.lon) == pytest.approx(paris_east(image), abs=1e-4)
        assert answer.meta["prompt_tokens"] == 100 and answer.meta["cached"] is False
    request = server.requests[0]["body"]
    assert request["model"] == "fake-vl" and request["temperature"] == 0
    assert request["messages"][0]["content"][1]["image_url"]["url"].startswith("data:image/png;base64,")


def test_no_coordinates_is_one_line_naming_the_image(server):
    server.wording = lambda lat, lon: "I cannot tell where\nthis is." if lon > 14 else f"{lat}, {lon}"
    batch = views()  # photo1 has more red: its (fake) longitude is above 14
    answers = vlm(server).locate(batch)
    assert answers[0].ok and not answers[1].ok
    with pytest.raises(NoCoordinatesError) as caught:
        load_explainer("occlusion").explain(vlm(server), batch, window=16)
    message = str(caught.value)
    assert "photo1.jpg" in message and "no coordinates" in message and "\n" not in message


def test_429_with_retry_after_then_success(server):
    server.script = [(429, {"Retry-After": "1"}, "{}"), (503, {}, "{}")]
    (answer,) = vlm(server, concurrency=1).locate(views(1))
    assert answer.ok and answer.meta["attempts"] == 3
    first, second, third = (r["time"] for r in server.requests)
    assert second - first >= 1.0  # the Retry-After second was honoured (a lower bound cannot race)


def test_persistent_500_and_other_4xx(server):
    server.script = [(500, {}, "{}")] * 3
    with pytest.raises(GeolocatorError, match="HTTP 500 after 3 tries"):
        vlm(server, concurrency=1).locate(views(1))
    server.script = [(400, {}, json.dumps({"error": "bad\nrequest"}))]
    with pytest.raises(GeolocatorError, match="HTTP 400") as caught:
        vlm(server, concurrency=1, retries=3).locate(views(1))
    assert len(server.requests) == 4 and "\n" not in str(caught.value)  # 4xx: never retried


def test_timeout_is_clean(server):
    server.hold = threading.Event()
    with pytest.raises(GeolocatorError, match="timed out after 1 tries"):
        vlm(server, timeout=0.3, retries=0).locate(views(1))


def test_wrong_key_is_refused_without_echo(server, monkeypatch):
    server.key = "right-key"
    monkeypatch.setenv("MY_KEY", "sk-wrong-secret-123")
    with pytest.raises(GeolocatorError) as caught:
        vlm(server, api_key_env="MY_KEY").locate(views(1))
    message = str(caught.value)
    assert "MY_KEY" in message and "401" in message and "sk-wrong" not in message and "\n" not in message
    monkeypatch.setenv("MY_KEY", "right-key")
    assert vlm(server, api_key_env="MY_KEY").locate(views(1))[0].ok
    monkeypatch.delenv("MY_KEY")
    with pytest.raises(ValueError, match="MY_KEY"):
        vlm(server, api_key_env="MY_KEY")


def test_cache_hits_on_rerun_and_cache_off(server, tmp_path, monkeypatch):
    monkeypatch.setenv("GEOXAI_HOME", str(tmp_path / "home"))
    occlusion = load_explainer("occlusion")
    first = occlusion.explain_with_info(vlm(server), views(1), window=16, stride=16)
    paid = len(server.requests)
    assert paid == first.info[0]["calls"] == 5 and first.info[0]["cache_hits"] <= 1
    again = occlusion.explain_with_info(vlm(server), views(1), window=16, stride=16)
    assert len(server.requests) == paid and again.info[0]["cache_hits"] == 5
    torch.testing.assert_close(first.maps, again.maps)
    cached = list((tmp_path / "home" / "vlm").rglob("*.json"))
    assert cached and all("secret" not in p.read_text() for p in cached)
    vlm(server, cache=False).locate(views(1))
    assert len(server.requests) == paid + 1


def test_black_box_explainers_on_the_fake_vlm(server):
    batch = views(1, size=32)
    model = vlm(server, concurrency=3)
    rise = load_explainer("rise").explain_with_info(model, batch, n_masks=8, cells=2)
    assert rise.info[0]["calls"] == 9 and rise.maps.shape == (1, 32, 32)
    seg = torch.zeros(1, 32, 32, dtype=torch.long)
    seg[:, 16:] = 3
    shap = load_explainer("concept-shap").explain_with_info(model, batch, segmentation=seg)
    concepts = {c["concept_index"]: c for c in shap.info[0]["concepts"]}
    # only the top half moves the answer: it holds all the value, and removing it moves the answer
    info = shap.info[0]
    assert concepts[0]["shapley"] == pytest.approx(info["full_score"] - info["empty_score"])
    assert concepts[0]["shapley"] > 0.1
    assert abs(concepts[3]["shapley"]) < 1e-9
    assert concepts[0]["km_removed"] > 100 and concepts[3]["km_removed"] == 0


def test_logprob_score(server):
    batch = views(1)
    model = vlm(server, logprobs=True)
    attribution = load_explainer("occlusion").explain_with_info(model, batch, score="logprob", window=16, stride=16)
    heat = attribution.maps[0]
    assert attribution.info[0]["score"] == "logprob" and attribution.info[0]["clean_score"] == 1.0
    assert heat[:16].mean() > heat[16:].mean() and np.isclose(float(heat[16:].abs().max()), 0.0)
    with pytest.raises(ValueError, match="logprobs=true"):
        load_explainer("occlusion").explain(vlm(server), batch, score="logprob")


def test_bad_options_are_one_line(server):
    with pytest.raises(ValueError, match="url="):
        load_model("vlm", url="127.0.0.1:8000", model="m")
    with pytest.raises(ValueError, match="model="):
        load_model("vlm", url=server.url)


def test_ctrl_c_stops_while_a_request_hangs(server, tmp_path):
    """SIGINT while the server holds a request (a known point: the server has it) ends the process
    long before the 60 s request timeout."""
    import os
    import signal
    import subprocess
    import sys
    import time

    server.hold = threading.Event()
    script = tmp_path / "run.py"
    script.write_text(
        "import torch\nfrom geoxai.plugins import load_model\nfrom geoxai.types import ImageBatch\n"
        f"model = load_model('vlm', url={server.url!r}, model='m', timeout=60, cache=False, max_side=16)\n"
        "model.locate(ImageBatch(torch.zeros(2, 3, 16, 16, dtype=torch.uint8)))\n")
    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    process = subprocess.Popen([sys.executable, str(script)], env=env, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while not server.requests and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert server.requests, "the request never reached the server"
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=20)
    finally:
        process.kill()
    assert process.returncode != 0 and "KeyboardInterrupt" in stderr

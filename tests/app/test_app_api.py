"""The explorer's JSON API in-process (Starlette's test client): plugins, the map, uploads,
jobs, downloads and the one-line errors."""
from __future__ import annotations

import io
import json
import time

import numpy as np
import pytest

pytest.importorskip("starlette", reason="geoxai app needs starlette (a dependency)")
from _app_helpers import png_bytes, wait_for_job  # noqa: E402
from starlette.testclient import TestClient  # noqa: E402

from geoxai.app.engine import Explorer  # noqa: E402
from geoxai.app.server import create_app  # noqa: E402


@pytest.fixture
def client(tmp_path):
    explorer = Explorer(tmp_path / "work", probe=False)  # the plugin check has its own test below
    with TestClient(create_app(explorer), base_url="http://127.0.0.1:8000") as c:
        yield c


def test_page_plugins_and_map(client):
    page = client.get("/")
    assert page.status_code == 200 and "/static/app.js" in page.text
    assert "https://" not in page.text and "cdn" not in page.text.lower()
    assert client.get("/static/app.js").status_code == 200
    plugins = client.get("/api/plugins").json()
    assert {"tiny"} <= {m["name"] for m in plugins["models"]}
    ig = next(e for e in plugins["explainers"] if e["name"] == "ig-smoothgrad")
    assert "n_samples" in ig["defaults"]
    world = client.get("/api/countries").json()
    codes = {c["code"] for c in world["countries"]}
    assert len(codes) == 241 and {"HU", "RS", "ME", "MM", "XK"} <= codes
    assert all(c["d"].startswith("M") for c in world["countries"] if c["code"] in ("HU", "XK"))


def test_unreadable_photo_is_a_clear_message(client):
    r = client.post("/api/photos", files={"photo": ("holiday.jpg", b"not a jpeg", "image/jpeg")})
    assert r.status_code == 400
    assert r.json()["error"] == "holiday.jpg: not an image or an unsupported format"
    empty = client.post("/api/photos", files={"photo": ("e.jpg", b"", "image/jpeg")})
    assert empty.json()["error"] == "e.jpg: empty file"


def test_explain_a_photo_then_a_country_and_download(client, photos):
    info = client.post("/api/photos", files={"photo": ("street.png", png_bytes(photos[0]), "image/png")}).json()
    assert client.get(info["preview"]).status_code == 200
    base = {"photo": info["photo"], "model": "tiny", "explainer": "gradcam", "segmenter": "tiny"}
    first = wait_for_job(client, client.post("/api/jobs", json=base).json()["job"])
    assert first["state"] == "done", first
    doc = first["result"]["doc"]
    assert doc["target"] == "predicted" and doc["concept_influence"]["scores"]
    top_country = doc["prediction"]["top_countries"]["countries"][0]["code"]
    assert top_country in {"ES", "FR", "DE", "US", "BR", "JP", "IN", "AU"}
    assert len(first["result"]["cells"]) == 8 and {"x", "y"} <= set(first["result"]["cells"][0])
    second_job = client.post("/api/jobs", json={**base, "target": "country:Japan", "explainer": "ig-smoothgrad",
                                                "explainer_options": "n_samples=2, n_steps=4"}).json()["job"]
    second = wait_for_job(client, second_job)
    assert second["state"] == "done", second
    doc2 = second["result"]["doc"]
    assert doc2["target"] == "country:JP" and doc2["options"]["n_samples"] == 2
    npy = client.get(second["result"]["files"]["npy"])
    assert "attachment" in npy.headers["content-disposition"]
    heat = np.load(io.BytesIO(npy.content), allow_pickle=False)
    assert heat.shape == tuple(doc2["map"]["shape"]) and heat.dtype == np.float32
    saved = json.loads(client.get(second["result"]["files"]["json"]).content)
    assert saved["target"] == "country:JP"
    assert client.get(second["result"]["files"]["overlay"]).headers["content-type"] == "image/png"
    assert client.get(f"/api/results/{second['job']}/..%2F..%2Fsecret").status_code == 404


def test_bad_requests_and_failing_jobs_give_one_line_errors(client, photos, monkeypatch):
    info = client.post("/api/photos", files={"photo": ("a.png", png_bytes(photos[1]), "image/png")}).json()
    r = client.post("/api/jobs", json={"photo": info["photo"], "model": "tiny", "explainer": "gradcam",
                                       "target": "country:Atlantis"})
    assert r.status_code == 400 and r.json()["error"].startswith("unknown country 'Atlantis'")
    job = client.post("/api/jobs", json={"photo": info["photo"], "model": "tiny", "explainer": "gradcam",
                                         "target": "country:Portugal"}).json()["job"]
    status = wait_for_job(client, job)
    assert status["state"] == "error" and "contains no cell" in status["error"]
    from geoxai import plugins
    from geoxai.weights import WeightsUnavailableError

    def missing(**_):
        raise WeightsUnavailableError("weights 'big' are not in the cache and could not be downloaded; "
                                      "use --weights PATH")

    reg = plugins.registry()
    monkeypatch.setitem(reg.entries["model"], "needs-weights",
                        plugins.Registration("model", "needs-weights", missing, "test"))
    job = client.post("/api/jobs", json={"photo": info["photo"], "model": "needs-weights",
                                         "explainer": "gradcam"}).json()["job"]
    status = wait_for_job(client, job)
    assert status["state"] == "error" and status["error"].startswith("weights 'big' are not in the cache")


def _wait_checked(client, timeout=300):
    end = time.time() + timeout
    while time.time() < end:
        table = client.get("/api/plugins").json()
        if table["checked"]:
            return table
        time.sleep(0.2)
    raise AssertionError("the plugin check did not finish")


def test_plugins_that_cannot_load_are_marked_with_the_reason_and_defaults_work_offline(tmp_path, monkeypatch):
    from geoxai import plugins
    from geoxai.weights import WeightsUnavailableError

    def missing(**_):
        raise WeightsUnavailableError(f"weights 'big' are not available: {tmp_path}/big.ckpt does not exist\nmore")

    monkeypatch.setitem(plugins.registry().entries["model"], "aaa-needs-weights",
                        plugins.Registration("model", "aaa-needs-weights", missing, "test"))
    with TestClient(create_app(Explorer(tmp_path / "work")), base_url="http://127.0.0.1:8000") as client:
        table = _wait_checked(client)
    rows = {row["name"]: row for row in table["models"]}
    assert rows["aaa-needs-weights"]["ok"] is False
    assert rows["aaa-needs-weights"]["reason"] == "weights 'big' are not available: …/big.ckpt does not exist"
    assert rows["tiny"]["ok"] is True and rows["tiny"]["reason"] == ""
    expected = "imagenet-lite0" if rows.get("imagenet-lite0", {}).get("ok") else "tiny"
    assert table["defaults"] == {"model": expected, "explainer": "gradcam"}
    assert next(r for r in table["explainers"] if r["name"] == "gradcam")["ok"] is True


def test_the_server_can_preconfigure_weights_the_page_cannot(tmp_path, photos):
    import torch

    from geoxai.app.catalog import Catalog
    from geoxai.testing import TinyGeoModel

    weights = tmp_path / "tiny-seed7.pt"
    torch.save(TinyGeoModel(seed=7).state_dict(), weights)
    explorer = Explorer(tmp_path / "work", catalog=Catalog("tiny", {"weights": str(weights)}), probe=False)
    with TestClient(create_app(explorer), base_url="http://127.0.0.1:8000") as client:
        info = client.post("/api/photos", files={"photo": ("a.png", png_bytes(photos[0]), "image/png")}).json()
        status = wait_for_job(client, client.post("/api/jobs", json={"photo": info["photo"], "model": "tiny",
                                                              "explainer": "gradcam"}).json()["job"])
        refused = client.post("/api/jobs", json={"photo": info["photo"], "model": "tiny", "explainer": "gradcam",
                                                 "model_options": {"weights": str(weights)}})
    assert status["state"] == "done", status
    model = explorer._components[next(k for k in explorer._components if '"model"' in k)]
    seeded = TinyGeoModel(seed=7).state_dict()
    assert all(torch.equal(v, seeded[k]) for k, v in model.state_dict().items())
    assert not all(torch.equal(v, TinyGeoModel(seed=0).state_dict()[k]) for k, v in model.state_dict().items())
    assert refused.status_code == 422 and "option weights is not accepted" in refused.json()["error"]


def test_the_plugin_check_blocks_the_network_of_its_own_thread_only():
    import socket
    import threading

    from geoxai.app.catalog import no_network

    resolved = []
    with no_network():
        with pytest.raises(socket.gaierror, match="no network while geoxai app checks plugins"):
            socket.getaddrinfo("localhost", 80)
        other = threading.Thread(target=lambda: resolved.append(socket.getaddrinfo("localhost", 80)))
        other.start()
        other.join()
    assert resolved and resolved[0]
    assert socket.getaddrinfo("localhost", 80)


def test_app_command_line_checks_server_options_before_serving():
    from click.testing import CliRunner

    from geoxai.cli import main

    result = CliRunner().invoke(main, ["app", "--weights", "w.pt"])
    assert result.exit_code == 2 and "name it with --model" in result.output
    result = CliRunner().invoke(main, ["app", "-m", "tiny", "--model-option", "bogus=1"])
    assert result.exit_code != 0 and "bogus" in result.output and "Traceback" not in result.output

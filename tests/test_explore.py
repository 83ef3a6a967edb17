"""The explorer: every endpoint with good and bad inputs (TestClient), the bounded pool, and a browser test."""

from __future__ import annotations

import asyncio
import base64
import io
import shutil
import socket
import threading
import time

import numpy as np
import pytest
import torch
from fastapi.testclient import TestClient
from PIL import Image

from ganatomy.explore import BoundedPool, Explorer, PoolFull, create_app
from ganatomy.explore.app import MAX_SEED

pytestmark = pytest.mark.usefixtures("one_thread")

TINY = dict(img_resolution=32, z_dim=8, w_dim=16, channel_base=64, channel_max=16, up_mode="transposed")
TRAVERSAL = ["../../etc/passwd", "..%2F..%2Fetc%2Fpasswd", "/etc/passwd", "C:\\Windows\\win.ini"]


def _png(size: int = 32, noise: bool = True, value: int = 90) -> bytes:
    """A PNG of random pixels (or one flat colour ``value``: a tiny file of many pixels)."""
    rng = np.random.default_rng(0)
    pixels = (
        rng.integers(0, 255, (size, size, 3), dtype=np.uint8) if noise else np.full((size, size, 3), value, np.uint8)
    )
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format="PNG")
    return buf.getvalue()


def _decoded(data_url: str) -> np.ndarray:
    assert data_url.startswith("data:image/png;base64,")
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(data_url.split(",", 1)[1]))))


@pytest.fixture(scope="module")
def explorer() -> Explorer:
    """A tiny random StyleGAN2 with 3 SeFa directions, the world oracle, an inverter and a 2-label regressor."""
    from ganatomy.directions import SeFaDirections
    from ganatomy.directions.oracle_access import world_oracle
    from ganatomy.invert import OptimizationInverter
    from ganatomy.nets import build_generator
    from ganatomy.regress import LatentRegressor
    from ganatomy.segment import KLiSH

    torch.manual_seed(0)
    G = build_generator("stylegan2", TINY).eval()
    directions = SeFaDirections(n_directions=3).fit(G).directions_
    inverter = OptimizationInverter(refine_steps=2).fit(G)
    two = G.to_space(G.sample_latents(2, seed=0), "w").detach()
    regressor = LatentRegressor(direction="supervised", space="w", generator=G).fit_latents(two, [0.0, 1.0])
    segmenter = KLiSH(n_init_clusters=8, n_samples=4).fit(G)
    return Explorer(G, "tiny-world", directions, world_oracle(32), inverter, regressor, segmenter=segmenter)


@pytest.fixture(scope="module")
def client(explorer):
    with TestClient(create_app(explorer)) as c:
        yield c


@pytest.fixture(scope="module")
def gene_client():
    """A tiny gene-bank model with gene statistics judged by the world oracle."""
    from ganatomy.directions.oracle_access import world_oracle
    from ganatomy.genes import GeneStatistics
    from ganatomy.nets import build_generator

    torch.manual_seed(0)
    G = build_generator("stylegan2", {**TINY, "img_resolution": 8, "prior": {"kind": "genes", "variants": 5}}).eval()
    stats = GeneStatistics(n_samples=40, batch_size=40).fit(G)
    with TestClient(create_app(Explorer(G, "tiny-genes", oracle=world_oracle(32), gene_statistics=stats))) as c:
        yield c


# ---------------------------------------------------------------------- page and info
def test_page_script_and_info(client):
    page = client.get("/")
    assert page.status_code == 200 and '<script src="/app.js">' in page.text
    script = client.get("/app.js")
    assert script.status_code == 200 and script.headers["content-type"].startswith("text/javascript")
    info = client.get("/api/info").json()
    assert info["directions"] == {
        "count": 3,
        "names": ["direction 0", "direction 1", "direction 2"],
        "shift_range": 3.0,
    }
    assert info["readout"] and info["inversion"] and info["regression"] and info["genes"] is None
    assert info["limits"]["seed"] == MAX_SEED
    assert 2 <= info["segment"]["max_k"] <= 8 and 1 <= info["segment"]["auto_k"] <= info["segment"]["max_k"]


def test_openapi_schema_states_the_ranges(client):
    schema = client.get("/openapi.json").json()
    sample = schema["components"]["schemas"]["SampleRequest"]["properties"]
    assert sample["seed"]["maximum"] == MAX_SEED and sample["truncation"]["maximum"] == 1.0
    assert set(schema["paths"]) >= {"/api/info", "/api/sample", "/api/invert", "/api/genes/sweep"}
    assert "503" in schema["paths"]["/api/sample"]["post"]["responses"]


# ---------------------------------------------------------------------- samples and directions
def test_sample_is_a_function_of_seed_truncation_and_edits(client):
    first = client.post("/api/sample", json={"seed": 7}).json()
    again = client.post("/api/sample", json={"seed": 7}).json()
    other = client.post("/api/sample", json={"seed": 8}).json()
    moved = client.post("/api/sample", json={"seed": 7, "edits": [{"index": 1, "shift": 3.0}]}).json()
    truncated = client.post("/api/sample", json={"seed": 7, "truncation": 0.0}).json()
    assert _decoded(first["image"]).shape == (32, 32, 3)
    assert first["image"] == again["image"]
    assert len({first["image"], other["image"], moved["image"], truncated["image"]}) == 4
    factors = [bar["factor"] for bar in first["readout"]]
    assert "head_x" in factors and "glasses" in factors
    assert first["readout"] != moved["readout"]


def test_mask_overlay_at_a_chosen_k(client, explorer):
    plain = client.post("/api/sample", json={"seed": 4}).json()
    assert plain["mask"] is None
    two = client.post("/api/sample", json={"seed": 4, "mask_k": 2}).json()
    moved = client.post("/api/sample", json={"seed": 4, "mask_k": 2, "edits": [{"index": 0, "shift": 2.0}]}).json()
    assert two["image"] == plain["image"] and _decoded(two["mask"]).shape == (32, 32, 3)
    assert len({two["mask"], plain["image"], moved["mask"]}) == 3
    k_max = explorer.segmenter.merge_tree_.n_leaves
    too_many = client.post("/api/sample", json={"seed": 4, "mask_k": k_max + 1})
    assert too_many.status_code == 400 and f"integer in 1..{k_max}" in too_many.json()["detail"]


@pytest.mark.parametrize(
    "body, status, message",
    [
        ({"mask_k": 0}, 422, "greater than or equal to 1"),
        ({"mask_k": 10**6}, 422, "less than or equal to 255"),
        ({"seed": -1}, 422, "greater than or equal to 0"),
        ({"seed": MAX_SEED + 1}, 422, "less than or equal to"),
        ({"seed": "zero"}, 422, "valid integer"),
        ({"truncation": 1.5}, 422, "less than or equal to 1"),
        ({"edits": [{"index": 0, "shift": 1e9}]}, 422, "less than or equal to 100"),
        ({"edits": [{"index": 0, "shift": 1.0}] * 65}, 422, "at most 64"),
        ({"edits": [{"index": 3, "shift": 1.0}]}, 400, "direction 3 does not exist; there are 3"),
        ({"edits": [{"index": 0, "shift": 3.5}]}, 400, "outside [-3, 3]"),
        ({"seed": 1, "path": "../../etc/passwd"}, 422, "Extra inputs are not permitted"),
    ],
)
def test_bad_sample_requests_are_4xx_with_a_clear_message(client, body, status, message):
    response = client.post("/api/sample", json=body)
    assert response.status_code == status and message in response.text


def test_malformed_json_is_422(client):
    response = client.post("/api/sample", content=b"{not json", headers={"content-type": "application/json"})
    assert response.status_code == 422


def test_genes_endpoints_refuse_a_model_without_genes(client):
    response = client.post("/api/genes/sweep", json={"seed": 0, "gene": 0})
    assert response.status_code == 400 and "not a gene model" in response.json()["detail"]


# ---------------------------------------------------------------------- genes
def test_gene_sweep_mutate_and_conditional_sample(gene_client):
    info = gene_client.get("/api/info").json()
    assert info["genes"]["genes"] == 8 and info["genes"]["variants"] == 5
    assert info["genes"]["attributes"]["glasses"] == ["off", "on"]
    sweep = gene_client.post("/api/genes/sweep", json={"seed": 3, "gene": 2}).json()
    assert len(sweep["dnas"]) == 5 and [d.split(".")[2] for d in sweep["dnas"]] == ["0", "1", "2", "3", "4"]
    assert len({d.split(".")[0] for d in sweep["dnas"]}) == 1  # the other genes stay
    mutated = gene_client.post("/api/genes/mutate", json={"seed": 3, "rate": 1.0, "n": 3}).json()
    assert len(mutated["dnas"]) == 4 and all(d != mutated["dnas"][0] for d in mutated["dnas"][1:])
    sampled = gene_client.post("/api/genes/sample", json={"attribute": "glasses", "value": "on", "n": 4}).json()
    assert len(sampled["dnas"]) == 4 and _decoded(sampled["image"]).shape[2] == 3


@pytest.mark.parametrize(
    "path, body, status, message",
    [
        ("/api/genes/sweep", {"gene": 8}, 400, "gene 8 does not exist"),
        ("/api/genes/sweep", {"gene": -1}, 422, "greater than or equal to 0"),
        ("/api/genes/mutate", {"rate": 2}, 422, "less than or equal to 1"),
        ("/api/genes/mutate", {"n": 10**6}, 422, "less than or equal to 15"),
        ("/api/genes/sample", {"attribute": "glasses", "value": "on", "n": 17}, 422, "less than or equal to 16"),
        ("/api/genes/sample", {"attribute": "glasses", "value": "purple"}, 400, "unknown class"),
        ("/api/genes/sample", {"attribute": "wings", "value": "on"}, 400, "wings"),
        ("/api/genes/sample", {"attribute": "glasses", "value": "on", "temperature": 0}, 422, "greater than"),
    ]
    + [("/api/genes/sample", {"attribute": bad, "value": "on"}, 422, "should match pattern") for bad in TRAVERSAL],
)
def test_bad_gene_requests_are_4xx(gene_client, path, body, status, message):
    response = gene_client.post(path, json=body)
    assert response.status_code == status and message in response.text


# ---------------------------------------------------------------------- uploads
def test_an_uploaded_image_is_inverted_read_and_predicted(client, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    files = {"file": ("../../escape.png", _png(48), "image/png")}
    out = client.post("/api/invert", files=files).json()
    assert _decoded(out["input"]).shape == (32, 32, 3) and _decoded(out["reconstruction"]).shape == (32, 32, 3)
    assert isinstance(out["prediction"], float) and out["readout"][0]["factor"] == "head_x"
    assert not list(tmp_path.iterdir()) and not (tmp_path.parent.parent / "escape.png").exists()


@pytest.mark.parametrize(
    "name, data, kind, status, message",
    [
        ("a.gif", b"GIF89a....", "image/gif", 415, "is not one of image/png, image/jpeg"),
        ("a.png", b"\x89PNG\r\n\x1a\n not really", "image/png", 400, "not a readable image"),
        ("a.png", b"", "image/png", 400, "not a readable image"),
        ("a.png", _png(1100, noise=False), "image/png", 400, "larger than 1024 on a side"),
        ("a.png", b"\x00" * (2 * 1024 * 1024 + 10), "image/png", 413, "larger than"),
    ],
)
def test_bad_uploads_are_refused(client, name, data, kind, status, message):
    response = client.post("/api/invert", files={"file": (name, data, kind)})
    assert response.status_code == status and message in response.text


def test_a_body_over_the_limit_is_refused_before_parsing(client):
    response = client.post(
        "/api/invert", content=b"x" * (3 * 1024 * 1024), headers={"content-type": "multipart/form-data; boundary=x"}
    )
    assert response.status_code == 413
    assert client.post("/api/invert").status_code == 422  # no file at all


@pytest.mark.parametrize(
    "path", ["/../../etc/passwd", "/static/../../etc/passwd", "/%2e%2e/%2e%2e/etc/passwd", "/app.js/../../x"]
)
def test_no_request_path_reaches_the_filesystem(client, path):
    response = client.get(path)
    assert response.status_code == 404 and "root:" not in response.text


# ---------------------------------------------------------------------- the pool
def test_the_pool_refuses_beyond_workers_plus_queue_and_recovers():
    pool = BoundedPool(workers=1, queue=1)
    gate = threading.Event()

    async def burst():
        first = asyncio.ensure_future(pool.run(gate.wait, 5))
        second = asyncio.ensure_future(pool.run(gate.wait, 5))
        await asyncio.sleep(0.05)
        with pytest.raises(PoolFull, match="busy"):
            await pool.run(time.sleep, 0)
        gate.set()
        await asyncio.gather(first, second)
        return await pool.run(lambda: "free again")

    assert asyncio.run(burst()) == "free again"
    pool.shutdown()


def test_a_full_pool_answers_503(explorer):
    gate = threading.Event()

    class Slow(Explorer):
        def sample(self, *args):
            gate.wait(5)
            return super().sample(*args)

    slow = Slow(explorer.G, "slow", explorer.directions)
    with TestClient(create_app(slow, workers=1, queue=0)) as c:
        results = []
        waiting = threading.Thread(target=lambda: results.append(c.post("/api/sample", json={"seed": 1})))
        waiting.start()
        time.sleep(0.3)
        busy = c.post("/api/sample", json={"seed": 2})
        gate.set()
        waiting.join()
    assert busy.status_code == 503 and busy.headers["retry-after"] == "1" and "busy" in busy.json()["detail"]
    assert results[0].status_code == 200


def test_cli_warns_for_a_host_other_than_loopback():
    from ganatomy.cli.explore import is_loopback

    assert is_loopback("127.0.0.1") and is_loopback("localhost") and is_loopback("::1")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.4")


# ---------------------------------------------------------------------- the browser
CHROMIUM = "/usr/bin/chromium"
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def server(explorer):
    import uvicorn

    port = _free_port()
    srv = uvicorn.Server(uvicorn.Config(create_app(explorer), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.time() + 20
    while not srv.started and time.time() < deadline:
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    thread.join(10)


@pytest.mark.slow
def test_browser_draws_a_sample_and_a_slider_changes_it(server, tmp_path):
    playwright = pytest.importorskip(
        "playwright.sync_api", reason="playwright is not installed (pip install playwright)"
    )
    if not shutil.which(CHROMIUM):
        pytest.skip(f"no chromium at {CHROMIUM} (apt-get install chromium)")
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        page = browser.new_page()
        page.goto(server)
        page.wait_for_function("document.getElementById('sample').src.startsWith('data:image/png')")
        page.fill("#seed", "5")
        page.click("#draw")
        page.wait_for_function("document.querySelectorAll('#readout .bar').length > 0")
        page.wait_for_timeout(300)
        drawn = page.get_attribute("#sample", "src")
        page.screenshot(path=str(tmp_path / "explorer-sample.png"))
        page.eval_on_selector(
            "#direction-0", "el => { el.value = el.max; el.dispatchEvent(new Event('input', {bubbles: true})); }"
        )
        page.wait_for_function(f"document.getElementById('sample').src !== {drawn!r}", timeout=10_000)
        page.screenshot(path=str(tmp_path / "explorer-slider.png"))
        assert page.get_attribute("#sample", "src") != drawn and page.text_content("#error") == ""
        page.check("#mask-on")
        page.wait_for_function("!document.getElementById('mask').hidden && document.getElementById('mask').src")
        page.screenshot(path=str(tmp_path / "explorer-masks.png"))
        assert page.get_attribute("#mask", "src").startswith("data:image/png") and page.text_content("#error") == ""
        browser.close()
    assert (tmp_path / "explorer-slider.png").stat().st_size > 0


def test_uploaded_images_are_sorted_by_the_regressors_attribute(client, explorer):
    values = [200, 30, 120]
    files = [("files", (f"{v}.png", _png(noise=False, value=v), "image/png")) for v in values]
    out = client.post("/api/sort", files=files).json()
    assert sorted(out["order"]) == [0, 1, 2] and out["predictions"] == sorted(out["predictions"])
    assert _decoded(out["image"]).shape[1] >= 3 * 32  # one row of the three, low to high
    # the order is the regressor's on the inverted latents of the same uploads
    images = torch.cat([explorer.decode_upload(_png(noise=False, value=v), 1024) for v in values])
    expected = explorer.sort(images)
    assert out["order"] == expected["order"]


@pytest.mark.parametrize("count, kind, status", [(1, "image/png", 422), (17, "image/png", 422), (2, "image/gif", 415)])
def test_sort_refuses_bad_uploads(client, count, kind, status):
    files = [("files", (f"{i}.png", _png(noise=False, value=i), kind)) for i in range(count)]
    assert client.post("/api/sort", files=files).status_code == status

"""The explorer's web app: ``create_app(explorer)`` builds a FastAPI app that holds all of its state.

Routes: ``GET /`` (the page), ``GET /app.js``, ``GET /api/info`` and the POST endpoints below. Every
request body is a pydantic model with ranges (422 with the offending field otherwise); what depends on
the model (a direction index, a gene, a class name) is checked by the :class:`Explorer` (400, one line).
Work runs on a :class:`BoundedPool` (503 when it is full). Uploads are capped in bytes before they are
parsed (413), must be PNG or JPEG and are decoded in memory. No request string names a file.
"""

from __future__ import annotations

import contextlib
from importlib import resources
from typing import Annotated, Any

import torch
from fastapi import FastAPI, File, HTTPException, Request, UploadFile
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from ganatomy.errors import GanatomyError
from ganatomy.explore.explorer import Edit, Explorer
from ganatomy.explore.pool import BoundedPool, PoolFull
from ganatomy.report.html import data_url

MAX_SEED = 2**31 - 1
MAX_EDITS = 64
MAX_SHIFT = 100.0  # the explorer's own shift range is checked too
MAX_COUNT = 16  # images per gene grid, and per sorted upload
MAX_UPLOAD_BYTES = 2 * 1024 * 1024
MAX_UPLOAD_SIDE = 1024
UPLOAD_TYPES = ("image/png", "image/jpeg")

Seed = Annotated[int, Field(ge=0, le=MAX_SEED, description="An image seed.")]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class EditModel(Strict):
    index: int = Field(ge=0, le=100_000, description="A direction index (below the number of directions).")
    shift: float = Field(ge=-MAX_SHIFT, le=MAX_SHIFT, description="Shift in latent std units, within the run's range.")


class SampleRequest(Strict):
    seed: Seed = 0
    truncation: float = Field(1.0, ge=0.0, le=1.0, description="Truncation psi (1: none); needs a W space.")
    edits: list[EditModel] = Field(default_factory=list, max_length=MAX_EDITS)
    mask_k: int | None = Field(None, ge=1, le=255, description="Overlay KLiSH's masks at this K (needs --segment).")


class GeneSweepRequest(Strict):
    seed: Seed = 0
    gene: int = Field(ge=0, le=100_000, description="The gene whose variants are swept.")


class GeneMutateRequest(Strict):
    seed: Seed = 0
    rate: float = Field(0.1, ge=0.0, le=1.0)
    n: int = Field(7, ge=1, le=MAX_COUNT - 1)
    mutation_seed: Seed = 0


class GeneSampleRequest(Strict):
    attribute: str = Field(pattern=r"^[A-Za-z0-9_]{1,40}$", description="A world attribute, e.g. glasses.")
    value: str = Field(pattern=r"^[A-Za-z0-9_.\-]{1,40}$", description="A class of it (name, index or bin).")
    n: int = Field(8, ge=1, le=MAX_COUNT)
    temperature: float = Field(1.0, ge=0.05, le=5.0)
    seed: Seed = 0


class Bar(BaseModel):
    factor: str
    value: float | str
    fraction: float


class ImageResponse(BaseModel):
    image: str = Field(description="A PNG as a data URL.")
    readout: list[Bar] | None = None
    mask: str | None = Field(None, description="The masks over the image (with mask_k), a PNG data URL.")


class GenesResponse(BaseModel):
    image: str
    dnas: list[str]


class SortResponse(BaseModel):
    image: str
    order: list[int]  # the uploads' positions, from the lowest prediction to the highest
    predictions: list[float]


class InvertResponse(BaseModel):
    input: str
    reconstruction: str
    readout: list[Bar] | None = None
    prediction: float | None = None


ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"description": "A value the model cannot take (one line in 'detail')."},
    503: {"description": "Every worker is busy and the waiting line is full; retry."},
}


class BodyLimit:
    """ASGI middleware: refuse request bodies over ``max_bytes`` (413) before anything parses them."""

    def __init__(self, app: Any, max_bytes: int) -> None:
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_bytes):
            return await _too_large(send, self.max_bytes)
        seen = 0

        async def limited_receive() -> dict:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.max_bytes:  # a body streamed without (or beyond) its declared length
                raise _BodyTooLarge
            return message

        try:
            await self.app(scope, limited_receive, send)
        except _BodyTooLarge:
            await _too_large(send, self.max_bytes)


class _BodyTooLarge(Exception):
    pass


async def _too_large(send: Any, max_bytes: int) -> None:
    body = f'{{"detail": "request body larger than {max_bytes} bytes"}}'.encode()
    await send({"type": "http.response.start", "status": 413, "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": body})


def _static(name: str) -> str:
    return resources.files("ganatomy.explore").joinpath("static", name).read_text(encoding="utf-8")


def create_app(
    explorer: Explorer, workers: int = 2, queue: int = 8, max_upload_bytes: int = MAX_UPLOAD_BYTES
) -> FastAPI:
    """The explorer's app; its worker pool (``workers`` threads, ``queue`` waiting) lives and ends with it."""
    pool = BoundedPool(workers, queue)
    page, script = _static("index.html"), _static("app.js")

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI):
        yield
        pool.shutdown()

    api = FastAPI(title="ganatomy explorer", version="1", lifespan=lifespan)

    @api.exception_handler(GanatomyError)
    async def _bad_value(_: Request, e: GanatomyError) -> JSONResponse:
        return JSONResponse({"detail": str(e)}, status_code=400)

    @api.exception_handler(PoolFull)
    async def _busy(_: Request, e: PoolFull) -> JSONResponse:
        return JSONResponse({"detail": str(e)}, status_code=503, headers={"Retry-After": "1"})

    @api.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def index() -> str:
        return page

    @api.get("/app.js", include_in_schema=False)
    async def app_js() -> Response:
        return Response(script, media_type="text/javascript")

    @api.get("/api/info")
    async def info() -> dict[str, Any]:
        """What this explorer has: the network, directions, readout, genes, inversion, regression."""
        return {**explorer.info(), "limits": {"seed": MAX_SEED, "edits": MAX_EDITS, "count": MAX_COUNT}}

    @api.post("/api/sample", responses=ERRORS)
    async def sample(request: SampleRequest) -> ImageResponse:
        """One seed's image, moved along directions, with the oracle's factor readout."""
        edits = [Edit(e.index, e.shift) for e in request.edits]
        out = await pool.run(explorer.sample, request.seed, request.truncation, edits, request.mask_k)
        mask = data_url(out["mask_png"]) if out["mask_png"] is not None else None
        return ImageResponse(image=data_url(out["png"]), readout=out["readout"], mask=mask)

    @api.post("/api/genes/sweep", responses=ERRORS)
    async def gene_sweep(request: GeneSweepRequest) -> GenesResponse:
        """Every variant of one gene on the DNA of a seed."""
        out = await pool.run(explorer.gene_sweep, request.seed, request.gene)
        return GenesResponse(image=data_url(out["png"]), dnas=out["dnas"])

    @api.post("/api/genes/mutate", responses=ERRORS)
    async def gene_mutate(request: GeneMutateRequest) -> GenesResponse:
        """The DNA of a seed, then ``n`` mutants of it."""
        out = await pool.run(explorer.gene_mutate, request.seed, request.rate, request.n, request.mutation_seed)
        return GenesResponse(image=data_url(out["png"]), dnas=out["dnas"])

    @api.post("/api/genes/sample", responses=ERRORS)
    async def gene_sample(request: GeneSampleRequest) -> GenesResponse:
        """Samples of an unconditional gene model with a requested attribute (StyleGenes' conditional sampling)."""
        args = (request.attribute, request.value, request.n, request.temperature, request.seed)
        out = await pool.run(explorer.gene_sample, *args)
        return GenesResponse(image=data_url(out["png"]), dnas=out["dnas"])

    @api.post("/api/invert", responses={**ERRORS, 413: {"description": "The upload is too large."}})
    async def invert(file: Annotated[UploadFile, File(description="A PNG or JPEG image.")]) -> InvertResponse:
        """An uploaded image's inversion, the oracle's readout of it and its LARGE prediction."""
        image = await read_upload(file)
        out = await pool.run(explorer.invert, image)
        return InvertResponse(
            input=data_url(out["input_png"]),
            reconstruction=data_url(out["reconstruction_png"]),
            readout=out["readout"],
            prediction=out["prediction"],
        )

    async def read_upload(file: UploadFile) -> torch.Tensor:
        if file.content_type not in UPLOAD_TYPES:
            raise HTTPException(415, f"upload: type {file.content_type!r} is not one of {', '.join(UPLOAD_TYPES)}")
        data = await file.read(max_upload_bytes + 1)
        if len(data) > max_upload_bytes:
            raise HTTPException(413, f"upload: larger than {max_upload_bytes} bytes")
        return explorer.decode_upload(data, MAX_UPLOAD_SIDE)

    @api.post("/api/sort", responses={**ERRORS, 413: {"description": "The upload is too large."}})
    async def sort(files: Annotated[list[UploadFile], File(description="2 to 16 PNG or JPEG images.")]) -> SortResponse:
        """Uploaded images sorted by the regressor's attribute, without labels (LARGE's sort)."""
        if not 2 <= len(files) <= MAX_COUNT:
            raise HTTPException(422, f"sort: send 2 to {MAX_COUNT} images, got {len(files)}")
        images = torch.cat([await read_upload(f) for f in files])
        out = await pool.run(explorer.sort, images)
        return SortResponse(image=data_url(out["png"]), order=out["order"], predictions=out["predictions"])

    # The multipart envelope adds a little to the file's own bytes.
    api.add_middleware(BodyLimit, max_bytes=max_upload_bytes + 64 * 1024)
    return api

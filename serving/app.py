"""The FastAPI application factory."""

from fastapi import APIRouter, FastAPI

from serving.api import problems
from serving.api.routes import activity, campaigns, coupons, customers, leads, offers, users


def create_app() -> FastAPI:
    app = FastAPI(
        title="Lodestar",
        version="0.1.0",
        description="Scored leads, campaigns, coupons and recommendations for marketing and "
        "sales. Authenticate with the `X-API-Key` header (`lodestar users create`).",
    )
    problems.install(app)
    v1 = APIRouter(prefix="/v1")
    for module in (customers, leads, campaigns, offers, coupons, activity, users):
        v1.include_router(module.router)
    app.include_router(v1)

    @app.get("/health", tags=["ops"])
    def health() -> dict[str, str]:
        return {"status": "ok"}

    return app

"""The FastAPI application factory."""

from fastapi import APIRouter, FastAPI
from sqlalchemy import Engine

from serving import runtime
from serving.api import problems
from serving.api.routes import activity, campaigns, coupons, customers, leads, offers, users
from serving.config import Settings, get_settings
from serving.core.db import make_sessionmaker
from serving.scoring import ScoringService


def create_app(engine: Engine | None = None, settings: Settings | None = None) -> FastAPI:
    """Build the app; the DB comes from settings unless an engine is given (tests, benchmarks)."""
    app = FastAPI(
        title="Lodestar",
        version="0.1.0",
        description="Scored leads, campaigns, coupons and recommendations for marketing and "
        "sales. Authenticate with the `X-API-Key` header (`lodestar users create`).",
    )
    engine = engine or runtime.engine()
    app.state.sessions = make_sessionmaker(engine)
    app.state.write_sessions = make_sessionmaker(engine, write=True)
    app.state.scoring = ScoringService(settings or get_settings())
    problems.install(app)
    v1 = APIRouter(prefix="/v1")
    for module in (customers, leads, campaigns, offers, coupons, activity, users):
        v1.include_router(module.router)
    app.include_router(v1)

    @app.get("/health", tags=["ops"])
    def health() -> dict[str, str]:
        return {"status": "ok"}

    return app

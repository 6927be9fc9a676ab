"""The FastAPI application factory."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI
from sqlalchemy import Engine

from serving import runtime
from serving.api import problems
from serving.api.routes import (
    activity,
    analytics,
    campaigns,
    coupons,
    customers,
    experiments,
    forecasts,
    leads,
    offers,
    recommendations,
    scores,
    targeting,
    users,
)
from serving.config import Settings, get_settings
from serving.core.db import make_sessionmaker
from serving.scoring import ScoringService


def create_app(engine: Engine | None = None, settings: Settings | None = None) -> FastAPI:
    """Build the app; the DB comes from settings unless an engine is given (tests, benchmarks)."""
    settings = settings or get_settings()
    scoring = ScoringService(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        scoring.start_polling(settings.model_poll_seconds)
        yield
        scoring.close()  # stops polling and writes the prediction log's last rows

    app = FastAPI(
        lifespan=lifespan,
        title="Lodestar",
        version="0.1.0",
        description="Scored leads, campaigns, coupons and recommendations for marketing and "
        "sales. Authenticate with the `X-API-Key` header (`lodestar users create`).",
    )
    engine = engine or runtime.engine()
    app.state.sessions = make_sessionmaker(engine)
    app.state.write_sessions = make_sessionmaker(engine, write=True)
    app.state.scoring = scoring
    problems.install(app)
    v1 = APIRouter(prefix="/v1")
    for module in (
        customers,
        leads,
        campaigns,
        offers,
        coupons,
        activity,
        users,
        scores,
        recommendations,
        experiments,
        forecasts,
        analytics,
        targeting,
    ):
        v1.include_router(module.router)
    app.include_router(v1)

    @app.get("/health", tags=["ops"])
    def health() -> dict[str, str]:
        return {"status": "ok"}

    return app

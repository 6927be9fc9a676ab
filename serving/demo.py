"""`lodestar demo`: the main job on the embedded default — a simulated world, demo keys, the API.

Re-running reuses the world already in the database (fast restarts); `--fresh` simulates anew.
"""

from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import func, select

from serving.config import Settings
from serving.core.db import make_engine, make_sessionmaker
from serving.core.migrate import upgrade
from serving.core.models import Customer, Lead, Role, User
from serving.core.services.users import create_user, issue_key

DEMO_ADMIN = "admin@demo.lodestar"


@dataclass(frozen=True)
class DemoInfo:
    simulated: str | None  # the simulator's summary, None when the world was reused
    features: str  # what the feature-store steps did
    models: str  # what training, scoring and monitoring did
    keys_file: Path
    rep_email: str


def prepare(settings: Settings, *, customers: int, days: int, seed: int, fresh: bool) -> DemoInfo:
    upgrade(settings.database_url)
    engine = make_engine(settings.database_url)
    try:
        with make_sessionmaker(engine)() as s:
            have_world = (s.scalar(select(func.count()).select_from(Customer)) or 0) > 0
        summary = None
        if fresh or not have_world:
            from serving.simulator import run_simulation

            summary = str(
                run_simulation(settings, customers=customers, days=days, seed=seed, reset=True)
            )
        with make_sessionmaker(engine, write=True)() as s:
            admin = s.scalar(select(User).where(User.email == DEMO_ADMIN))
            if admin is None:
                admin, admin_key = create_user(
                    session=s, email=DEMO_ADMIN, name="Demo admin", role=Role.admin
                )
            else:
                admin_key = issue_key(session=s, user=admin)
            # the busiest rep makes the best demo of a ranked lead list
            rep = s.scalar(
                select(User)
                .outerjoin(Lead, Lead.owner_id == User.id)
                .where(User.role == Role.sales_rep)
                .group_by(User.id)
                .order_by(func.count(Lead.id).desc(), User.id)
            )
            if rep is None:
                raise RuntimeError("the simulated world has no sales rep")
            rep_key = issue_key(session=s, user=rep)
            s.commit()
            rep_email = rep.email
    finally:
        engine.dispose()
    features = prepare_features(settings, fresh=summary is not None)
    models = prepare_models(settings, fresh=summary is not None)
    keys_file = settings.data_dir / "demo-keys.env"
    keys_file.parent.mkdir(parents=True, exist_ok=True)
    keys_file.write_text(
        f"# written by `lodestar demo`; local demo keys, never for production\n"
        f"ADMIN_KEY={admin_key}\nREP_KEY={rep_key}\n"
    )
    return DemoInfo(
        simulated=summary,
        features=features,
        models=models,
        keys_file=keys_file,
        rep_email=rep_email,
    )


def prepare_features(settings: Settings, *, fresh: bool) -> str:
    """Feature tables, the Feast registry and the online store, from the world in the DB.

    A fresh world is built in full; a reused one only catches up (incremental build and
    materialization), so restarting the demo stays quick.
    """
    from features.jobs import apply_repo, materialize
    from features.pipelines import build_features

    built = build_features(settings, incremental=not fresh)
    applied = apply_repo(settings)
    loaded = materialize(settings, incremental=not fresh)
    return "\n".join(str(x) for x in (built, applied, loaded))


def prepare_models(settings: Settings, *, fresh: bool) -> str:
    """Train every model (once per world), score the open leads, check drift."""
    from training import registry
    from training.batch import score_open_leads
    from training.drift import monitor
    from training.jobs import other_trainers
    from training.tracking import configure
    from training.train import MODELS, train

    configure(settings)
    lines = []
    for name in MODELS:
        if fresh or registry.champion_version(name) is None:
            try:
                lines.append(str(train(settings, name)))
            except ValueError as exc:  # a world too small or too short for this label
                lines.append(f"{name}: not trained ({exc})")
    for name, fit in other_trainers(settings).items():
        if fresh or registry.champion_version(name) is None:
            try:
                lines.append(str(fit()))
            except ValueError as exc:
                lines.append(f"{name}: not trained ({exc})")
    lines.append(str(score_open_leads(settings)))
    if registry.champion_version("lead_scoring") is not None:
        lines.append(f"drift report: {monitor(settings, 'lead_scoring').html_path}")
    lines += [
        f"MLflow UI:    .venv/bin/mlflow ui --backend-store-uri "
        f"{settings.mlflow_tracking_uri}  (then http://127.0.0.1:5000)",
    ]
    return "\n".join(lines)


def banner(info: DemoInfo, base_url: str) -> str:
    return "\n".join(
        [
            info.simulated or "reusing the simulated world in the database (--fresh to redo it)",
            info.features,
            info.models,
            "",
            f"API docs:   {base_url}/docs",
            f"demo keys:  {info.keys_file} (admin, and the sales rep {info.rep_email})",
            "try:",
            f"  source {info.keys_file}",
            f'  curl -s -H "X-API-Key: $REP_KEY" '
            f"'{base_url}/v1/leads?owner=me&sort=-score&limit=5'",
            f'  curl -s -H "X-API-Key: $ADMIN_KEY" '
            f"'{base_url}/v1/recommendations/send-time?customer_id=17&channel=email'",
            f'  curl -s -H "X-API-Key: $ADMIN_KEY" '
            f"'{base_url}/v1/recommendations/next-best-action?customer_id=17'",
            "",
        ]
    )

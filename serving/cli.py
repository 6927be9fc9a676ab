"""The `lodestar` command. Heavy imports live inside each command, so `lodestar --help` is quick."""

from pathlib import Path
from typing import Annotated

import typer

from serving.config import Settings, get_settings

# A year of history: churn's 90-day label leaves half a year of weekly as-of dates to learn
# from (on 180 days it had four, and the model stayed short of the knowable ceiling).
DEFAULT_DAYS = 365

app = typer.Typer(
    help="Lodestar: ML scoring and recommendations for marketing and sales.", no_args_is_help=True
)
db_app = typer.Typer(help="Database schema (Alembic migrations).", no_args_is_help=True)
users_app = typer.Typer(help="Users and their API keys.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(users_app, name="users")
features_app = typer.Typer(help="The feature store (Feast).", no_args_is_help=True)
app.add_typer(features_app, name="features")
models_app = typer.Typer(
    help="Registered models (MLflow): champion and challengers.", no_args_is_help=True
)
app.add_typer(models_app, name="models")


@app.callback()
def _quiet_third_parties() -> None:
    """Lodestar: ML scoring and recommendations for marketing and sales."""
    import os

    from serving.quiet import quiet_third_parties

    # LightGBM's OpenMP threads spin-wait by default; on a small shared box that made a 1 s fit
    # take 8–15 s whenever another process ran. Set before LightGBM is imported by a command.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    # MLflow draws a progress bar for every model it loads (the demo's scoring step, reloads),
    # which turns a log into carriage-return noise; our own lines say what was loaded.
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    quiet_third_parties()


@db_app.command("upgrade")
def db_upgrade(revision: str = "head") -> None:
    """Migrate the core DB (LODESTAR_DATABASE_URL) up to a revision."""
    from serving.core.migrate import upgrade

    upgrade(get_settings().database_url, revision)
    typer.echo(f"database at {revision}: {get_settings().database_url}")


@db_app.command("downgrade")
def db_downgrade(revision: str = "base") -> None:
    """Migrate the core DB down to a revision (base drops every table)."""
    from serving.core.migrate import downgrade

    downgrade(get_settings().database_url, revision)
    typer.echo(f"database at {revision}")


@users_app.command("create")
def users_create(
    email: Annotated[str, typer.Option(help="unique login e-mail")],
    role: Annotated[str, typer.Option(help="sales_rep | marketer | data_scientist | admin")],
    name: Annotated[str | None, typer.Option(help="display name (default: the e-mail)")] = None,
    region: Annotated[str | None, typer.Option(help="sales territory, for lead assignment")] = None,
    industry: Annotated[
        str | None, typer.Option(help="industry focus, for lead assignment")
    ] = None,
) -> None:
    """Create a user and print a new API key (shown once; only its hash is stored)."""
    from serving.core.errors import DomainError
    from serving.core.models import Role
    from serving.core.services.users import create_user
    from serving.runtime import session_factory

    try:
        role_ = Role(role)
    except ValueError:
        raise typer.BadParameter(
            f"role must be one of {', '.join(r.value for r in Role)}"
        ) from None
    with session_factory()() as session:
        try:
            user, key = create_user(
                session=session,
                email=email,
                name=name or email,
                role=role_,
                region=region,
                industry=industry,
            )
        except DomainError as exc:
            typer.echo(f"error: {exc.detail}", err=True)
            raise typer.Exit(1) from None
    typer.echo(f"created user {user.id} ({user.role.value}) {user.email}")
    typer.echo(f"API key (store it now, it is not shown again): {key}")


@features_app.command("build")
def features_build(
    incremental: Annotated[bool, typer.Option(help="only the days after the last build")] = False,
    through: Annotated[str | None, typer.Option(help="last day to build, YYYY-MM-DD")] = None,
    tables: Annotated[str | None, typer.Option(help="comma-separated tables (default all)")] = None,
) -> None:
    """Build the dated Parquet feature tables from the core DB and the event log."""
    from datetime import date

    from features.pipelines import build_features

    summary = build_features(
        get_settings(),
        tables=tables.split(",") if tables else None,
        incremental=incremental,
        through=date.fromisoformat(through) if through else None,
    )
    typer.echo(str(summary))


@features_app.command("apply")
def features_apply() -> None:
    """Register entities, feature views and services (renders features/repo/feature_store.yaml)."""
    from features.jobs import apply_repo

    typer.echo(str(apply_repo(get_settings())))


@features_app.command("materialize")
def features_materialize(
    incremental: Annotated[bool, typer.Option(help="only what changed since the last run")] = False,
) -> None:
    """Load the latest feature values into the online store (SQLite or Redis)."""
    from features.jobs import materialize

    typer.echo(str(materialize(get_settings(), incremental=incremental)))


@app.command("train")
def train_cmd(
    model: Annotated[
        str,
        typer.Argument(
            help="lead_scoring | conversion | churn | send_time | next_best_action | all, or uplift"
        ),
    ],
    seed: Annotated[int, typer.Option(help="random seed: same seed, same model")] = 0,
    max_rows: Annotated[int, typer.Option(help="cap on customer snapshot rows")] = 150_000,
    orders: Annotated[
        Path | None,
        typer.Option(
            help="churn only: a CSV of orders (customer_id,date,amount), no feature store needed"
        ),
    ] = None,
    campaign: Annotated[
        int | None, typer.Option(help="uplift: hold out this promotion (default: latest 30%)")
    ] = None,
    data: Annotated[
        Path | None,
        typer.Option(help="uplift: learn from this CSV instead", exists=True, dir_okay=False),
    ] = None,
    treatment: Annotated[str | None, typer.Option(help="uplift --data: treatment column")] = None,
    outcome: Annotated[str | None, typer.Option(help="uplift --data: outcome column")] = None,
    control: Annotated[str | None, typer.Option(help="uplift --data: control value")] = None,
) -> None:
    """Train, evaluate against baselines (and the oracle), log to MLflow, run the gate."""
    from training.train import MODELS, train

    settings = get_settings()
    if orders is not None:
        if model != "churn":
            raise typer.BadParameter("--orders trains the churn model only")
        import pandas as pd

        from training.churn_orders import fit_churn_from_orders

        typer.echo(str(fit_churn_from_orders(pd.read_csv(orders), random_state=seed)))
        return
    if model == "uplift":
        _train_uplift(settings, seed, campaign, data, treatment, outcome, control)
        return
    from training.jobs import other_trainers

    others = other_trainers(settings, seed=seed)
    names = (*MODELS, *others) if model == "all" else (model,)
    for name in names:
        if name in others:
            typer.echo(str(others[name]()))
        elif name in MODELS:
            typer.echo(str(train(settings, name, seed=seed, max_rows=max_rows)))
        else:
            choices = ", ".join((*MODELS, *others))
            raise typer.BadParameter(f"model must be one of {choices} or all")
    typer.echo(f"MLflow UI: mlflow ui --backend-store-uri {settings.mlflow_tracking_uri}")


def _train_uplift(
    settings: Settings,
    seed: int,
    campaign: int | None,
    data: Path | None,
    treatment: str | None,
    outcome: str | None,
    control: str | None,
) -> None:
    """T-, X-, offset-T and class-transformation learners on promotion exposures (registered as
    `uplift`), or on any CSV with a treatment and an outcome column (reported, not registered)."""
    from training.uplift import train_uplift_campaign, train_uplift_csv

    if data is not None and campaign is not None:
        raise typer.BadParameter("give --campaign or --data, not both")
    try:
        if data is not None:
            if not (treatment and outcome):
                raise typer.BadParameter("--data needs --treatment and --outcome")
            typer.echo(str(train_uplift_csv(data, treatment, outcome, control, seed=seed)))
            return
        typer.echo(str(train_uplift_campaign(settings, campaign, seed=seed)))
    except ValueError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"MLflow UI: mlflow ui --backend-store-uri {settings.mlflow_tracking_uri}")


score_app = typer.Typer(help="Batch scoring with the champion models.", no_args_is_help=True)
app.add_typer(score_app, name="score")


@score_app.command("leads")
def score_leads() -> None:
    """Score every open lead with the lead_scoring champion and write it back (nightly job)."""
    from training.batch import score_open_leads

    typer.echo(str(score_open_leads(get_settings())))


monitor_app = typer.Typer(help="Model monitoring.", no_args_is_help=True)
app.add_typer(monitor_app, name="monitor")


@monitor_app.command("drift")
def monitor_drift(
    model: Annotated[str, typer.Option(help="lead_scoring | conversion | churn")],
    drift_share: Annotated[
        float, typer.Option(help="share of drifted features that means retrain")
    ] = 0.3,
) -> None:
    """Evidently drift report: the champion's training reference against what it scores now."""
    from training.drift import monitor

    try:
        summary = monitor(get_settings(), model, drift_share=drift_share)
    except ValueError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    typer.echo(str(summary))


@models_app.command("list")
def models_list(name: Annotated[str | None, typer.Argument()] = None) -> None:
    """Every registered version with its aliases and holdout ROC-AUC."""
    from training import registry
    from training.tracking import configure

    configure(get_settings())
    for r in registry.list_versions(name):
        auc = f"{r['holdout_roc_auc']:.4f}" if r["holdout_roc_auc"] is not None else "-"
        typer.echo(
            f"{r['model']:14} v{r['version']:<4} {','.join(r['aliases']):20} "
            f"auc {auc}  {r['created']:%Y-%m-%d %H:%M}  {r['note']}"
        )


@models_app.command("promote")
def models_promote(name: str, version: str) -> None:
    """Make a version the champion (a person's decision, recorded as such)."""
    from training import registry
    from training.tracking import configure

    configure(get_settings())
    registry.set_champion(name, version, "promoted by hand")
    typer.echo(f"{name} v{version} is now champion")


@models_app.command("rollback")
def models_rollback(name: str) -> None:
    """Move the champion back to the previous one."""
    from training import registry
    from training.tracking import configure

    configure(get_settings())
    try:
        version = registry.rollback(name)
    except ValueError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"{name}: champion is v{version} again")


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="bind address")] = None,
    port: Annotated[int | None, typer.Option(help="port")] = None,
    workers: Annotated[int, typer.Option(help="uvicorn worker processes")] = 1,
    migrate: Annotated[bool, typer.Option(help="run migrations first")] = True,
) -> None:
    """Serve the API (OpenAPI docs at /docs)."""
    import uvicorn

    settings = get_settings()
    if migrate:
        from serving.core.migrate import upgrade

        upgrade(settings.database_url)
    uvicorn.run(
        "serving.app:create_app",
        factory=True,
        host=host or settings.api_host,
        port=port or settings.api_port,
        workers=workers,
    )


@app.command()
def demo(
    customers: Annotated[int, typer.Option(min=10, help="customers to simulate")] = 20_000,
    days: Annotated[int, typer.Option(min=14, help="days of history")] = DEFAULT_DAYS,
    seed: Annotated[int, typer.Option(help="random seed")] = 7,
    fresh: Annotated[bool, typer.Option(help="simulate anew even if a world exists")] = False,
    serve_api: Annotated[bool, typer.Option("--serve/--no-serve", help="start the API")] = True,
) -> None:
    """The main job: simulate a world (once), write demo API keys, serve the API."""
    from serving.demo import banner, prepare

    settings = get_settings()
    info = prepare(settings, customers=customers, days=days, seed=seed, fresh=fresh)
    typer.echo(banner(info, f"http://{settings.api_host}:{settings.api_port}"))
    if serve_api:
        serve(host=None, port=None, workers=1, migrate=False)


@app.command()
def simulate(
    customers: Annotated[int, typer.Option(min=10, help="number of customers")] = 20_000,
    days: Annotated[int, typer.Option(min=14, help="days of history")] = DEFAULT_DAYS,
    seed: Annotated[int, typer.Option(help="random seed: same seed, same world")] = 7,
    reset: Annotated[bool, typer.Option(help="empty the core DB and data dir first")] = True,
) -> None:
    """Simulate a synthetic world into the core DB, the Parquet event log and ground_truth/."""
    from serving.simulator import run_simulation

    summary = run_simulation(get_settings(), customers=customers, days=days, seed=seed, reset=reset)
    typer.echo(str(summary))


@app.command("import")
def import_(
    customers: Annotated[Path | None, typer.Option(help="customers CSV or Parquet")] = None,
    orders: Annotated[Path | None, typer.Option(help="orders CSV or Parquet")] = None,
    events: Annotated[Path | None, typer.Option(help="behaviour events CSV or Parquet")] = None,
    leads: Annotated[Path | None, typer.Option(help="leads CSV or Parquet")] = None,
    skip_invalid: Annotated[
        bool, typer.Option(help="write the valid rows even if some are rejected")
    ] = False,
) -> None:
    """Import your own data (schema in the README); all-or-nothing unless --skip-invalid."""
    from serving.core.importer import run_import

    report = run_import(
        get_settings(),
        customers=customers,
        orders=orders,
        events=events,
        leads=leads,
        skip_invalid=skip_invalid,
    )
    typer.echo(str(report))
    if not report.ok:
        raise typer.Exit(1)


evaluate_app = typer.Typer(help="Judge a policy off-line.", no_args_is_help=True)
app.add_typer(evaluate_app, name="evaluate")


@evaluate_app.command("nba")
def evaluate_nba_cmd(
    policy: Annotated[
        str, typer.Option(help="greedy | epsilon | thompson: the policy to judge")
    ] = "greedy",
    epsilon: Annotated[float, typer.Option(min=0, max=1, help="exploration share")] = 0.1,
    version: Annotated[str, typer.Option(help="registered version or alias")] = "champion",
) -> None:
    """Next-best-action on the held-out exposures: IPS / DR / direct estimates with 95% intervals
    beside best-single-offer, random and no action (and the true values on a simulated world)."""
    from training.nba import evaluate_nba

    if policy not in ("greedy", "epsilon", "thompson"):
        raise typer.BadParameter("policy must be greedy, epsilon or thompson")
    typer.echo(str(evaluate_nba(get_settings(), policy, epsilon=epsilon, version=version)))  # type: ignore[arg-type]


@evaluate_app.command("forecast")
def evaluate_forecast_cmd(
    holdout_share: Annotated[
        float, typer.Option(min=0.05, max=0.9, help="share of the ended campaigns held out")
    ] = 0.25,
    method: Annotated[str, typer.Option(help="glm | gbm | glm,gbm: the models to judge")] = "glm",
) -> None:
    """Campaign forecasts on the latest ended campaigns, each forecast from what ended before it
    started: MAPE, 80% interval coverage and interval score beside seasonal naive."""
    import time

    from models.forecast import METHODS, format_scores
    from serving.analytics.campaigns import evaluate_forecast

    methods = tuple(m.strip() for m in method.split(",") if m.strip())
    if not methods or set(methods) - set(METHODS):
        raise typer.BadParameter(f"method must be among {', '.join(METHODS)}")
    settings = get_settings()
    typer.echo(
        f"backtesting campaign forecasts ({', '.join(methods)}, seasonal naive) on the latest "
        f"{holdout_share:.0%} of ended campaigns in {settings.database_url}"
    )
    started = time.perf_counter()
    try:
        report = evaluate_forecast(settings, holdout_share=holdout_share, methods=methods)
    except ValueError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    typer.echo(format_scores(report, [*methods, "seasonal_naive"]))
    typer.echo(f"done in {time.perf_counter() - started:.1f} s")


experiment_app = typer.Typer(help="A/B experiment analysis.", no_args_is_help=True)
app.add_typer(experiment_app, name="experiment")


@experiment_app.command("analyze")
def experiment_analyze(
    data: Annotated[Path, typer.Option(help="CSV or Parquet, one row per unit")],
    arm: Annotated[str, typer.Option(help="column with each unit's arm")],
    outcome: Annotated[str, typer.Option(help="column: 0/1 conversion, or a number per unit")],
    control: Annotated[str | None, typer.Option(help="control arm (default: 'control')")] = None,
    covariate: Annotated[str | None, typer.Option(help="pre-period column for CUPED")] = None,
    segment: Annotated[str | None, typer.Option(help="column to break results down by")] = None,
    revenue: Annotated[str | None, typer.Option(help="revenue column (blank = 0)")] = None,
    alpha: Annotated[float, typer.Option(min=1e-6, max=0.5)] = 0.05,
) -> None:
    """Every arm against control: z / Welch tests, Bayesian chance to beat, CUPED, an
    always-valid sequential p-value and a sample-ratio-mismatch check (exit 2 on a mismatch)."""
    from training.experiment_csv import ExperimentDataError, analyze_csv

    try:
        report = analyze_csv(
            data,
            arm=arm,
            outcome=outcome,
            control=control,
            covariate=covariate,
            segment=segment,
            revenue=revenue,
            alpha=alpha,
        )
    except ExperimentDataError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    typer.echo(str(report))
    if report.result.srm_mismatch:
        raise typer.Exit(2)


if __name__ == "__main__":
    app()

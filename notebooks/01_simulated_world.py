# %% [markdown]
# # The simulated world, and what its ground truth promises
#
# A notebook in percent format (open it with Jupyter + jupytext, VS Code, or run it as a
# script); the test suite runs it against a small world so it never rots. It reads the world
# `lodestar simulate` wrote, from `LODESTAR_DATABASE_URL` and `LODESTAR_DATA_DIR`, and shows how
# much signal each model can hope to find: the oracle's scores are the ceiling later issues'
# models are measured against.

# %%
import pandas as pd
from sklearn.metrics import roc_auc_score
from sqlalchemy import create_engine

from serving.config import get_settings

settings = get_settings()
engine = create_engine(settings.database_url)
truth = settings.ground_truth_dir

# %% [markdown]
# ## Leads: how well can a lead score do?
# The true 30-day conversion probability, scored against what happened, is the oracle's AUC.

# %%
leads = pd.read_parquet(truth / "leads.parquet")
oracle_auc = roc_auc_score(leads["converted_30d"], leads["p_convert_30d"])
print(f"leads: {len(leads):,}, converted within 30 days: {leads['converted_30d'].mean():.1%}")
print(f"lead-scoring oracle ROC-AUC: {oracle_auc:.3f}")

# %% [markdown]
# ## Send time: opens by distance from each customer's preferred hour

# %%
customers = pd.read_parquet(truth / "customers.parquet")
exposures = pd.read_sql(
    "SELECT customer_id, sent_at, opened_at FROM exposures WHERE sent_at IS NOT NULL", engine
)
sent = pd.to_datetime(exposures["sent_at"], utc=True, format="mixed")
exposures["how_utc"] = sent.dt.dayofweek * 24 + sent.dt.hour
exposures = exposures.merge(customers[["customer_id", "preferred_how_utc"]], on="customer_id")
gap = (exposures["how_utc"] - exposures["preferred_how_utc"]).abs()
exposures["hours_away"] = pd.cut(
    gap.where(gap <= 84, 168 - gap), [-1, 1, 6, 24, 84], labels=["≤1", "2–6", "7–24", ">24"]
)
open_rate = (
    exposures.assign(opened=exposures["opened_at"].notna())
    .groupby("hours_away", observed=True)["opened"]
    .mean()
)
print("open rate by hours from the preferred hour-of-week:")
print(open_rate.round(3).to_string())

# %% [markdown]
# ## Offers: average and spread of the true individual effects

# %%
effects = pd.read_parquet(truth / "treatment_effects.parquet")
by_offer = effects.groupby("offer_id")["ite"].agg(
    mean="mean", harmed=lambda s: (s < 0).mean(), n="size"
)
print("true individual treatment effects by offer:")
print(by_offer.round(4).to_string())

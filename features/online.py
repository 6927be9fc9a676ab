"""Feature vectors for serving, from the online store: same names, order and dtypes as
`training_set` gives training (features/vectors.py)."""

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import pandas as pd

from features.vectors import conform

if TYPE_CHECKING:
    from feast import FeatureStore


def online_features(
    store: "FeatureStore",
    entity: str,
    ids: Sequence[int],
    features: Sequence[str],
    *,
    as_of: datetime | None = None,
) -> pd.DataFrame:
    """One row per id (in the order given), indexed by id; missing entities give NaN/None."""
    key = f"{entity}_id"
    when = as_of or datetime.now(UTC)
    rows = [{key: int(i), "as_of": when} for i in ids]
    response = store.get_online_features(features=list(features), entity_rows=rows).to_df()
    vectors = conform(response, features)
    vectors.index = pd.Index([int(i) for i in ids], name=key)
    return vectors


class OnlineReader:
    """The serving read: the same vectors as `online_features`, a few times faster.

    `FeatureStore.get_online_features` re-resolves references against the registry, reads every
    view through the store's generic code (parsing each value's timestamp), converts protobuf
    responses through Arrow and runs on-demand views through their transformation machinery, on
    every call. Here the views, fields and on-demand functions are resolved once; a call fetches
    the stored values in one round trip (one SQLite query, or one Redis pipeline) using Feast's
    own keys and online format, decodes only the values, and calls the registered on-demand
    functions directly. Other online stores fall back to Feast's `online_read` per view.
    """

    def __init__(self, store: "FeatureStore", entity: str, features: Sequence[str]) -> None:
        self.store = store
        self.key = f"{entity}_id"
        self.features = list(features)
        views = {v.name: v for v in store.list_feature_views()}
        odfvs = {v.name: v for v in store.list_on_demand_feature_views()}
        wanted: dict[str, set[str]] = {}
        self._odfvs: list = []  # type: ignore[type-arg]
        for ref in self.features:
            view, name = ref.split(":", 1)
            if view in odfvs:
                odfv = odfvs[view]
                if odfv not in self._odfvs:
                    self._odfvs.append(odfv)
                for proj in odfv.source_feature_view_projections.values():
                    wanted.setdefault(proj.name, set()).update(f.name for f in proj.features)
            elif view in views:
                wanted.setdefault(view, set()).add(name)
            else:
                raise KeyError(f"unknown feature view {view!r} in {ref!r}")
        self._reads = {v: sorted(names) for v, names in wanted.items()}
        self._views = views
        self._fetch = _fetcher(store, self._reads)

    def read(self, ids: Sequence[int], *, as_of: datetime | None = None) -> pd.DataFrame:
        ids = [int(i) for i in ids]
        columns = self._fetch(self.key, ids)
        if self._odfvs:
            when = as_of or datetime.now(UTC)
            for odfv in self._odfvs:
                inputs = {
                    f.name: columns[f.name]
                    for p in odfv.source_feature_view_projections.values()
                    for f in p.features
                }
                inputs["as_of"] = [when] * len(ids)
                columns.update(odfv.feature_transformation.udf(inputs))
        return conform(columns, self.features, index=pd.Index(ids, name=self.key))


Fetch = Callable[[str, list[int]], dict[str, list[Any]]]


def _fetcher(store: "FeatureStore", reads: dict[str, list[str]]) -> Fetch:
    kind = type(store.config.online_store).__name__
    if kind == "SqliteOnlineStoreConfig":
        return _sqlite_fetcher(store, reads)
    if kind == "RedisOnlineStoreConfig":
        return _redis_fetcher(store, reads)
    return _feast_fetcher(store, reads)


def _entity_key(key: str, i: int):  # type: ignore[no-untyped-def]
    from feast.protos.feast.types.EntityKey_pb2 import EntityKey
    from feast.protos.feast.types.Value_pb2 import Value

    return EntityKey(join_keys=[key], entity_values=[Value(int64_val=i)])


def _decoder() -> Callable[[bytes | None], Any]:
    """Stored bytes → Python value: the scalar, list or UTC datetime in Feast's Value proto."""
    from feast.protos.feast.types.Value_pb2 import Value
    from feast.type_map import NULL_TIMESTAMP_INT_VALUE

    parse = Value.FromString

    def decode(raw: bytes | None) -> Any:
        if raw is None:
            return None
        v = parse(raw)
        kind = v.WhichOneof("val")
        if kind is None:
            return None
        val = getattr(v, kind)
        if kind == "unix_timestamp_val":
            return None if val == NULL_TIMESTAMP_INT_VALUE else datetime.fromtimestamp(val, UTC)
        if kind.endswith("_list_val"):
            return list(val.val)
        return val

    return decode


def _sqlite_fetcher(store: "FeatureStore", reads: dict[str, list[str]]) -> Fetch:
    import sqlite3

    from feast.infra.key_encoding_utils import serialize_entity_key

    cfg = store.config
    decode = _decoder()
    con = sqlite3.connect(cfg.online_store.path, check_same_thread=False)
    selects = " UNION ALL ".join(
        f'SELECT entity_key, feature_name, value FROM "{cfg.project}_{view}" '
        f"WHERE entity_key IN ({{keys}}) AND feature_name IN ({', '.join('?' * len(names))})"
        for view, names in reads.items()
    )
    all_names = [n for names in reads.values() for n in names]

    def fetch(key: str, ids: list[int]) -> dict[str, list[Any]]:
        keys = [
            serialize_entity_key(_entity_key(key, i), entity_key_serialization_version=3)
            for i in ids
        ]
        position = {k: n for n, k in enumerate(keys)}
        marks = ",".join("?" * len(keys))
        args: list[Any] = []
        for names in reads.values():
            args += keys + names
        out: dict[str, list[Any]] = {n: [None] * len(ids) for n in all_names}
        for entity_key, name, value in con.execute(selects.format(keys=marks), args):
            out[name][position[entity_key]] = decode(value)
        return out

    return fetch


def _redis_fetcher(store: "FeatureStore", reads: dict[str, list[str]]) -> Fetch:
    import redis
    from feast.infra.online_stores.helpers import _mmh3, _redis_key

    from features.store import redis_url_from_connection_string

    cfg = store.config
    decode = _decoder()
    client = redis.Redis.from_url(
        redis_url_from_connection_string(cfg.online_store.connection_string)
    )
    names = [n for view_names in reads.values() for n in view_names]
    fields = [_mmh3(f"{view}:{n}") for view, view_names in reads.items() for n in view_names]

    def fetch(key: str, ids: list[int]) -> dict[str, list[Any]]:
        pipe = client.pipeline(transaction=False)
        for i in ids:
            pipe.hmget(
                _redis_key(cfg.project, _entity_key(key, i), entity_key_serialization_version=3),
                fields,
            )
        rows = pipe.execute()
        return {n: [decode(row[j]) for row in rows] for j, n in enumerate(names)}

    return fetch


def _feast_fetcher(store: "FeatureStore", reads: dict[str, list[str]]) -> Fetch:
    from feast.type_map import feast_value_type_to_python_type

    provider = store._get_provider()
    views = {v.name: v for v in store.list_feature_views()}

    def fetch(key: str, ids: list[int]) -> dict[str, list[Any]]:
        keys = [_entity_key(key, i) for i in ids]
        out: dict[str, list[Any]] = {}
        for view, names in reads.items():
            rows = provider.online_read(
                config=store.config, table=views[view], entity_keys=keys, requested_features=names
            )
            for n in names:
                out[n] = [
                    feast_value_type_to_python_type(vals[n])
                    if vals is not None and n in vals
                    else None
                    for _, vals in rows
                ]
        return out

    return fetch

"""Relevance tuning without code: ranking configs, synonyms and experiments in PostgreSQL.

Every replica keeps a copy in memory, reloaded every `config_refresh_seconds` and at once after
a change through its own API; the copy is what a search reads (no query per search).
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass, field

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert

from kommerce.data.db import Database
from kommerce.http.errors import Conflict, NotFound
from services.search.backend import SearchBackend
from services.search.models import Experiment, ExperimentIn, RankingConfig, SynonymGroup, Variant
from services.search.tables import EXPERIMENTS, RANKING_CONFIGS, SYNONYMS

DEFAULT = "default"


@dataclass(frozen=True)
class Choice:
    """What ranks one search: the config, and the experiment arm that chose it (if any)."""

    ranking_name: str
    ranking: RankingConfig
    experiment: str | None = None
    variant: str | None = None


def bucket(experiment: str, unit: str, total: int) -> int:
    """Deterministic in [0, total): the same experiment and user always land in one bucket."""
    digest = hashlib.sha256(f"{experiment}\x1f{unit}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % total


def assign(experiment: Experiment, unit: str) -> Variant:
    point = bucket(experiment.name, unit, sum(v.weight for v in experiment.variants))
    for variant in experiment.variants:
        if point < variant.weight:
            return variant
        point -= variant.weight
    raise AssertionError("unreachable: the weights cover the range")


@dataclass
class Tuning:
    db: Database
    backend: SearchBackend
    rankings: dict[str, RankingConfig] = field(default_factory=dict)
    synonyms: dict[str, SynonymGroup] = field(default_factory=dict)
    experiments: dict[str, Experiment] = field(default_factory=dict)

    async def load(self) -> None:
        async with self.db.session() as s:
            rankings = (await s.execute(select(RANKING_CONFIGS))).all()
            synonyms = (await s.execute(select(SYNONYMS).order_by(SYNONYMS.c.id))).all()
            experiments = (await s.execute(select(EXPERIMENTS))).all()
        self.rankings = {r.name: RankingConfig.model_validate(r.config) for r in rankings}
        self.synonyms = {str(r.id): SynonymGroup(terms=r.terms) for r in synonyms}
        self.experiments = {
            r.name: Experiment(name=r.name, active=r.active, variants=r.variants)
            for r in experiments
        }
        await self.backend.set_synonyms(list(self.synonyms.values()))

    # -- choosing -------------------------------------------------------------------------

    def choose(self, unit: str | None) -> Choice:
        """The first active experiment (by name) assigns a unit (user or anonymous id)."""
        default = self.rankings.get(DEFAULT, RankingConfig())
        active = [e for e in self.experiments.values() if e.active]
        if unit is None or not active:
            return Choice(DEFAULT, default)
        experiment = sorted(active, key=lambda e: e.name)[0]
        variant = assign(experiment, unit)
        ranking = self.rankings.get(variant.ranking, default)
        return Choice(variant.ranking, ranking, experiment.name, variant.name)

    # -- ranking configs ------------------------------------------------------------------

    async def put_ranking(self, name: str, config: RankingConfig) -> None:
        async with self.db.session() as s:
            await s.execute(
                insert(RANKING_CONFIGS)
                .values(name=name, config=config.model_dump(mode="json"))
                .on_conflict_do_update(
                    index_elements=["name"],
                    set_={"config": config.model_dump(mode="json"), "updated_at": _now()},
                )
            )
        await self.load()

    async def delete_ranking(self, name: str) -> None:
        users = [
            e.name
            for e in self.experiments.values()
            if e.active and any(v.ranking == name for v in e.variants)
        ]
        if users:
            raise Conflict(f"ranking {name} is used by active experiment(s) {', '.join(users)}")
        async with self.db.session() as s:
            gone = await s.execute(delete(RANKING_CONFIGS).where(RANKING_CONFIGS.c.name == name))
        if not gone.rowcount:  # type: ignore[attr-defined]
            raise NotFound(f"no ranking config {name}")
        await self.load()

    # -- synonyms -------------------------------------------------------------------------

    async def add_synonyms(self, group: SynonymGroup) -> str:
        group_id = str(uuid.uuid4())
        async with self.db.session() as s:
            await s.execute(insert(SYNONYMS).values(id=group_id, terms=group.terms))
        await self.load()
        return group_id

    async def put_synonyms(self, group_id: str, group: SynonymGroup) -> None:
        async with self.db.session() as s:
            done = await s.execute(
                SYNONYMS.update()
                .where(SYNONYMS.c.id == group_id)
                .values(terms=group.terms, updated_at=_now())
            )
        if not done.rowcount:  # type: ignore[attr-defined]
            raise NotFound(f"no synonym group {group_id}")
        await self.load()

    async def delete_synonyms(self, group_id: str) -> None:
        async with self.db.session() as s:
            done = await s.execute(delete(SYNONYMS).where(SYNONYMS.c.id == group_id))
        if not done.rowcount:  # type: ignore[attr-defined]
            raise NotFound(f"no synonym group {group_id}")
        await self.load()

    # -- experiments ----------------------------------------------------------------------

    async def put_experiment(self, name: str, body: ExperimentIn) -> Experiment:
        missing = sorted({v.ranking for v in body.variants} - set(self.rankings) - {DEFAULT})
        if missing:
            raise NotFound(
                f"no ranking config {', '.join(missing)}; create it with "
                "PUT /v1/search/rankings/{name} first",
                missing=missing,
            )
        variants = [v.model_dump() for v in body.variants]
        async with self.db.session() as s:
            await s.execute(
                insert(EXPERIMENTS)
                .values(name=name, active=body.active, variants=variants)
                .on_conflict_do_update(
                    index_elements=["name"], set_={"active": body.active, "variants": variants}
                )
            )
        await self.load()
        return self.experiments[name]

    async def delete_experiment(self, name: str) -> None:
        async with self.db.session() as s:
            done = await s.execute(delete(EXPERIMENTS).where(EXPERIMENTS.c.name == name))
        if not done.rowcount:  # type: ignore[attr-defined]
            raise NotFound(f"no experiment {name}")
        await self.load()


def _now() -> object:
    from sqlalchemy import func

    return func.now()

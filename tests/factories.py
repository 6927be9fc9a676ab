"""Small factories: each adds one row with sensible defaults and flushes (never commits)."""

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from serving.core.models import (
    Campaign,
    CampaignArm,
    CampaignChannel,
    CouponCode,
    CouponDefinition,
    Customer,
    DiscountType,
    Lead,
    LeadSource,
    Offer,
    Role,
    User,
)
from serving.core.services.users import issue_key

_seq = itertools.count(1)


def user(session: Session, role: Role = Role.admin, **kw: Any) -> tuple[User, str]:
    n = next(_seq)
    u = User(
        email=kw.pop("email", f"user{n}@example.com"),
        name=kw.pop("name", f"User {n}"),
        role=role,
        **kw,
    )
    session.add(u)
    session.flush()
    return u, issue_key(session=session, user=u)


def customer(session: Session, **kw: Any) -> Customer:
    n = next(_seq)
    defaults: dict[str, Any] = dict(
        external_id=f"C{n:07d}",
        name=f"Customer {n}",
        company=f"Company {n}",
        region="EMEA",
        industry="software",
        segment="smb",
        timezone="Europe/Berlin",
        consent_email=True,
    )
    c = Customer(**{**defaults, **kw})
    session.add(c)
    session.flush()
    return c


def lead(session: Session, customer_: Customer | None = None, **kw: Any) -> Lead:
    c = customer_ or customer(session)
    defaults: dict[str, Any] = dict(customer_id=c.id, source=LeadSource.web_form)
    item = Lead(**{**defaults, **kw})
    session.add(item)
    session.flush()
    return item


def offer(session: Session, **kw: Any) -> Offer:
    n = next(_seq)
    o = Offer(**{"name": f"Offer {n}", "value": 50.0, "cost": 5.0, **kw})
    session.add(o)
    session.flush()
    return o


def coupon(
    session: Session, code: str | None = None, **kw: Any
) -> tuple[CouponDefinition, CouponCode]:
    n = next(_seq)
    defaults: dict[str, Any] = dict(
        name=f"Coupon {n}",
        discount_type=DiscountType.percent,
        discount_value=10.0,
        valid_from=datetime.now(UTC) - timedelta(days=1),
        valid_until=datetime.now(UTC) + timedelta(days=30),
    )
    d = CouponDefinition(**{**defaults, **kw})
    session.add(d)
    session.flush()
    cc = CouponCode(definition_id=d.id, code=code or f"TEST-{n:04d}-CODE")
    session.add(cc)
    session.flush()
    return d, cc


def campaign(session: Session, arms: int = 2, **kw: Any) -> Campaign:
    n = next(_seq)
    defaults: dict[str, Any] = dict(name=f"Campaign {n}", channel=CampaignChannel.email)
    c = Campaign(**{**defaults, **kw})
    c.arms = [CampaignArm(name=f"arm{i}", weight=1.0, is_control=i == 0) for i in range(arms)]
    session.add(c)
    session.flush()
    return c


def auth(key: str) -> dict[str, str]:
    return {"X-API-Key": key}

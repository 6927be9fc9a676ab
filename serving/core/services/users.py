"""Users and API keys."""

from sqlalchemy import select
from sqlalchemy.orm import Session

from serving.core.errors import Conflict
from serving.core.models import ApiKey, Role, User
from serving.core.security import hash_api_key, new_api_key


def create_user(
    *,
    session: Session,
    email: str,
    name: str,
    role: Role,
    region: str | None = None,
    industry: str | None = None,
) -> tuple[User, str]:
    """Create a user with one API key; returns the key in clear, the only time it exists."""
    if session.scalar(select(User.id).where(User.email == email)) is not None:
        raise Conflict(f"a user with e-mail {email} already exists")
    user = User(email=email, name=name, role=role, region=region, industry=industry)
    session.add(user)
    session.flush()
    key = issue_key(session=session, user=user)
    session.commit()
    return user, key


def issue_key(*, session: Session, user: User) -> str:
    key = new_api_key()
    session.add(ApiKey(user_id=user.id, key_hash=hash_api_key(key), prefix=key[:8]))
    session.flush()
    return key


def user_for_key(*, session: Session, key: str) -> User | None:
    return session.scalar(
        select(User)
        .join(ApiKey)
        .where(
            ApiKey.key_hash == hash_api_key(key),
            ApiKey.revoked_at.is_(None),
            User.is_active.is_(True),
        )
    )

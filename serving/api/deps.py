"""FastAPI dependencies: DB session, the caller (from their API key) and role checks."""

from collections.abc import AsyncIterator, Callable
from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import APIKeyHeader
from sqlalchemy.orm import Session

from serving.config import Settings, get_settings
from serving.core.errors import DomainError, Forbidden
from serving.core.models import Role, User
from serving.core.services.users import user_for_key
from serving.scoring import ScoringService


class Unauthorized(DomainError):
    status, code, title = 401, "unauthorized", "Unauthorized"


# Async generators on purpose: their cleanup runs on the event loop, not in the thread pool, so
# a request that holds SQLite's write lock can always release it even when every pool thread is
# waiting for that lock.
async def get_session(request: Request) -> AsyncIterator[Session]:
    """A session for reading."""
    with request.app.state.sessions() as session:
        yield session


async def get_write_session(request: Request) -> AsyncIterator[Session]:
    """A session for a use case that writes (on SQLite it takes the write lock at BEGIN)."""
    with request.app.state.write_sessions() as session:
        yield session


def get_scoring(request: Request) -> ScoringService:
    return request.app.state.scoring  # type: ignore[no-any-return]


SessionDep = Annotated[Session, Depends(get_session)]
WriteSessionDep = Annotated[Session, Depends(get_write_session)]
SettingsDep = Annotated[Settings, Depends(get_settings)]

api_key_header = APIKeyHeader(
    name="X-API-Key", auto_error=False, description="a key from `lodestar users create`"
)


def current_user(request: Request, key: Annotated[str | None, Security(api_key_header)]) -> User:
    """The caller, looked up in a short session of its own.

    The request's session then begins in the route itself, so a connection (and on SQLite the
    write lock) is held only inside one thread-pool call: never while waiting for another thread.
    """
    if not key:
        auth = request.headers.get("Authorization", "")
        key = auth.removeprefix("Bearer ").strip() if auth.startswith("Bearer ") else None
    if not key:
        raise Unauthorized("missing API key: send it in the X-API-Key header")
    with request.app.state.sessions() as session:
        user = user_for_key(session=session, key=key)
    if user is None:
        raise Unauthorized("invalid or revoked API key")
    return user


CurrentUser = Annotated[User, Depends(current_user)]


def require_roles(*roles: Role) -> Callable[[User], User]:
    allowed = ", ".join(r.value for r in roles)

    def check(user: CurrentUser) -> User:
        if user.role not in roles:
            raise Forbidden(f"this needs one of the roles: {allowed} (you are {user.role.value})")
        return user

    return check


ScoringDep = Annotated[ScoringService, Depends(get_scoring)]
Marketer = Annotated[User, Depends(require_roles(Role.marketer, Role.admin))]
Admin = Annotated[User, Depends(require_roles(Role.admin))]
DataScientist = Annotated[User, Depends(require_roles(Role.data_scientist, Role.admin))]

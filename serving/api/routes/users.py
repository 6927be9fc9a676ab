"""/v1/users (admins) and /v1/me."""

from fastapi import APIRouter, status
from sqlalchemy import select

from serving.api.deps import Admin, CurrentUser, SessionDep, WriteSessionDep
from serving.api.pagination import PageDep, fetch_page
from serving.api.schemas.common import Page
from serving.api.schemas.users import UserCreate, UserCreated, UserOut
from serving.core.models import User
from serving.core.services.users import create_user

router = APIRouter(tags=["users"])


@router.get("/me", response_model=UserOut)
def me(user: CurrentUser) -> User:
    return user


@router.post("/users", status_code=status.HTTP_201_CREATED, response_model=UserCreated)
def add_user(body: UserCreate, session: WriteSessionDep, admin: Admin) -> dict[str, object]:
    user, key = create_user(session=session, **body.model_dump())
    return {**UserOut.model_validate(user).model_dump(), "api_key": key}


@router.get("/users", response_model=Page[UserOut])
def list_users(session: SessionDep, admin: Admin, page: PageDep) -> dict[str, object]:
    return fetch_page(session, select(User).order_by(User.id), page)

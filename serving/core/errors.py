"""Domain errors. Services raise them; one API handler turns them into problem JSON."""


class DomainError(Exception):
    status: int = 400
    code: str = "bad_request"
    title: str = "Bad request"

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class NotFound(DomainError):
    status, code, title = 404, "not_found", "Not found"


class Conflict(DomainError):
    status, code, title = 409, "conflict", "Conflict"


class LimitReached(Conflict):
    code, title = "limit_reached", "Limit reached"


class IllegalTransition(Conflict):
    code, title = "illegal_transition", "Illegal status transition"


class Invalid(DomainError):
    """Input that passes the schema but breaks a business rule (e.g. an order below the minimum)."""

    status, code, title = 422, "invalid", "Invalid input"


class Forbidden(DomainError):
    status, code, title = 403, "forbidden", "Forbidden"

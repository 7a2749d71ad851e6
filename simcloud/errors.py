"""The one error type the simulated services raise; each service renders it its own way."""

from __future__ import annotations


class ApiError(Exception):
    """An HTTP error as the real service would answer it.

    `kind` is neutron's error type (`NetworkNotFound`, `SecurityGroupRuleExists`...);
    nova, cinder and keystone derive their envelope from the status alone.
    """

    def __init__(self, status: int, message: str, kind: str = ""):
        super().__init__(message)
        self.status, self.message, self.kind = status, message, kind


def not_found(message: str, kind: str = "") -> ApiError:
    return ApiError(404, message, kind)


def conflict(message: str, kind: str = "") -> ApiError:
    return ApiError(409, message, kind)


def bad_request(message: str, kind: str = "BadRequest") -> ApiError:
    return ApiError(400, message, kind)

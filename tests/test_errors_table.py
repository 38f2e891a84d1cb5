"""Whether each provider error is worth a retry: one table, the nearest class listed decides."""

import pytest

from respan_router import errors
from respan_router.resilience._shared_health import _Failure


@pytest.mark.parametrize(
    ("error", "retryable"),
    [
        (errors.ProviderBadRequestError("x"), False),
        (errors.ContextWindowExceededError("x"), False),  # inherits its parent's entry
        (errors.ContentPolicyViolationError("x", status_code=500), False),  # class beats status
        (errors.AuthenticationError("x"), False),
        (errors.PermissionDeniedError("x"), False),
        (errors.NotFoundError("x"), False),
        (errors.ProviderTimeoutError("x", status_code=400), True),
        (errors.RateLimitError("x"), True),
        (errors.CustomerRateLimitError("x"), False),  # a subclass overrides its parent
        (errors.ProviderConnectionError("x"), True),
        (errors.StreamInterruptedError("x"), False),
        (errors.ProviderError("x", status_code=503), True),  # not listed: by status
        (errors.ProviderError("x", status_code=409), True),
        (errors.ProviderError("x", status_code=418), False),
        (_Failure("replayed"), True),  # a subclass not listed: by status (503)
    ],
)
def test_retryable_by_class_then_status(error: errors.ProviderError, retryable: bool) -> None:
    assert error.retryable is retryable


def test_error_for_status_uses_the_table() -> None:
    assert not errors.error_for_status(401, "no").retryable
    assert errors.error_for_status(504, "slow").retryable
    assert isinstance(errors.error_for_status(504, "slow"), errors.ProviderTimeoutError)

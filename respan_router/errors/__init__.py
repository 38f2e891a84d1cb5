"""The router's errors.

Every error the router raises is a :class:`RouterError` with an HTTP-like ``status_code``::

    RouterError
    ├── InvalidRequestError (400)          bad input, raised before any provider is called
    │   ├── FeatureNotAvailableError (400) a parameter whose behaviour is not built yet
    │   ├── BudgetExceededError (429)      a customer's budget cannot cover the call
    │   └── NoCandidateError (400)         nothing left to call after exclusions
    ├── BudgetUnavailableError (503)       the shared budget store is down (fail_closed)
    ├── AllAttemptsFailedError             several candidates tried, all failed; status and
    │                                      __cause__ are those of the last attempt
    └── ProviderError (5xx, others)        a provider answered with an error or did not answer
        ├── ProviderBadRequestError (400)  the provider rejected the request
        │   ├── ContextWindowExceededError
        │   └── ContentPolicyViolationError
        ├── AuthenticationError (401)
        ├── PermissionDeniedError (403)
        ├── NotFoundError (404)
        ├── ProviderTimeoutError (408)
        ├── RateLimitError (429)           ``retry_after`` in seconds when the provider said
        │   └── CustomerRateLimitError     a customer's ``rate_limit`` (requests per minute)
        ├── ProviderConnectionError (503)  the connection dropped before a reply
        └── StreamInterruptedError         a stream failed after its first chunk

Third-party errors (litellm's) are mapped onto this tree in one place,
:mod:`respan_router.providers._litellm_errors`. No message, repr or attribute of these
errors carries a credential: messages are redacted of the secrets the call used.
"""

from respan_router.errors._call import (
    AllAttemptsFailedError,
    AttemptFailure,
    BudgetExceededError,
    BudgetUnavailableError,
    FeatureNotAvailableError,
    InvalidRequestError,
    NoCandidateError,
    PromptLoadError,
    RouterError,
    error_type,
)
from respan_router.errors._provider import (
    AuthenticationError,
    ContentPolicyViolationError,
    ContextWindowExceededError,
    CustomerRateLimitError,
    NotFoundError,
    PermissionDeniedError,
    ProviderBadRequestError,
    ProviderConnectionError,
    ProviderError,
    ProviderTimeoutError,
    RateLimitError,
    StreamInterruptedError,
    error_for_status,
)

__all__ = [
    "AllAttemptsFailedError",
    "AttemptFailure",
    "AuthenticationError",
    "BudgetExceededError",
    "BudgetUnavailableError",
    "ContentPolicyViolationError",
    "ContextWindowExceededError",
    "CustomerRateLimitError",
    "FeatureNotAvailableError",
    "InvalidRequestError",
    "NoCandidateError",
    "NotFoundError",
    "PermissionDeniedError",
    "PromptLoadError",
    "ProviderBadRequestError",
    "ProviderConnectionError",
    "ProviderError",
    "ProviderTimeoutError",
    "RateLimitError",
    "RouterError",
    "StreamInterruptedError",
    "error_for_status",
    "error_type",
]

# The classes live in private modules; they are named (in tracebacks, spans' exception.type,
# pickles) by their public home.
for _name in __all__:
    _obj = globals()[_name]
    if isinstance(_obj, type):
        _obj.__module__ = __name__
del _name, _obj

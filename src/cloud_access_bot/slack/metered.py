"""Slack Web API errors and rate limits, counted through the Metrics port."""

from __future__ import annotations

from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.web.async_slack_response import AsyncSlackResponse

from cloud_access_bot.ports import Metrics


class MeteredWebClient(AsyncWebClient):
    """An AsyncWebClient that reports every error answer (after its retries) to ``metrics``."""

    def __init__(self, *, metrics: Metrics, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._metrics = metrics

    async def api_call(self, api_method: str, **kwargs: Any) -> AsyncSlackResponse:
        try:
            return await super().api_call(api_method, **kwargs)
        except SlackApiError as error:
            self._metrics.slack_failed(api_method, str(error.response.get("error", "unknown")))
            raise


class CountingRateLimitRetryHandler(AsyncRateLimitErrorRetryHandler):
    """Slack SDK's 429 retry (it waits Retry-After), counting each 429 it sees."""

    def __init__(self, metrics: Metrics, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._metrics = metrics

    async def _can_retry_async(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> bool:
        if response is not None and response.status_code == 429:
            method = request.url.rstrip("/").rsplit("/", 1)[-1]
            self._metrics.slack_failed(method, "ratelimited")
        return await super()._can_retry_async(
            state=state, request=request, response=response, error=error
        )

"""The LLM seam: any OpenAI-compatible chat-completions endpoint, optional.

The bot works fully offline without it. When configured (``VREP_OPENAI_BASE_URL`` and
``VREP_OPENAI_MODEL``), skills may use it to rephrase within retrieved, approved passages and
to classify; every use must tolerate failure, timeouts and refusals by falling back.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any, Protocol

from bot.settings import Settings

if TYPE_CHECKING:  # the openai package is imported only when an LLM is configured (open_llm):
    from openai import AsyncOpenAI  # its import costs ~1 s of every start without one


class LLMError(Exception):
    """The model failed, timed out, refused, or answered in an unusable shape."""


class LLMClient(Protocol):
    model: str

    async def complete_text(self, system: str, user: str, *, max_tokens: int = 800) -> str: ...

    async def complete_json(
        self, system: str, user: str, schema: dict[str, Any], *, name: str = "answer"
    ) -> dict[str, Any]:
        """Structured output: a JSON object valid for ``schema`` (raises ``LLMError``)."""
        ...


class OpenAICompatibleLLM:
    """``LLMClient`` over the openai package (works with any compatible server)."""

    def __init__(self, client: AsyncOpenAI, model: str) -> None:
        from openai import OpenAIError

        self._client = client
        self._error = OpenAIError
        self.model = model

    async def complete_text(self, system: str, user: str, *, max_tokens: int = 800) -> str:
        try:
            response = await self._client.chat.completions.create(
                model=self.model,
                messages=[{"role": "system", "content": system}, {"role": "user", "content": user}],
                max_tokens=max_tokens,
                temperature=0,
            )
        except self._error as exc:
            raise LLMError(f"{type(exc).__name__}: {exc}") from exc
        choice = response.choices[0] if response.choices else None
        if choice is None or choice.message.content is None:
            raise LLMError("empty or refused completion")
        if getattr(choice.message, "refusal", None):
            raise LLMError("the model refused")
        return choice.message.content

    async def complete_json(
        self, system: str, user: str, schema: dict[str, Any], *, name: str = "answer"
    ) -> dict[str, Any]:
        try:
            response = await self._client.chat.completions.create(
                model=self.model,
                messages=[{"role": "system", "content": system}, {"role": "user", "content": user}],
                temperature=0,
                response_format={
                    "type": "json_schema",
                    "json_schema": {"name": name, "schema": schema, "strict": True},
                },
            )
        except self._error as exc:
            raise LLMError(f"{type(exc).__name__}: {exc}") from exc
        content = response.choices[0].message.content if response.choices else None
        if not content:
            raise LLMError("empty or refused completion")
        try:
            parsed = json.loads(content)
        except json.JSONDecodeError as exc:
            raise LLMError("completion is not JSON") from exc
        if not isinstance(parsed, dict):
            raise LLMError("completion is not a JSON object")
        return parsed


@asynccontextmanager
async def open_llm(settings: Settings) -> AsyncIterator[LLMClient | None]:
    """The configured client (closed on exit), or None when no LLM is configured."""
    if not (settings.openai_base_url and settings.openai_model):
        yield None
        return
    from openai import AsyncOpenAI

    api_key = settings.openai_api_key.get_secret_value() if settings.openai_api_key else "none"
    client = AsyncOpenAI(
        base_url=settings.openai_base_url,
        api_key=api_key,
        timeout=settings.openai_timeout_s,
        max_retries=0,
    )
    try:
        yield OpenAICompatibleLLM(client, settings.openai_model)
    finally:
        await client.close()

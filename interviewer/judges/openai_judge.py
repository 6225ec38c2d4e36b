"""The OpenAI-compatible judge: any chat-completions endpoint through the ``openai`` package.

Works with OpenAI, DeepSeek, Doubao (Ark), Qwen (DashScope compatible mode), vLLM,
Ollama and llama.cpp servers. One request per answer (per sample when
self-consistency is on); the model proposes verdicts as JSON (see
``interviewer.judges.prompt``) and ``finalize`` checks the evidence and scores in
code.

Structured output, best first, remembered per judge instance once a server
rejects a mode (HTTP 400/422, or llama-cpp-python's 500, naming response_format):

1. ``json_schema``: ``{"type": "json_schema", "json_schema": {...}}`` (OpenAI, vLLM, Ark);
2. ``json_object+schema``: ``{"type": "json_object", "schema": {...}}``, the form
   llama-cpp-python compiles into a grammar (its server rejects ``json_schema``);
3. ``json_object``: plain JSON mode (DeepSeek, DashScope, Ollama);
4. ``none``: the prompt alone, read by the tolerant parser.

Failures never raise from ``grade``: HTTP 429, 5xx and connection errors are
retried ``max_retries`` times with exponential backoff (a small ``Retry-After``
is honoured); 400/401/403/404 and timeouts are not retried (a timed-out request
would only time out again, multiplying the wait). The final failure becomes an
``ungraded`` grade with a readable reason. The API key never appears in a
reason, a raw output or an exception message: every text that leaves this module
is scrubbed of it.
"""

from __future__ import annotations

import email.utils
import random
import socket
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import openai

from interviewer.bank.models import Question, Rubric
from interviewer.config import JudgeSettings, SettingsError
from interviewer.judges.base import JudgeUnavailable, Timer, finalize, trivial_grade, ungraded
from interviewer.judges.models import Flag, Grade, JudgeMeta, KeypointVerdict, Status
from interviewer.judges.prompt import PROMPT_VERSION, JudgeOutputError, ParsedOutput, build_messages, fresh_nonce_for, output_schema, parse_output
from interviewer.judges.sanitize import PreparedAnswer, prepare_answer

MODES = ("json_schema", "json_object+schema", "json_object", "none")
NO_KEY = "sk-no-key-required"  # local servers ignore it; the client insists on some key
SAMPLE_TEMPERATURE = 0.7
MAX_RETRY_AFTER_S = 20.0
MAX_BACKOFF_S = 8.0


class _Failure(Exception):
    """One request failed for good; ``reason`` is readable and scrubbed."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@dataclass
class _Sample:
    parsed: ParsedOutput | None = None
    raw: list[str] = field(default_factory=list)
    tokens: int = 0
    error: str | None = None


class OpenAIJudge:
    """Grades through an OpenAI-compatible chat-completions endpoint."""

    name = "openai"

    def __init__(
        self,
        base_url: str | None,
        model: str | None,
        api_key: str | None = None,
        timeout_s: float = 60,
        max_retries: int = 3,
        samples: int = 1,
        feedback: bool = True,
        *,
        key_hint: str = "$INTERVIEWER_API_KEY",
        max_tokens: int = 2048,
        backoff_s: float = 0.5,
    ):
        if not base_url or not str(base_url).strip():
            raise JudgeUnavailable(
                "the openai judge needs judge.base_url in the settings, e.g. https://api.deepseek.com/v1, "
                "https://dashscope.aliyuncs.com/compatible-mode/v1 or http://127.0.0.1:8080/v1 for a local llama.cpp / vLLM / Ollama server"
            )
        if urlsplit(str(base_url).strip()).scheme not in ("http", "https") or not urlsplit(str(base_url).strip()).hostname:
            raise JudgeUnavailable(f"judge.base_url must be a full URL starting with http:// or https://, e.g. http://127.0.0.1:8080/v1 (got {str(base_url).split('@')[-1][:80]!r})")
        if not model or not str(model).strip():
            raise JudgeUnavailable("the openai judge needs judge.model in the settings, e.g. deepseek-chat, qwen-plus, gpt-4o-mini, or the model name your local server serves")
        if samples < 1:
            raise JudgeUnavailable(f"judge.samples must be at least 1, not {samples}")
        self.base_url = str(base_url).strip().rstrip("/")
        self.model = str(model).strip()
        self.timeout_s = float(timeout_s)
        self.max_retries = int(max_retries)
        self.samples = int(samples)
        self.feedback = feedback
        self.max_tokens = max_tokens
        self.backoff_s = backoff_s
        self.key_hint = key_hint
        self._secret = api_key or None
        self._mode_index = 0
        self._mode_lock = threading.Lock()
        self._sleep = time.sleep  # tests replace it to record the waits
        self._client = openai.OpenAI(base_url=self.base_url, api_key=api_key or NO_KEY, timeout=self.timeout_s, max_retries=0)

    def __repr__(self) -> str:  # never shows the key
        return f"OpenAIJudge(base_url={self._shown_url()!r}, model={self.model!r}, mode={self.response_mode!r})"

    @classmethod
    def from_settings(cls, settings: JudgeSettings) -> "OpenAIJudge":
        try:
            key = settings.api_key()
        except SettingsError as exc:
            raise JudgeUnavailable(str(exc)) from None
        hint = f"${settings.api_key_env}" if settings.api_key_env else "the API key"
        if settings.api_key_file is not None:
            hint += f" or the key file {settings.api_key_file}"
        return cls(
            settings.base_url,
            settings.model,
            api_key=key,
            timeout_s=settings.timeout_s,
            max_retries=settings.max_retries,
            samples=settings.samples,
            feedback=settings.feedback,
            key_hint=hint,
        )

    @property
    def response_mode(self) -> str:
        """The structured-output mode this judge uses now (see the module docstring)."""
        return MODES[self._mode_index]

    # ------------------------------------------------------------------ grading

    def grade(self, question: Question, rubric: Rubric, answer: str | bytes) -> Grade:
        prepared = prepare_answer(answer)
        trivial = trivial_grade(question, rubric, prepared, self.name)
        if trivial is not None:
            return trivial.model_copy(update={"meta": trivial.meta.model_copy(update={"model": self.model})})
        temperature = 0.0 if self.samples == 1 else SAMPLE_TEMPERATURE
        with Timer() as timer:
            if self.samples == 1:
                results = [self._sample(question, rubric, prepared, temperature)]
            else:  # samples are independent requests: send them together (a local server queues them)
                with ThreadPoolExecutor(self.samples) as pool:
                    results = list(pool.map(lambda _: self._sample(question, rubric, prepared, temperature), range(self.samples)))
        ok = [r for r in results if r.parsed is not None]
        raw = self._raw(results)
        meta = JudgeMeta(
            backend=self.name,
            model=self.model,
            prompt_version=PROMPT_VERSION,
            latency_ms=timer.ms,
            raw_output=raw,
            tokens_processed=sum(r.tokens for r in results) or None,
            samples=len(ok) or self.samples,
        )
        if not ok:
            reasons = list(dict.fromkeys(r.error or "no verdicts" for r in results))
            return ungraded(question, prepared, meta, self._scrub("; ".join(reasons)))
        verdicts, misconceptions, disagreed = self._combine(rubric, [r.parsed for r in ok if r.parsed is not None])
        flags = []
        if disagreed or len(ok) < self.samples or any(r.parsed is not None and r.parsed.repaired for r in ok):
            flags.append(Flag.needs_review)
        first = ok[0].parsed
        assert first is not None
        return finalize(
            question,
            rubric,
            prepared,
            verdicts,
            meta,
            misconceptions=misconceptions,
            feedback=self._scrub(first.feedback) if self.feedback else "",
            flags=flags,
        )

    def _sample(self, question: Question, rubric: Rubric, prepared: PreparedAnswer, temperature: float) -> _Sample:
        """One sample: a request, and one more if the reply cannot be read."""
        sample = _Sample()
        problem = ""
        for _ in range(2):
            nonce = fresh_nonce_for(prepared.redacted)  # a fresh nonce for every request
            messages = build_messages(question, rubric, prepared.redacted, nonce, self.feedback)
            try:
                content, tokens, finish = self._complete(messages, rubric, temperature)
            except _Failure as failure:
                sample.error = failure.reason
                return sample
            sample.raw.append(content)
            sample.tokens += tokens
            try:
                sample.parsed = parse_output(content, rubric, self.feedback)
                return sample
            except JudgeOutputError as exc:
                problem = str(exc) + (f"; the reply was cut at max_tokens={self.max_tokens}" if finish == "length" else "")
        sample.error = f"the judge's reply could not be read twice ({problem}); the raw output is kept"
        return sample

    def _complete(self, messages: list[dict[str, str]], rubric: Rubric, temperature: float) -> tuple[str, int, str]:
        """The reply text, the tokens used and the finish reason, after retries and response-format fallback."""
        attempt = 0
        while True:
            mode_index = self._mode_index
            kwargs: dict = {"model": self.model, "messages": messages, "temperature": temperature, "max_tokens": self.max_tokens}
            response_format = self._response_format(MODES[mode_index], rubric)
            if response_format is not None:
                kwargs["response_format"] = response_format
            try:
                response = self._client.chat.completions.create(**kwargs)
            except openai.APIStatusError as exc:
                if MODES[mode_index] != "none" and _rejects_response_format(exc):
                    self._next_mode(mode_index)
                    continue
                if _retryable(exc.status_code) and attempt < self.max_retries:
                    self._sleep(self._delay(attempt, exc))
                    attempt += 1
                    continue
                raise _Failure(self._status_reason(exc, attempt)) from None
            except openai.APITimeoutError:
                raise _Failure(f"timed out after {self.timeout_s:g} s waiting for {self._origin()} (raise judge.timeout_s for a slow server)") from None
            except openai.APIConnectionError as exc:
                if attempt < self.max_retries:
                    self._sleep(self._delay(attempt, None))
                    attempt += 1
                    continue
                raise _Failure(self._connection_reason(exc, attempt)) from None
            except openai.OpenAIError as exc:
                raise _Failure(self._scrub(f"the server's reply could not be used: {type(exc).__name__}: {exc}"[:300])) from None
            try:
                choice = response.choices[0]
                content = self._scrub(choice.message.content or "")  # a server echoing the key
                usage = getattr(response, "usage", None)
                tokens = int(getattr(usage, "total_tokens", 0) or 0)
            except (AttributeError, IndexError, TypeError, ValueError) as exc:
                raise _Failure(f"the server's reply is not a chat completion ({type(exc).__name__}); check base_url") from None
            return content, tokens, str(getattr(choice, "finish_reason", "") or "")

    def _response_format(self, mode: str, rubric: Rubric) -> dict | None:
        if mode == "json_schema":
            return {"type": "json_schema", "json_schema": {"name": "keypoint_grades", "strict": True, "schema": output_schema(rubric, self.feedback)}}
        if mode == "json_object+schema":
            return {"type": "json_object", "schema": output_schema(rubric, self.feedback, bounded=True)}
        if mode == "json_object":
            return {"type": "json_object"}
        return None

    def _next_mode(self, seen: int) -> None:
        with self._mode_lock:
            if self._mode_index == seen and seen < len(MODES) - 1:
                self._mode_index = seen + 1

    # ------------------------------------------------------------------ combining samples

    @staticmethod
    def _combine(rubric: Rubric, parsed: list[ParsedOutput]) -> tuple[list[KeypointVerdict], list[tuple[str, str]], bool]:
        """Majority status per keypoint (ties go to the lower status); any disagreement is reported."""
        if len(parsed) == 1:
            return parsed[0].verdicts, parsed[0].misconceptions, False
        disagreed = False
        verdicts = []
        for keypoint in rubric.keypoints:
            proposals = [next((v for v in p.verdicts if v.keypoint_id == keypoint.id), None) for p in parsed]
            statuses = [v.status if v is not None else Status.missing for v in proposals]
            if len(set(statuses)) > 1:
                disagreed = True
            counts = Counter(statuses)
            best = max(counts, key=lambda s: (counts[s], -s.credit))
            chosen = next((v for v in proposals if v is not None and v.status is best), None)
            verdicts.append(chosen or KeypointVerdict(keypoint_id=keypoint.id, status=Status.missing, reason="most samples gave no verdict"))
        votes: Counter[str] = Counter()
        evidence: dict[str, str] = {}
        for p in parsed:
            for misconception_id, quote in dict(p.misconceptions).items():
                votes[misconception_id] += 1
                evidence.setdefault(misconception_id, quote)
        misconceptions = [(m, evidence[m]) for m, n in votes.items() if 2 * n > len(parsed)]
        return verdicts, misconceptions, disagreed

    def _raw(self, results: list[_Sample]) -> str:
        if len(results) == 1:
            text = "\n\n--- retry ---\n\n".join(results[0].raw)
        else:
            text = "\n\n".join(f"--- sample {i + 1} ---\n" + "\n\n--- retry ---\n\n".join(r.raw) for i, r in enumerate(results))
        return self._scrub(text)

    # ------------------------------------------------------------------ connection check

    def check_connection(self) -> str:
        """One tiny request; a human summary, or JudgeUnavailable with the reason."""
        messages = [{"role": "user", "content": "Reply with OK."}]
        with Timer() as timer:
            try:
                response = self._client.chat.completions.create(model=self.model, messages=messages, max_tokens=1, temperature=0)
            except openai.APIStatusError as exc:
                raise JudgeUnavailable(self._status_reason(exc, 0)) from None
            except openai.APITimeoutError:
                raise JudgeUnavailable(f"timed out after {self.timeout_s:g} s waiting for {self._origin()}") from None
            except openai.APIConnectionError as exc:
                raise JudgeUnavailable(self._connection_reason(exc, 0)) from None
            except openai.OpenAIError as exc:
                raise JudgeUnavailable(self._scrub(f"the server's reply could not be used: {type(exc).__name__}: {exc}"[:300])) from None
        if not getattr(response, "choices", None):
            raise JudgeUnavailable(f"{self._origin()} answered, but not with a chat completion; check base_url (it usually ends in /v1)")
        return f"OK: model {self.model} at {self._origin()} answered in {timer.ms:.0f} ms"

    # ------------------------------------------------------------------ reasons

    def _delay(self, attempt: int, exc: openai.APIStatusError | None) -> float:
        if exc is not None:
            wait = _retry_after(exc)
            if wait is not None and wait <= MAX_RETRY_AFTER_S:
                return wait
        return min(MAX_BACKOFF_S, self.backoff_s * 2**attempt) * random.uniform(1.0, 1.25)

    def _origin(self) -> str:
        """scheme://host:port of base_url, without any user:password@ or query."""
        parts = urlsplit(self.base_url)
        if not (parts.scheme and parts.hostname):
            return "the server"
        host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
        return f"{parts.scheme}://{host}{f':{parts.port}' if parts.port else ''}"

    def _shown_url(self) -> str:
        parts = urlsplit(self.base_url)
        return self._origin() + parts.path if parts.scheme and parts.hostname else "base_url"

    def _scrub(self, text: str) -> str:
        if self._secret and len(self._secret) >= 4:
            text = text.replace(self._secret, "***")
        return text

    def _status_reason(self, exc: openai.APIStatusError, attempt: int) -> str:
        code = exc.status_code
        tries = f" after {attempt + 1} attempts" if attempt else ""
        if code == 401:
            reason = f"HTTP 401: check the API key in {self.key_hint}" + ("" if self._secret else " (none is set)")
        elif code == 403:
            reason = f"HTTP 403: the API key in {self.key_hint} may not use model '{self.model}'"
        elif code == 404:
            reason = f"HTTP 404 from {self._origin()}: check base_url ({self._shown_url()}; most servers want it to end in /v1) and the model name '{self.model}'"
        elif code == 429:
            reason = f"HTTP 429: rate limited by {self._origin()}{tries}; try again later"
        elif code >= 500:
            reason = f"HTTP {code}: server error at {self._origin()}{tries}: {_server_message(exc)}"
        else:
            reason = f"HTTP {code}: the server rejected the request: {_server_message(exc)}"
        return self._scrub(reason)

    def _connection_reason(self, exc: Exception, attempt: int) -> str:
        tries = f" ({attempt + 1} attempts)" if attempt else ""
        chain = _causes(exc)
        names = " ".join(type(e).__name__ for e in chain)
        origin = self._origin()
        if any(isinstance(e, ConnectionRefusedError) for e in chain):
            reason = f"server at {origin} refused the connection{tries}: is it running?"
        elif any(isinstance(e, socket.gaierror) for e in chain):
            reason = f"cannot resolve the host of {origin}{tries}: check base_url and the network"
        elif "RemoteProtocolError" in names or any(isinstance(e, (ConnectionResetError, ConnectionAbortedError)) for e in chain):
            reason = f"server at {origin} closed the connection without an answer{tries}"
        else:
            detail = next((str(e) for e in reversed(chain) if str(e)), type(exc).__name__)
            reason = f"cannot reach the server at {origin}{tries}: {detail[:200]}"
        return self._scrub(reason)


def _causes(exc: BaseException) -> list[BaseException]:
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in chain and len(chain) < 10:
        chain.append(current)
        current = current.__cause__ or current.__context__
    return chain


def _retryable(code: int) -> bool:
    return code == 429 or code >= 500


def _server_message(exc: openai.APIStatusError) -> str:
    body = exc.body
    message = ""
    if isinstance(body, dict):
        error = body.get("error", body)
        if isinstance(error, dict):
            message = str(error.get("message") or error.get("detail") or "")
        elif error is not None:
            message = str(error)
    if not message:
        try:
            message = exc.response.text
        except Exception:  # noqa: BLE001 - a body we cannot read is just not quoted
            message = ""
    message = " ".join(message.split())
    return message[:200] or "(no message)"


def _rejects_response_format(exc: openai.APIStatusError) -> bool:
    """Did the server refuse the response_format (not the request as a whole)?"""
    if exc.status_code not in (400, 422, 500):
        return False
    try:
        text = (exc.response.text or "") + " " + str(exc.message)
    except Exception:  # noqa: BLE001
        text = str(exc.message)
    text = text.lower()
    return "response_format" in text or "json_schema" in text or "response format" in text


def _retry_after(exc: openai.APIStatusError) -> float | None:
    try:
        headers = exc.response.headers
    except Exception:  # noqa: BLE001
        return None
    value = headers.get("retry-after-ms")
    if value:
        try:
            return max(0.0, float(value) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


__all__ = ["MODES", "OpenAIJudge"]

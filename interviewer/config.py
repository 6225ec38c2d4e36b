"""User settings: where things live and which judge grades.

Settings are a YAML file in the user config folder (``$INTERVIEWER_CONFIG_DIR`` or
platformdirs). Secrets are never written there: the API key is read from an
environment variable (named by ``api_key_env``) or from a key file that only the
user can read (``api_key_file``, mode 0600).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

APP = "interviewer"
JudgeBackend = Literal["offline", "openai", "local"]


def _user_dir(env: str, kind: str) -> Path:
    """``$env`` when set, else the platform's user folder of this kind (config, data, cache)."""
    configured = os.environ.get(env)
    if configured:
        return Path(configured)
    import platformdirs  # noqa: PLC0415

    return Path(getattr(platformdirs, f"user_{kind}_dir")(APP, appauthor=False))


def config_dir() -> Path:
    return _user_dir("INTERVIEWER_CONFIG_DIR", "config")


def data_dir() -> Path:
    return _user_dir("INTERVIEWER_DATA_DIR", "data")


def cache_dir() -> Path:
    """Derived files that can be rebuilt: the bank's JSON cache, converted model weights."""
    return _user_dir("INTERVIEWER_CACHE_DIR", "cache")


def config_path() -> Path:
    return config_dir() / "config.yaml"


def default_db_url() -> str:
    return f"sqlite:///{data_dir() / 'interviewer.db'}"


class SettingsError(ValueError):
    """A settings file or key file that cannot be used, with the fix in the message."""


class JudgeSettings(BaseModel):
    """Which judge grades, and how to reach it. Holds no secret, only where to find one."""

    model_config = ConfigDict(extra="forbid")

    backend: JudgeBackend = "offline"
    # OpenAI-compatible endpoint (OpenAI, DeepSeek, Doubao Ark, Qwen/DashScope, vLLM, Ollama, llama.cpp).
    base_url: str | None = None
    model: str | None = None
    api_key_env: str = "INTERVIEWER_API_KEY"
    api_key_file: Path | None = None
    timeout_s: float = Field(default=60.0, gt=0)
    max_retries: int = Field(default=3, ge=0, le=10)
    samples: int = Field(default=1, ge=1, le=9)  # >1: self-consistency, disagreement -> needs_review
    # In-process transformers model: a local folder, or a GGUF file.
    local_model_path: str | None = None
    local_gguf_file: str | None = None
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    feedback: bool = True  # generate feedback text (one extra generation for model judges)
    # When the configured judge fails, grade with the offline matcher too (flagged "fallback").
    fallback_offline: bool = True

    def api_key(self) -> str | None:
        """The API key from the environment or the key file; never stored anywhere by us."""
        value = os.environ.get(self.api_key_env) if self.api_key_env else None
        if value:
            return value.strip()
        if self.api_key_file is None:
            return None
        path = Path(self.api_key_file).expanduser()
        try:
            mode = path.stat().st_mode
        except OSError as exc:
            raise SettingsError(f"API key file {path} cannot be read ({exc.strerror}); create it or remove api_key_file") from exc
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise SettingsError(f"API key file {path} is readable by others; run: chmod 600 {path}")
        return path.read_text(encoding="utf-8").strip() or None


class Settings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    judge: JudgeSettings = Field(default_factory=JudgeSettings)
    db_url: str | None = None  # any SQLAlchemy URL; default: interviewer.db in the user data folder
    default_profile: str = "general"

    def database_url(self) -> str:
        return self.db_url or default_db_url()


def load_settings(path: Path | None = None) -> Settings:
    path = path or config_path()
    if not path.exists():
        return Settings()
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise SettingsError(f"{path}: not valid YAML ({exc}); fix it or delete the file to use defaults") from exc
    if not isinstance(raw, dict):
        raise SettingsError(f"{path}: expected a mapping of settings; delete the file to use defaults")
    try:
        return Settings.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
        raise SettingsError(f"{path}: {problems}") from exc


def save_settings(settings: Settings, path: Path | None = None) -> Path:
    path = path or config_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    data = settings.model_dump(mode="json", exclude_defaults=False)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    os.replace(tmp, path)
    return path

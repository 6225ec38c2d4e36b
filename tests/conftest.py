from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _isolated_dirs(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests never write into the user's cache, config or data folders."""
    base = tmp_path_factory.getbasetemp()
    monkeypatch.setenv("INTERVIEWER_CACHE_DIR", str(base / "cache"))
    monkeypatch.setenv("INTERVIEWER_CONFIG_DIR", str(base / "config"))
    monkeypatch.setenv("INTERVIEWER_DATA_DIR", str(base / "data"))

"""The app's screens. Each module is imported when its screen first opens (startup stays light)."""

from __future__ import annotations

from importlib import import_module

SCREENS = {
    "drill": ("tui.screens.drill", "DrillScreen"),
    "review": ("tui.screens.review", "ReviewScreen"),
    "stats": ("tui.screens.stats", "StatsScreen"),
    "settings": ("tui.screens.settings", "SettingsScreen"),
}


def screen_class(name: str) -> type:
    module, cls = SCREENS[name]
    return getattr(import_module(module), cls)

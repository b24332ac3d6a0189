"""The declared reports: ``reports/reports.yaml`` read, validated and typed.

Each entry under ``reports:`` names a template, the source whose marts it reads, its
parameters (range, comparison, funnel), its recipients and its schedule::

    reports:
      weekly:
        title: Weekly overview
        template: weekly
        source: vemetric
        range: last_week
        comparison: previous_period
        recipients: ["Jürgen Müller <product@example.com>"]
        schedule: {cron: "0 7 * * 1", timezone: Europe/Berlin}

``load_reports()`` returns them by name; a mistake anywhere raises :class:`ConfigError`
naming the file, the report and the field. The file is ``reports/reports.yaml`` unless
``$FUNNELHOUSE_REPORTS_FILE`` names another: the report assets and the EngageTrack sync (which
asks the API for the periods its funnel reports read) then read the same declarations.
"""

from __future__ import annotations

import os
from email.headerregistry import Address
from email.utils import getaddresses
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from dagster._utils.schedules import is_valid_cron_string
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from pipelines.reports.periods import RANGES

__all__ = ["CONFIG_PATH", "REPORTS_DIR", "REPORTS_FILE_ENV", "ConfigError", "ReportConfig",
           "Schedule", "config_path", "load_reports", "parse_address"]

REPORTS_DIR = Path(__file__).resolve().parents[2] / "reports"
CONFIG_PATH = REPORTS_DIR / "reports.yaml"
REPORTS_FILE_ENV = "FUNNELHOUSE_REPORTS_FILE"


class ConfigError(ValueError):
    """The reports file is missing, is not YAML, or declares a report wrongly."""


def parse_address(text: str) -> Address:
    """``"Name <user@host>"`` or ``"user@host"`` as an :class:`Address`; ValueError if not one."""
    parsed = getaddresses([text])
    if len(parsed) != 1 or not parsed[0][1] or "@" not in parsed[0][1]:
        raise ValueError(f"not an email address: {text!r}")
    name, addr = parsed[0]
    local, _, domain = addr.rpartition("@")
    if not local or not domain or " " in addr:
        raise ValueError(f"not an email address: {text!r}")
    return Address(display_name=name, username=local, domain=domain)


class Schedule(BaseModel):
    """When the report goes out: a cron expression read in an IANA timezone."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    cron: str
    timezone: str = "UTC"

    @field_validator("cron")
    @classmethod
    def _cron(cls, value: str) -> str:
        if not is_valid_cron_string(value):
            raise ValueError(f"not a cron expression: {value!r}")
        return value

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown timezone {value!r}") from exc
        return value

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


class ReportConfig(BaseModel):
    """One declared report (``name`` is its key in the file)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    title: str = Field(min_length=1)
    template: Literal["weekly", "funnel"]
    source: Literal["vemetric", "engagetrack"]
    range: str
    comparison: Literal["previous_period", "none"] = "previous_period"
    funnel: str | None = Field(default=None, description="the funnel's name or id (funnel reports)")
    top: int = Field(default=10, ge=1, le=50, description="rows in each top-N table")
    recipients: tuple[str, ...] = ()
    schedule: Schedule

    @field_validator("range")
    @classmethod
    def _range(cls, value: str) -> str:
        if value not in RANGES:
            raise ValueError(f"unknown range {value!r}: expected one of {', '.join(RANGES)}")
        return value

    @field_validator("recipients")
    @classmethod
    def _recipients(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for text in value:
            parse_address(text)
        return value

    @model_validator(mode="after")
    def _funnel_named(self) -> ReportConfig:
        if self.template == "funnel" and not self.funnel:
            raise ValueError("a funnel report needs 'funnel' (the funnel's name or id)")
        if self.template != "funnel" and self.funnel:
            raise ValueError(f"'funnel' only applies to funnel reports, not {self.template!r}")
        return self

    @property
    def addresses(self) -> list[Address]:
        return [parse_address(text) for text in self.recipients]


def config_path() -> Path:
    """``$FUNNELHOUSE_REPORTS_FILE`` if set, else ``reports/reports.yaml`` (read at call)."""
    return Path(os.environ.get(REPORTS_FILE_ENV, "").strip() or CONFIG_PATH)


def load_reports(path: str | Path | None = None) -> dict[str, ReportConfig]:
    """Every report declared in ``path`` (default :func:`config_path`), by name, in file order."""
    path = Path(path) if path is not None else config_path()
    entries = _read_entries(path)
    reports = {}
    for name, entry in entries.items():
        if not isinstance(entry, dict):
            raise ConfigError(f"{path}: report {name!r}: expected a mapping of settings")
        try:
            reports[name] = ReportConfig(name=name, **entry)
        except ValidationError as exc:
            raise ConfigError(f"{path}: report {name!r}: {_describe(exc)}") from None
        except TypeError as exc:  # a non-string key in the entry
            raise ConfigError(f"{path}: report {name!r}: {exc}") from None
    return reports


def _read_entries(path: Path) -> dict:
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read the reports file {path}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path} is not valid YAML: {exc}") from None
    if not isinstance(document, dict) or not isinstance(document.get("reports"), dict):
        raise ConfigError(f"{path}: expected a top-level mapping 'reports:' of report names")
    return document["reports"]


def _describe(exc: ValidationError) -> str:
    """Pydantic's errors as ``field: message`` pairs, without its documentation links."""
    parts = []
    for error in exc.errors(include_url=False):
        where = ".".join(str(p) for p in error["loc"])
        message = error["msg"].removeprefix("Value error, ")
        parts.append(f"{where}: {message}" if where else message)
    return "; ".join(parts)

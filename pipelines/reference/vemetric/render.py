"""JSON shapes of the Postgres-side objects: the project (§7.1) and funnels (§7.4)."""

from __future__ import annotations

from typing import Any

from pipelines.reference.clock import format_millis
from pipelines.reference.vemetric.dataset import Project


def project_json(project: Project) -> dict[str, Any]:
    first_event = project.first_event_at
    return {
        "id": project.id,
        "name": project.name,
        "domain": project.domain,
        "token": project.token,
        "createdAt": format_millis(project.created_at),
        "firstEventAt": format_millis(first_event) if first_event is not None else None,
        "hasPublicDashboard": project.public_dashboard,
        "excludedIps": list(project.excluded_ips),
        "excludedCountries": list(project.excluded_countries),
    }


def funnel_json(funnel: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": funnel["id"],
        "name": funnel["name"],
        "icon": funnel["icon"],
        "steps": [step_json(step, index) for index, step in enumerate(funnel["steps"])],
        "createdAt": format_millis(funnel["createdAt"]),
        "updatedAt": format_millis(funnel["updatedAt"]),
    }


def step_json(step: dict[str, Any], index: int) -> dict[str, Any]:
    """A blank stored name is shown as "Step N"; absent filter parts stay absent."""
    name = step["name"] if step["name"].strip() else f"Step {index + 1}"
    return {"id": step["id"], "name": name, "filter": _filter_json(step["filter"])}


def _filter_json(condition: dict[str, Any]) -> dict[str, Any]:
    keys = ("origin", "path", "hash") if condition["type"] == "page" else ("name", "properties")
    return {"type": condition["type"], **{k: condition[k] for k in keys if k in condition}}

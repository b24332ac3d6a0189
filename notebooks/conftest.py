"""Run the notebooks (``--nbmake``) against a small warehouse built from generated data.

Before the first notebook runs, :func:`pipelines.sample.build_sample_warehouse` syncs
generated traffic through the reference server into a warehouse under pytest's temporary
directory (the same one ``tests/test_reconcile.py`` uses, so a full run builds it once), and
``$FUNNELHOUSE_WAREHOUSE`` points at it: the notebook kernels inherit the environment.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pipelines.warehouse import ENV_VAR


def _sample_dir(config: pytest.Config) -> Path:
    factory = getattr(config, "_tmp_path_factory", None)
    if factory is None:  # pytest always sets it; kept so a plugin change fails clearly
        raise RuntimeError("pytest's tmp_path_factory is unavailable; cannot build the sample")
    return factory.getbasetemp() / "sample-warehouse"


def pytest_runtest_setup(item: pytest.Item) -> None:
    if not str(item.path).endswith(".ipynb"):
        return
    from pipelines.sample import build_sample_warehouse

    path = build_sample_warehouse(_sample_dir(item.config))
    os.environ[ENV_VAR] = str(path)

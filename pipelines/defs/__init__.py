"""Dagster definitions, autoloaded by ``pipelines.definitions`` (``dg.load_from_defs_folder``)."""

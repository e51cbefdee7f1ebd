"""Reusable dbt machinery: translator, worker process, selection and event conversion.

Nothing here imports the project's assets, so any dbt-on-DuckDB project can use it.
"""

{#- Rows of the simulated year, kept across years: what the worker publishes (test_worker_publish.py). -#}
{{ config(materialized='incremental', incremental_strategy='delete+insert', unique_key='simulation_year') }}
select {{ var('simulation_year') }} as simulation_year, range as n
from range(1000)

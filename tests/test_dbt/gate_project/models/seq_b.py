import time


def model(dbt, session):
    dbt.config(materialized="table")
    time.sleep(float(dbt.config.get("sleep_s") or 0.6))
    return session.sql("select 'seq_b' as model, range as n from range(3)")

import time


def model(dbt, session):
    """One row per customer: ids and names from the raw extract."""
    time.sleep(float(dbt.config.get("source_latency_s") or 0))
    return dbt.ref("raw_customers").project(
        "id as customer_id, name as customer_name, country, cast(signed_up_on as date) as signed_up_on"
    )

import time


def model(dbt, session):
    """One row per order line: who bought how many of what, and when."""
    time.sleep(float(dbt.config.get("source_latency_s") or 0))
    return dbt.ref("raw_orders").project(
        "id as order_id, customer_id, product_id, cast(ordered_on as date) as ordered_on, quantity"
    )

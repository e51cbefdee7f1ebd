import time


def model(dbt, session):
    """One row per product, with its list price."""
    time.sleep(float(dbt.config.get("source_latency_s") or 0))
    return dbt.ref("raw_products").project(
        "id as product_id, name as product_name, category, cast(unit_price as decimal(10, 2)) as unit_price"
    )

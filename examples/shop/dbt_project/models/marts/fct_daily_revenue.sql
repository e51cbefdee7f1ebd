-- One row per day with at least one order.
select
    ordered_on,
    count(*) as n_order_lines,
    sum(amount) as revenue
from {{ ref('fct_orders') }}
group by ordered_on

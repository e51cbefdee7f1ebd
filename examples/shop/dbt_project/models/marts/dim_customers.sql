-- One row per customer, with their orders and lifetime spend.
with customers as (
    select * from {{ ref('stg_customers') }}
),

spend as (
    select customer_id, count(*) as n_orders, sum(amount) as lifetime_spend
    from {{ ref('fct_orders') }}
    group by customer_id
)

select
    customers.customer_id,
    customers.customer_name,
    customers.country,
    coalesce(spend.n_orders, 0) as n_orders,
    coalesce(spend.lifetime_spend, 0) as lifetime_spend
from customers
left join spend on customers.customer_id = spend.customer_id

-- One row per order line, priced.
with orders as (
    select * from {{ ref('stg_orders') }}
),

products as (
    select * from {{ ref('stg_products') }}
)

select
    orders.order_id,
    orders.customer_id,
    orders.product_id,
    orders.ordered_on,
    orders.quantity,
    products.category,
    orders.quantity * products.unit_price as amount
from orders
inner join products on orders.product_id = products.product_id

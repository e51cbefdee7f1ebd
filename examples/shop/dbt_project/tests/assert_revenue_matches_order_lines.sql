-- Daily revenue adds up to the priced order lines.
select 1
from (select sum(revenue) as total from {{ ref('fct_daily_revenue') }}) as daily
cross join (select sum(amount) as total from {{ ref('fct_orders') }}) as lines
where daily.total <> lines.total

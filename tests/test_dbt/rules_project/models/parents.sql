select * from (values (1), (2)) as parents(parent_id)

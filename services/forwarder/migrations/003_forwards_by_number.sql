-- The admin route finds a case's forwards by its number too (GET /admin/forwards?service_request_id=).
CREATE INDEX forwards_by_number ON {schema}.forwards (service_request_id);

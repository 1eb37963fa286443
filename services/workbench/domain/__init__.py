"""The workbench's rules as pure functions: messages EN/FR, SLA badges, queue filters and order, form bodies, map data."""

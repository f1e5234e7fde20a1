"""Transform: the dbt project wired into Dagster."""

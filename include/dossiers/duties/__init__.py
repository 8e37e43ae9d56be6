"""The duties the policy schedules, as plain functions that Airflow tasks call.

Each module here is importable without Airflow; anything Airflow-specific (hooks,
connections) is imported inside the function that needs it, so DAG files stay cheap to
parse (architecture: "no DB, network or heavy import at parse time").
"""

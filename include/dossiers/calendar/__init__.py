"""The PRC working-day calendar and what is measured in it.

``workdays`` (statutory holidays and make-up working days, 調休), ``schedules`` (when duties
run: first working day of a period, every working day) and ``clocks`` (the deadlines of
Arts. 8, 11-17 in working days: open, find, move, hand over, close). No module outside this
package writes the clock table, and no workflow reads it but through ``clocks``; the duties
and reports read it for their figures.

May import ``dossiers.core`` only; nothing here imports Airflow.
"""

"""Pure KPI core: entity states, booking days, money and the KPI formulas.

Nothing in this package imports Flask, SQLAlchemy or does I/O; the clock and the shop's time
zone are always arguments. `shared/kpi-definitions.md` is implemented here line by line.
"""

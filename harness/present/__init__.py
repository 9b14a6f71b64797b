"""Presentation: terminal tables (rich), charts (matplotlib), report.md. The top of the house below the
commands; it draws what results and analysis hold."""

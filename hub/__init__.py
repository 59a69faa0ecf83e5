"""Grievance Hub: the application core."""

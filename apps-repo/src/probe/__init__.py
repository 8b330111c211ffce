"""Probe services: a backend and a frontend that implement the platform's health contract."""

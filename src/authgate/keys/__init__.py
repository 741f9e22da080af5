"""Signing secrets and keys."""

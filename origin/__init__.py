"""Prism's origin service."""

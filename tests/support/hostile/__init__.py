"""Hostile inputs built in memory: malformed images, mutators and malformed multipart requests."""

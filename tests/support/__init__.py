"""Test support: images, fakes of the outside services, browser and environment helpers."""

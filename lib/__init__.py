"""imgmend's shared library: images, quota, engines, errors, config."""

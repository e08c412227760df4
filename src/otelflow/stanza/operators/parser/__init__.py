"""Parser operators; importing this package registers them."""

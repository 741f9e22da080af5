"""Word lists shipped with the package (weak secrets, common passwords)."""

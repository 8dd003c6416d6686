"""The role tests on a lab of their own (a package, so that its package-scoped ``lab`` stops after its last test)."""

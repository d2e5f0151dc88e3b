"""Services: classes holding the logic, built with their dependencies injected."""

"""importer: a multi-tenant data import service for cloud-migration discovery."""

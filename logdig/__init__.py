"""LogDig core: settings, event schema, queue and storage. No Flask inside."""

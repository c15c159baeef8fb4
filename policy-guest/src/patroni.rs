//! Patroni REST API access simulation (filled in by the Patroni work).

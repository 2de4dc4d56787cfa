-- Run once by the postgres image on an empty volume: the saga's ledger gets its own database
-- (Temporal's auto-setup creates its own two).
CREATE DATABASE ledger;

-- A counter every change to id_certs increments, so that processes sharing the database can
-- tell, with one cheap query, that the ID-Certs they hold in memory may be out of date.
CREATE TABLE cert_generation (
    id INTEGER PRIMARY KEY,
    generation BIGINT NOT NULL
);
INSERT INTO cert_generation (id, generation) VALUES (1, 0);
